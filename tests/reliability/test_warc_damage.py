"""Damaged WARC files lose exactly the damaged record, counted by reason (issue 17, case 5).

The WARC files are written here, one gzip member per record as Common Crawl does; each
response page carries a unique marker so the test checks *which* records survived.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from corpora.readers import MultiFormatReader

N = 6


def _record(i: int, length_delta: int = 0, wtype: str = "response") -> bytes:
    html = (f"<html><body><p>Record number {i} marker{i}x says hello to the reader and the tests.</p>"
            f"</body></html>").encode()
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    head = (f"WARC/1.0\r\nWARC-Type: {wtype}\r\nWARC-Record-ID: <urn:uuid:{i:08d}>\r\n"
            f"WARC-Target-URI: http://example.org/{i}\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http) + length_delta}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def _members(records: list[bytes]) -> list[bytes]:
    return [gzip.compress(r, mtime=0) for r in records]


def read(path: Path) -> tuple[set[int], dict[str, int]]:
    reader = MultiFormatReader([str(path)], "warc")
    docs = list(reader.run())
    found = {i for d in docs for i in range(N) if f"marker{i}x" in d.text}
    assert len(found) == len(docs)
    return found, {k: v.total for k, v in reader.stats.stats.items()}


def test_intact_file_gives_every_record(tmp_path: Path) -> None:
    p = tmp_path / "ok.warc.gz"
    p.write_bytes(b"".join(_members([_record(i) for i in range(N)])))
    found, stats = read(p)
    assert found == set(range(N))
    assert not any(k in stats for k in ("bad_warc_record", "broken_compression", "warc_length_repaired"))


@pytest.mark.parametrize("delta", [+40, -25, +100000], ids=["too-long", "too-short", "far-too-long"])
@pytest.mark.parametrize("gz", [False, True], ids=["warc", "warc.gz"])
def test_wrong_content_length_loses_no_other_record(delta: int, gz: bool, tmp_path: Path) -> None:
    records = [_record(i, delta if i == 2 else 0) for i in range(N)]
    p = tmp_path / ("x.warc.gz" if gz else "x.warc")
    p.write_bytes(b"".join(_members(records)) if gz else b"".join(records))
    found, stats = read(p)
    assert set(range(N)) - {2} <= found  # every other record survives; record 2 is re-cut (kept or counted)
    assert stats["warc_length_repaired"] == 1


def test_file_cut_at_70_percent_keeps_every_complete_record(tmp_path: Path) -> None:
    members = _members([_record(i) for i in range(N)])
    data = b"".join(members)
    cut = int(len(data) * 0.7)
    complete = sum(1 for k in range(N) if len(b"".join(members[:k + 1])) <= cut)
    p = tmp_path / "cut.warc.gz"
    p.write_bytes(data[:cut])
    found, stats = read(p)
    assert found == set(range(complete))
    # the cut member is counted once (its partial record too, when any of it decompressed)
    assert stats["broken_compression"] == 1 and stats.get("bad_warc_record", 0) <= 1


def test_one_corrupt_member_costs_one_record(tmp_path: Path) -> None:
    members = _members([_record(i) for i in range(N)])
    bad = bytearray(members[2])
    for k in range(12, len(bad) - 12):  # the deflate body, not the header or the CRC trailer
        bad[k] ^= 0x5A
    members[2] = bytes(bad)
    p = tmp_path / "corrupt.warc.gz"
    p.write_bytes(b"".join(members))
    with pytest.raises((zlib.error, OSError, EOFError)):
        gzip.decompress(p.read_bytes())  # really corrupt
    found, stats = read(p)
    assert found == set(range(N)) - {2}
    assert stats["broken_compression"] == 1


@pytest.mark.parametrize("header", ["WARC-Type: resp\x00onse", "WARC-Tpye: response", "WARC-Type: respnse"])
def test_garbled_warc_type_is_counted(header: str, tmp_path: Path) -> None:
    records = [_record(i) for i in range(N)]
    records[3] = records[3].replace(b"WARC-Type: response", header.encode())
    p = tmp_path / "garbled.warc"
    p.write_bytes(b"".join(records))
    found, stats = read(p)
    assert found == set(range(N)) - {3}
    assert stats.get("bad_warc_type", 0) + stats.get("bad_warc_record", 0) == 1


def test_other_gzip_text_survives_a_corrupt_member(tmp_path: Path) -> None:
    """The same resync serves line formats: an intact member after a corrupt one is still read."""
    members = [gzip.compress(f"line 0 of member {m}\n".encode(), mtime=0) for m in range(4)]
    bad = bytearray(members[1])
    for k in range(12, len(bad) - 12):
        bad[k] ^= 0xFF
    members[1] = bytes(bad)
    p = tmp_path / "t.txt.gz"
    p.write_bytes(b"".join(members))
    reader = MultiFormatReader([str(p)], "lines")
    texts = [d.text for d in reader.run()]
    assert texts == ["line 0 of member 0", "line 0 of member 2", "line 0 of member 3"]
    assert reader.stats.stats["broken_compression"].total == 1


def test_a_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """100 MB of one letter in a 100 KB member: decompressed 1 MiB at a time, the line counted, not held."""
    import tracemalloc

    p = tmp_path / "bomb.txt.gz"
    p.write_bytes(gzip.compress(b"a" * (100 << 20) + b"\n", mtime=0) + gzip.compress("соңы\n".encode(), mtime=0))
    tracemalloc.start()
    try:
        reader = MultiFormatReader([str(p)], "lines")
        texts = [d.text for d in reader.run()]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert texts == ["соңы"] and reader.stats.stats["line_too_long"].total == 1
    assert peak < 32 << 20, f"peak {peak / 2**20:.0f} MiB"
