"""Hub ids on a machine without network: `HF_HUB_OFFLINE`, a failed probe (once), the local cache."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from xling.core import hub
from xling.core.errors import InputError


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    hub._PROBES.clear()
    for var in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield
    hub._PROBES.clear()


def fake_cache(root: Path, repo_id: str) -> Path:
    """The Hugging Face cache layout, written by hand: models--ORG--NAME/{refs/main, snapshots/REV/}."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    rev = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    snap = repo / "snapshots" / rev
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    return snap


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: a connect is refused at once


def test_local_folder_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        hub.resolve_model(str(tmp_path / "missing" / ".." / "x"))


def test_offline_env_fails_fast_without_touching_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*a: object, **k: object) -> None:
        raise AssertionError("probed the network although HF_HUB_OFFLINE is set")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=r"someorg/no-such-model: not a local folder.*HF_HUB_OFFLINE=1"):
        hub.resolve_model("someorg/no-such-model", cache_dir=tmp_path)
    snap = fake_cache(tmp_path, "someorg/cached-model")
    assert hub.resolve_model("someorg/cached-model", cache_dir=tmp_path) == str(snap)


def test_unreachable_endpoint_is_probed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    calls = []
    real = socket.create_connection

    def counting(*a: object, **k: object) -> socket.socket:
        calls.append(a)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", counting)
    for _ in range(3):
        with pytest.raises(InputError, match=r"no network: cannot connect to http://127\.0\.0\.1"):
            hub.resolve_model("someorg/no-such-model", cache_dir=tmp_path)
    assert len(calls) == 1
    snap = fake_cache(tmp_path, "xlm-roberta-base")  # an id without org, as older models have
    assert hub.resolve_model("xlm-roberta-base", cache_dir=tmp_path) == str(snap)


def test_reachable_endpoint_keeps_the_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        assert hub.hub_unreachable_reason() is None
        assert hub.resolve_model("someorg/some-model", cache_dir=tmp_path) == "someorg/some-model"
