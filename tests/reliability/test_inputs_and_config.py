"""`LANG=file` inputs of the later stages, and config values checked before anything is written
(issue 17, cases 6 and 10)."""

from __future__ import annotations

import gzip
import json
import lzma
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import env, kk_lines

from corpora.corpus import iter_docs
from xling.cli import main
from xling.core.io import read_json

BIN_LS = Path("/bin/ls")


def _stats(out: Path) -> dict:
    return read_json(out / "stats.json")


@pytest.mark.parametrize("stage", ["dedup", "mix"])
@pytest.mark.parametrize("kind", ["parquet", "binary", "warc"])
def test_non_text_inputs_are_refused_before_anything_is_written(stage: str, kind: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        f = tmp_path / "data.parquet"
        pq.write_table(pa.table({"text": ["a b c", "d e f"]}), f)
    elif kind == "warc":  # read as lines, its headers would become documents
        f = tmp_path / "crawl.wet.gz"
        f.write_bytes(gzip.compress(b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 4\r\n\r\ntext\r\n\r\n"))
    else:
        f = tmp_path / "ls.txt"  # a binary named .txt
        f.write_bytes(BIN_LS.read_bytes())
    rc = main(["corpora", stage, f"kaz_Cyrl={f}", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and {"parquet": "Parquet", "warc": "web archive", "binary": "binary file"}[kind] in err
    assert not (tmp_path / "out").exists()


def test_invalid_utf8_and_long_lines_are_counted_not_replaced(tmp_path: Path) -> None:
    f = tmp_path / "kk.txt"
    good = kk_lines(40).encode()
    f.write_bytes(good + b"\xff\xfe broken \xc3\x28 line\n" + b"x" * 5000 + b"\n" + "соңғы жол\n".encode())
    counts: Counter = Counter()
    docs = list(iter_docs([f], "kaz_Cyrl", counts, max_line_bytes=1000))
    assert len(docs) == 41 and all("\ufffd" not in d["text"] for d in docs)
    assert counts == Counter(invalid_utf8=1, line_too_long=1)


@pytest.mark.parametrize("comp", ["gz", "xz"])
def test_truncated_compressed_input_is_counted_in_dedup_stats(comp: str, tmp_path: Path) -> None:
    data = kk_lines(3000).encode()
    blob = gzip.compress(data) if comp == "gz" else lzma.compress(data)
    f = tmp_path / f"kk.txt.{comp}"
    f.write_bytes(blob[: int(len(blob) * 0.6)])
    rc = main(["corpora", "dedup", f"kaz_Cyrl={f}", "--out", str(tmp_path / "out")])
    assert rc == 0
    v = _stats(tmp_path / "out")["languages"]["kaz_Cyrl"]
    assert 0 < v["docs_in"] < 3000
    assert v["removed"].get("broken_compression") == 1


def test_corrupt_gzip_member_inside_a_shard_does_not_lose_the_members_after_it(tmp_path: Path) -> None:
    members = [gzip.compress(kk_lines(10, seed=i).encode(), mtime=0) for i in range(3)]
    bad = bytearray(members[1])
    for k in range(12, len(bad) - 12):
        bad[k] ^= 0xFF
    f = tmp_path / "kk.txt.gz"
    f.write_bytes(members[0] + bytes(bad) + members[2])
    counts: Counter = Counter()
    docs = list(iter_docs([f], "kaz_Cyrl", counts))
    assert [d["text"] for d in docs] == [ln.strip() for i in (0, 2) for ln in kk_lines(10, seed=i).splitlines()]
    assert counts["broken_compression"] == 1


def test_a_50mb_line_does_not_take_gigabytes_in_dedup(tmp_path: Path) -> None:
    """8.2 GB before; the line is now skipped (counted) while being read in 1 MiB pieces."""
    f = tmp_path / "kk.txt"
    with open(f, "wb") as out:
        out.write(kk_lines(20).encode())
        out.write(("ә" * (25 << 20)).encode() + b"\n")  # 50 MB, one line
        out.write(kk_lines(20, seed=1).encode())
    # VmHWM, not ru_maxrss: the latter survives exec, so a child forked from a big pytest process
    # would report the parent's size.
    code = ("import json, re, sys; from xling.cli import main; rc = main(sys.argv[1:]); "
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
            "print(json.dumps([rc, hwm]))")
    res = subprocess.run([sys.executable, "-c", code, "corpora", "dedup", f"kaz_Cyrl={f}", "--out", "out"],
                         cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    rc, peak_kb = json.loads(res.stdout.strip().splitlines()[-1])
    assert rc == 0, res.stderr
    print(f"peak RSS {peak_kb / 1024:.0f} MB")
    assert peak_kb < 600 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
    v = _stats(tmp_path / "out")["languages"]["kaz_Cyrl"]
    assert v["docs_in"] == 40 and v["removed"]["line_too_long"] == 1


# --- config checked before anything is written --------------------------------------------------

@pytest.mark.parametrize("args,key", [
    (["--total", "-5"], "total"),
    (["--max-repeats", "-1"], "max_repeats"),
    (["--alpha-schedule", "0:-0.5,1:0.3"], "alpha"),
    (["--alpha-schedule", "0:0.7,1.5:0.3"], "phase starts"),
])
def test_mix_refuses_bad_values_before_writing(args: list[str], key: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "kk.txt"
    f.write_text(kk_lines(30), encoding="utf-8")
    rc = main(["corpora", "mix", f"kaz_Cyrl={f}", "--out", str(tmp_path / "m"), *args])
    assert rc == 2 and key in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    # the corrected command then runs without --overwrite
    assert main(["corpora", "mix", f"kaz_Cyrl={f}", "--out", str(tmp_path / "m")]) == 0


@pytest.mark.parametrize("override,key", [("train.lr=-1", "lr"), ("train.lr=0", "lr"),
                                          ("data.alpha_schedule=[[0.5, 0.3]]", "alpha_schedule"),
                                          ("data.alpha_schedule=[[0, 1.7]]", "alpha_schedule"),
                                          ("train.betas=[0.9, 1.5]", "betas")])
def test_pretrain_config_errors_name_the_key_when_loaded(override: str, key: str) -> None:
    from xling.core.config import ConfigError
    from xling.pretrain import load_pretrain_config

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "pretrain-debug.yaml"
    with pytest.raises(ConfigError, match=key):
        load_pretrain_config(recipe, [override])


@pytest.mark.parametrize("override", ["min_lang_score=2", "min_lang_score=-0.1", "lang_score_thresholds={kaz_Cyrl: 1.5}",
                                      "max_line_bytes=0", "limit=0"])
def test_clean_config_ranges(override: str) -> None:
    from corpora.clean import CleanConfig
    from xling.core.config import ConfigError, load_config

    with pytest.raises(ConfigError):
        load_config(CleanConfig, None, [override])


def test_clean_reader_counts_binary_named_txt(tmp_path: Path) -> None:
    from corpora.readers import MultiFormatReader

    f = tmp_path / "ls.txt"
    f.write_bytes(BIN_LS.read_bytes())
    reader = MultiFormatReader([str(f)])
    assert list(reader.run()) == []
    assert reader.stats.stats["not_text"].total == 1
