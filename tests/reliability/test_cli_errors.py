"""The CLI's one error boundary (issue 17, case 9): user errors are one line and exit 2, bugs
print their traceback and ask for a report, a closed pipe exits quietly."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import env, kk_lines, needs_setpriv, xling

from xling.cli import main
from xling.core.errors import ConfigError, InputError, XlingError


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().err


class _Result:
    lang, score = "kaz_Cyrl", 1.0


class StubLid:
    """Stands in for a LID model (seconds to load): these tests are about errors, not labels."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def identify(self, text: str) -> _Result:
        return _Result()


@pytest.fixture
def stub_lid(monkeypatch: pytest.MonkeyPatch) -> None:
    import corpora.lid

    monkeypatch.setattr(corpora.lid, "LanguageIdentifier", StubLid)


STUB_MAIN = ("import sys, corpora.lid; from test_cli_errors import StubLid; "
             "corpora.lid.LanguageIdentifier = StubLid; from xling.cli import main; sys.exit(main(sys.argv[1:]))")


def test_error_family_keeps_valueerror_compatibility() -> None:
    assert issubclass(InputError, XlingError) and issubclass(InputError, ValueError)
    assert issubclass(ConfigError, XlingError)
    from xling.core.config import ConfigError as Reexported

    assert Reexported is ConfigError


def test_identify_on_a_folder_and_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc, err = run(["corpora", "identify", "--lid", "langid", str(tmp_path)], capsys)
    assert rc == 2 and "is a folder" in err and "Traceback" not in err and err.count("\n") == 1
    rc, err = run(["corpora", "identify", "--lid", "langid", str(tmp_path / "nope.txt")], capsys)
    assert rc == 2 and "nope.txt: No such file or directory" in err and "Traceback" not in err


def test_identify_on_a_truncated_archive(tmp_path: Path, capsys: pytest.CaptureFixture, stub_lid: None) -> None:
    blob = gzip.compress(kk_lines(3000).encode())
    p = tmp_path / "cut.txt.gz"
    p.write_bytes(blob[: len(blob) // 2])
    rc, err = run(["corpora", "identify", "--lid", "langid", str(p)], capsys)
    assert rc == 2 and "truncated or corrupt" in err and "Traceback" not in err


def test_plain_file_where_a_corpus_folder_is_expected(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "kk.txt"
    f.write_text(kk_lines(50), encoding="utf-8")
    rc, err = run(["vocab", "train", str(f), "--out", str(tmp_path / "v")], capsys)
    assert rc == 2 and "is a file, not a corpus folder" in err and f"kaz_Cyrl={f}" in err
    assert "does not exist" not in err


def test_a_bug_prints_the_traceback_and_asks_for_a_report(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    import corpora.lid

    def broken(args):  # an internal KeyError must not pass for a user error
        return {}["missing"]

    monkeypatch.setattr(corpora.lid, "_cli", broken)
    rc, err = run(["corpora", "identify", "-"], capsys)
    assert rc == 1 and "Traceback" in err and "KeyError" in err and "please report it" in err


def test_broken_pipe_exits_quietly(tmp_path: Path) -> None:
    f = tmp_path / "many.txt"
    f.write_text(kk_lines(20000), encoding="utf-8")
    e = env()
    e["PYTHONPATH"] = str(Path(__file__).parent) + ":" + e["PYTHONPATH"]
    proc = subprocess.Popen([sys.executable, "-c", STUB_MAIN, "corpora", "identify", str(f)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first == b"kaz_Cyrl\t1.0000\n"
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    assert proc.returncode == 141


@needs_setpriv
@pytest.mark.parametrize("cmd", [
    ["corpora", "mix", "kaz_Cyrl=kk.txt", "--out", "ro/out"],
    ["corpora", "dedup", "kaz_Cyrl=kk.txt", "--out", "ro/out"],
    ["vocab", "train", "kaz_Cyrl=kk.txt", "--out", "ro/out", "--vocab-size", "60"],
    ["corpora", "identify", "--lid", "langid", "secret.txt"],
    ["corpora", "dedup", "kaz_Cyrl=secret.txt", "--out", "d"],
    ["corpora", "mix", "kaz_Cyrl=secret.txt", "--out", "m"],
], ids=["mix-unwritable", "dedup-unwritable", "vocab-unwritable", "identify-unreadable", "dedup-unreadable",
        "mix-unreadable"])
def test_permission_errors_are_one_line(cmd: list[str], tmp_path: Path) -> None:
    (tmp_path / "kk.txt").write_text(kk_lines(100), encoding="utf-8")
    (tmp_path / "secret.txt").write_text(kk_lines(100), encoding="utf-8")
    (tmp_path / "secret.txt").chmod(0)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        res = xling(*cmd, cwd=tmp_path, without_dac=True)
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "Permission denied" in res.stderr
    assert res.stderr.strip().count("\n") == 0 or "Permission denied" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "ro" / "out").exists()


@needs_setpriv
def test_unwritable_pretrain_and_clean_output(tmp_path: Path) -> None:
    (tmp_path / "kk.txt").write_text(kk_lines(100), encoding="utf-8")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "pretrain-debug.yaml"
    try:
        for cmd in (["corpora", "clean", "kaz_Cyrl=kk.txt", "--out", "ro/c", "--lid", "langid"],
                    ["pretrain", str(recipe), "--out", "ro/p"]):
            res = xling(*cmd, cwd=tmp_path, without_dac=True, timeout=300)
            assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
            assert "cannot write the output folder" in res.stderr
    finally:
        (tmp_path / "ro").chmod(0o755)
