"""Hostile archives and oversized downloads for `xling data fetch` (issue 17, cases 1 and 3).

The archives are built here: a chain of symlinks that each pass a textual check (`s → .`,
`x → s/..`, ... `w → z/..`) but together climb out of the destination, then a member written
through the chain, and a symlink to a file outside followed by a regular member of the same name.
The download tests use a loopback HTTP server bound to 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from eval_xtreme import fetch as F

CHAIN = [("s", "."), ("x", "s/.."), ("y", "x/.."), ("z", "y/.."), ("w", "z/..")]


def _tar(path: Path, members: list[tuple[str, str | None, bytes]]) -> Path:
    """members: (name, symlink target or None, data)."""
    with tarfile.open(path, "w") as tf:
        for name, link, data in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, members: list[tuple[str, str | None, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, link, data in members:
            info = zipfile.ZipInfo(name)
            if link is not None:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, link)
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, data)
    return path


CLIMB = [*((n, t, b"") for n, t in CHAIN), ("w/PWNED.txt", None, b"owned\n")]
OVERWRITE = [*((n, t, b"") for n, t in CHAIN), ("q", "w/victim.txt", b""), ("q", None, b"overwritten\n")]


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    """dest two folders below tmp_path/top, with a victim file where the chain lands."""
    top = tmp_path / "top"
    dest = top / "a" / "b"
    dest.mkdir(parents=True)
    return top, dest


def _files_outside(top: Path, dest: Path) -> set[str]:
    return {str(p.relative_to(top)) for p in top.rglob("*") if dest not in (p, *p.parents)}


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the overwrite case repeats `q` on purpose
@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize("members", [CLIMB, OVERWRITE], ids=["climb", "overwrite"])
@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "write-time-only"])
def test_symlink_chain_is_refused_and_nothing_lands_outside(kind: str, members: list, precheck: bool,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top, dest = _layout(tmp_path)
    victim = tmp_path / "victim.txt"  # where `w` points: dest/../.. is top, top/.. is tmp_path
    victim.write_text("original\n")
    if not precheck:  # the write-time check alone must hold too (defence in depth)
        monkeypatch.setattr(F, "_refuse_paths_through_links", lambda *a: None)
    archive = (_tar if kind == "tar" else _zip)(tmp_path / f"evil.{kind}", members)
    before = _files_outside(top, dest)
    with pytest.raises(ValueError, match="refusing to extract"):
        F.safe_extract(archive, dest)
    assert victim.read_text() == "original\n"
    assert not list(tmp_path.rglob("PWNED.txt"))
    assert _files_outside(top, dest) == before
    assert list(dest.iterdir()) == []  # the temporary folder is gone, nothing was merged


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_harmless_links_inside_still_extract(kind: str, tmp_path: Path) -> None:
    members = [("data/a.txt", None, b"a\n"), ("data/link.txt", "a.txt", b""), ("top.txt", "data/a.txt", b"")]
    archive = (_tar if kind == "tar" else _zip)(tmp_path / f"ok.{kind}", members)
    F.safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "data" / "link.txt").read_text() == "a\n"
    assert (tmp_path / "out" / "top.txt").read_text() == "a\n"


def test_leftover_of_a_killed_extraction_is_removed(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "ok.tar", [("a.txt", None, b"a\n")])
    stale = tmp_path / "out" / f".tmp-extract-{archive.name}-dead"
    (stale / "x").mkdir(parents=True)
    F.safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]


# --- size cap ---------------------------------------------------------------------------------

class _Server:
    """Serves `body` for any path, optionally lying about Content-Length (or sending none)."""

    def __init__(self, body: bytes, length: int | None) -> None:
        self.body, self.length, self.sent = body, length, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                if server.length is not None:
                    self.send_header("Content-Length", str(server.length))
                self.end_headers()
                try:
                    for i in range(0, len(server.body), 1 << 16):
                        self.wfile.write(server.body[i:i + (1 << 16)])
                        server.sent += len(server.body[i:i + (1 << 16)])
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def serve() -> Iterator:
    servers: list[_Server] = []

    def start(body: bytes, length: int | None) -> _Server:
        servers.append(_Server(body, length))
        return servers[-1]

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


def _source(size: int, data: bytes = b"") -> F.Source:
    return F.Source(name="toy", tasks=("toy",), url="http://127.0.0.1:1/unused", path="toy/file.txt",
                    size=size, sha256=hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "no-length"])
def test_download_past_the_manifest_size_is_stopped(serve, announce: bool, tmp_path: Path) -> None:
    real = b"x" * 1000
    hostile = serve(b"y" * 8_000_000, 8_000_000 if announce else None)
    rep = F.fetch(dest=tmp_path / "d", mirror=hostile.url, sources=[_source(len(real), real)], retries=1)
    assert not rep.ok and "size cap" in rep.failed[0][1]
    assert not list((tmp_path / "d").rglob("*.part"))  # nothing kept of the oversized body
    assert hostile.sent < 8_000_000  # stopped early, not after downloading it all


def test_max_bytes_flag_overrides_the_cap(serve, tmp_path: Path) -> None:
    data = b"z" * 5000
    s = serve(data, len(data))
    rep = F.fetch(dest=tmp_path / "d", mirror=s.url, sources=[_source(len(data), data)], retries=1,
                  max_bytes=4000)
    assert not rep.ok and "4,000" in rep.failed[0][1]
    rep = F.fetch(dest=tmp_path / "d", mirror=s.url, sources=[_source(len(data), data)], retries=1)
    assert rep.ok and (tmp_path / "d" / "toy" / "file.txt").read_bytes() == data


def test_folder_mirror_copy_past_the_cap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m" / "toy").mkdir(parents=True)
    (tmp_path / "m" / "toy" / "file.txt").write_bytes(b"q" * 10_000)
    rep = F.fetch(dest=tmp_path / "d", mirror=str(tmp_path / "m"), sources=[_source(100, b"q" * 100)])
    assert not rep.ok and "size cap" in rep.failed[0][1]
