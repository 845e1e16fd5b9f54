"""Fuzzing every reader with random bytes, truncations and mutations of the real sample files
(issue 17, case 6): no traceback, and nothing dropped without a count.

A seeded loop (no hypothesis dependency) bounded in time; `XLING_FUZZ_SECONDS` makes it longer.
Checked for each input:
- `MultiFormatReader` (clean's reader, every format by sniffing) and `corpora.corpus.iter_docs`
  (the later stages' reader) finish without an exception; `sniff_text_input` raises only `InputError`;
- a non-empty input gives documents or a counted reason (nothing vanishes silently);
- for uncompressed text read as lines, exactly: every non-blank line is a document or counted.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from loguru import logger

from corpora.corpus import iter_docs, sniff_text_input
from corpora.readers import MultiFormatReader
from xling.core.errors import InputError

SAMPLES = ["cc_samples/commoncrawl_whirlwind/whirlwind.warc.gz", "cc_samples/commoncrawl_whirlwind/whirlwind.warc.wet",
           "cc_samples/commoncrawl_whirlwind/whirlwind.warc.wet.gz", "cc_samples/cc_net_test/sample.warc.txt",
           "cc_samples/warcio_test/example.warc", "cc_samples/warcio_test/example.warc.gz",
           "cc_samples/warcio_test/example-iana.org-chunked.warc", "cc_samples/warcio_test/example.arc.gz",
           "cc_samples/warcio_test/example-resource.warc.gz"]
SECONDS = float(os.environ.get("XLING_FUZZ_SECONDS", "12"))


def _seeds(data_root: Path, tmp_path: Path) -> list[tuple[str, bytes]]:
    out = [(Path(rel).name, (data_root / rel).read_bytes()) for rel in SAMPLES if (data_root / rel).is_file()]
    text = "".join(f"Бұл {i}-сөйлем, қазақ тілінде жазылған.\n" for i in range(200)).encode()
    out += [("kk.txt", text), ("kk.txt.gz", gzip.compress(text, mtime=0)),
            ("docs.jsonl", b"".join(b'{"text": "doc %d \\u049b"}\n' % i for i in range(100)))]
    return out


def _mutate(rng: random.Random, data: bytes) -> bytes:
    kind = rng.choice(["random", "truncate", "flip", "splice", "zero"])
    if kind == "random" or not data:
        return rng.randbytes(rng.randint(0, 4096))
    if kind == "truncate":
        return data[: rng.randint(0, len(data))]
    buf = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 20)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == "zero":
        a = rng.randrange(len(buf))
        buf[a:a + rng.randint(1, 512)] = b"\x00" * len(buf[a:a + rng.randint(1, 512)])
    else:
        a, b = sorted(rng.randrange(len(buf)) for _ in range(2))
        buf[a:a] = buf[b:b + rng.randint(1, 2048)]
    return bytes(buf)


def _counted(stats: dict[str, int]) -> int:
    return sum(v for k, v in stats.items() if k not in ("input_files", "documents") and not k.startswith("doc_len"))


def _read(path: Path, fmt: str = "auto") -> tuple[list, dict[str, int]]:
    reader = MultiFormatReader([str(path)], fmt, max_line_bytes=1 << 16)
    docs = list(reader.run())
    return docs, {k: int(v.total) for k, v in reader.stats.stats.items()}


def test_fuzz_every_reader(data_root: Path, tmp_path: Path) -> None:
    logger.disable("corpora")
    try:
        _fuzz(data_root, tmp_path)
    finally:
        logger.enable("corpora")


def _fuzz(data_root: Path, tmp_path: Path) -> None:
    rng = random.Random(17)
    seeds = _seeds(data_root, tmp_path)
    assert len(seeds) >= 10
    deadline = time.monotonic() + SECONDS
    n = 0
    while time.monotonic() < deadline or n < len(seeds) * 3:
        name, data = seeds[n % len(seeds)]
        blob = _mutate(rng, data)
        path = tmp_path / f"{n}-{name}"
        path.write_bytes(blob)
        where = f"case {n} ({name}, {len(blob)} bytes)"
        docs, stats = _read(path)
        if blob.strip():
            assert docs or _counted(stats), f"{where}: nothing kept and nothing counted: {stats}"
        with contextlib.suppress(InputError):  # a refusal is a message, anything else is a bug
            sniff_text_input(path)
        counts: Counter = Counter()
        got = list(iter_docs([path], "kaz_Cyrl", counts, max_line_bytes=1 << 16))
        if not name.endswith((".gz", ".xz")):
            _check_lines_exactly(path, blob, where)
        if blob.strip() and not name.endswith(".gz"):
            assert got or counts or not any(ln.strip() for ln in blob.split(b"\n")), where
        path.unlink()
        n += 1
    print(f"fuzzed {n} inputs in {SECONDS:.0f} s")


def _check_lines_exactly(path: Path, blob: bytes, where: str) -> None:
    """Plain bytes read as lines: kept + counted == non-blank lines (unless refused whole as not text)."""
    if blob[:2] == b"\x1f\x8b" or blob[:6] == b"\xfd7zXZ\x00" or blob[:3] == b"BZh" or blob[:4] == b"PAR1":
        return  # compressed (by magic) or Parquet: not plain lines
    docs, stats = _read(path, "lines")
    if stats.get("not_text"):
        return
    expected = 0
    for raw in blob.split(b"\n"):
        try:
            expected += bool(raw.decode("utf-8").strip())
        except UnicodeDecodeError:
            expected += 1
    counted = sum(stats.get(k, 0) for k in ("invalid_utf8", "line_too_long", "doc_too_long"))
    assert len(docs) + counted == expected, f"{where}: {len(docs)} kept + {counted} counted != {expected} lines"


def test_deeply_nested_json_is_counted(tmp_path: Path) -> None:
    """Found by thinking like the fuzzer: 50,000 `[` overflow json's recursion, not just its grammar."""
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b'{"text": "fine"}\n' + b"[" * 50_000 + b"\n")
    docs, stats = _read(path)
    assert [d.text for d in docs] == ["fine"] and stats["malformed_json"] == 1
    counts: Counter = Counter()
    assert [d["text"] for d in iter_docs([path], "kaz_Cyrl", counts)] == ["fine"]
    assert counts["malformed_json"] == 1


@pytest.mark.parametrize("name", ["kk.txt", "docs.jsonl"])
def test_fuzz_oracle_catches_a_silent_drop(name: str, tmp_path: Path) -> None:
    """The exact line check must be able to fail: drop a line silently and it notices."""
    blob = b"one\ntwo\nthree\n"
    path = tmp_path / name
    path.write_bytes(blob)
    with pytest.raises(AssertionError):
        _check_lines_exactly(path, blob + b"four\n", "mutated oracle")
