"""Tolerant low-level reading of raw input: compressed files, over-long lines, web archives.

Every reader of raw or user-given text (`corpora.readers` for clean, `corpora.corpus` for
`LANG=file` inputs of dedup/mix/vocab) goes through here, so damage is handled one way: skipped,
counted by reason, never a traceback, and memory bounded by a maximum line/record length.

`ResyncGzip` decompresses a multi-member gzip file member by member. A corrupt member is skipped
to the next gzip header (`1f 8b 08`) instead of ending the file, and a truncated last member
gives what it held; both are reported (`on_bad`) with the compressed bytes lost. Common Crawl
writes one WARC record per member, so one bad member costs one record, not the rest of the file.

`iter_warc_records` splits a (decompressed) WARC stream into records. Content-Length is trusted
only when the record is followed by a blank line and the next `WARC/1.x` header (or the end); if
not, the record is re-cut at the next header line and counted `warc_length_repaired`. Records
damaged by a gap in the decompressed stream are dropped and counted. Memory is bounded by
`max_record_bytes`: a longer record is skipped while being read (counted `record_too_long`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import zlib
from collections.abc import Callable, Iterator
from typing import IO

OnBad = Callable[[str, str, str], None]  # (reason, where, detail)
COMPRESSION_SUFFIXES = (".gz", ".xz", ".lzma", ".bz2")
COMPRESSION_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error, gzip.BadGzipFile)
GZIP_MAGIC = b"\x1f\x8b\x08"
_CHUNK = 1 << 16
_MAX_OUT = 1 << 20  # decompressed bytes produced per step


class ResyncGzip(io.RawIOBase):
    """Readable decompressed view of a gzip file that skips corrupt members (see module doc)."""

    def __init__(self, raw: IO[bytes], path: str, on_bad: OnBad) -> None:
        self.raw, self.path, self.on_bad = raw, path, on_bad
        self.pending = b""  # compressed bytes not yet fed
        self.out = b""  # decompressed bytes not yet returned
        self.d: zlib._Decompress | None = None
        self.member_start = 0  # compressed offset of the current member
        self.offset = 0  # compressed offset of `pending[0]`
        self.eof = False
        self.gaps = 0  # members lost so far (readers compare it around a record)
        self.produced = 0  # decompressed bytes returned so far

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        block = self.raw.read(_CHUNK)
        if not block:
            return False
        self.pending += block
        return True

    def _skip_to_next_member(self, reason: str, detail: str) -> None:
        self.gaps += 1
        start = self.member_start
        # search after the broken member's own header
        while True:
            k = self.pending.find(GZIP_MAGIC, 1)
            if k >= 0:
                lost = self.offset + k - start
                self.offset += k
                self.pending = self.pending[k:]
                break
            keep = self.pending[-2:]
            self.offset += len(self.pending) - len(keep)
            self.pending = keep
            if not self._fill():
                lost = self.offset + len(self.pending) - start
                self.offset += len(self.pending)
                self.pending = b""
                self.eof = True
                break
        self.on_bad(reason, f"{self.path} byte {start}", f"({detail}; {lost:,} compressed bytes skipped)")
        self.d = None

    def _step(self) -> None:
        """Decompress some more into `self.out` (or reach the end)."""
        if not self.pending and not self._fill():
            if self.d is not None:
                self.out += self.d.flush()  # output zlib still holds back (max_length below)
            if self.d is not None and not self.d.eof:
                self.gaps += 1
                self.on_bad("broken_compression", f"{self.path} byte {self.member_start}",
                            "(file ends inside a gzip member: truncated; its decompressed part is kept)")
            self.eof = True
            return
        if self.d is None:
            if len(self.pending) < 3 and self._fill():
                return
            if not self.pending.startswith(GZIP_MAGIC):
                self.member_start = self.offset
                if self.offset == 0 or self.pending.strip(b"\x00") != b"" or self._fill():
                    self._skip_to_next_member("broken_compression", "not a gzip member here")
                else:
                    self.offset += len(self.pending)
                    self.pending = b""
                return
            self.d = zlib.decompressobj(wbits=31)
            self.member_start = self.offset
        try:
            # bounded output per call: a small member may expand to gigabytes (a "zip bomb")
            data = self.d.decompress(self.pending, _MAX_OUT)
        except zlib.error as e:
            self._skip_to_next_member("broken_compression", f"corrupt gzip member: {e}")
            return
        self.out += data
        rest = self.d.unused_data if self.d.eof else self.d.unconsumed_tail
        self.offset += len(self.pending) - len(rest)
        self.pending = rest
        if self.d.eof:
            self.d = None

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.out and not self.eof:
            self._step()
        n = min(len(b), len(self.out))
        b[:n] = self.out[:n]
        self.out = self.out[n:]
        self.produced += n
        return n


def strip_compression(name: str) -> str:
    """A file name without its compression suffix (`a.tsv.xz` → `a.tsv`)."""
    for ext in COMPRESSION_SUFFIXES:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def open_binary(path: str | os.PathLike, on_bad=None) -> IO[bytes]:
    """Open a file for reading bytes; `.gz`, `.xz`/`.lzma`, `.bz2` are decompressed (by magic bytes).

    With `on_bad(reason, where, detail)`, gzip is read by `ResyncGzip`: a corrupt
    member is reported and skipped, the intact members after it are still read.
    """
    p = str(path)
    with open(p, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        if on_bad is not None:
            return io.BufferedReader(ResyncGzip(open(p, "rb"), p, on_bad), 1 << 16)
        return gzip.open(p, "rb")
    if magic[:6] == b"\xfd7zXZ\x00":
        return lzma.open(p, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(p, "rb")
    return open(p, "rb")


def iter_raw_lines(f: IO[bytes], path: str, max_line_bytes: int, on_bad) -> Iterator[tuple[int, str]]:
    """(line number, decoded line without newline); bad lines go to `on_bad` and are skipped."""
    lineno = 0
    while True:
        try:
            raw = f.readline(max_line_bytes + 1)
        except COMPRESSION_ERRORS as e:
            on_bad("broken_compression", f"{path}:{lineno + 1}", f"({type(e).__name__}: {e}); rest of file skipped")
            return
        if not raw:
            return
        lineno += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            # drain the rest of the over-long line without holding it in memory
            try:
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(max_line_bytes)
            except COMPRESSION_ERRORS as e:
                on_bad("broken_compression", f"{path}:{lineno}", f"({type(e).__name__}: {e})")
                return
            on_bad("line_too_long", f"{path}:{lineno}", f"(over {max_line_bytes} bytes)")
            continue
        try:
            yield lineno, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            on_bad("invalid_utf8", f"{path}:{lineno}", f"(byte {e.start})")


_HEADER_LINE = re.compile(rb"^WARC/1\.[01]\r?\n")


class _Pushback:
    """Line/byte reader over a binary stream with unread() (for re-cutting records)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.buf = b""

    def unread(self, data: bytes) -> None:
        self.buf = data + self.buf

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self.buf[:limit] and len(self.buf) < limit:
            block = self.f.read(_CHUNK)
            if not block:
                break
            self.buf += block
        k = self.buf.find(b"\n", 0, limit)
        n = k + 1 if k >= 0 else min(limit, len(self.buf))
        line, self.buf = self.buf[:n], self.buf[n:]
        return line

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            block = self.f.read(max(_CHUNK, n - len(self.buf)))
            if not block:
                break
            self.buf += block
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def _next_header(body: bytes) -> int:
    """Offset of the first `WARC/1.x` header line inside `body` that starts a real record, or -1."""
    for m in re.finditer(rb"\nWARC/1\.[01]\r?\n", body):
        after = body[m.end():m.end() + 4096]
        if re.match(rb"(?:[!-9;-~]+:[^\n]*\n)*?WARC-[A-Za-z-]+:", after):
            return m.start() + 1
    return -1


def iter_warc_records(f: IO[bytes], path: str, on_bad: OnBad, max_record_bytes: int = 64 << 20,
                      gaps: Callable[[], int] = lambda: 0) -> Iterator[tuple[dict[str, str], bytes]]:
    """(lower-cased WARC headers, content block) of each intact record of a decompressed stream."""
    src = _Pushback(f)
    junk = 0
    recno = 0
    while True:
        line = src.readline(1 << 16)
        if not line:
            break
        if not _HEADER_LINE.match(line):
            if line.strip():  # blank lines between records are the format's padding
                junk += len(line)
            continue
        if junk:
            on_bad("unparsed_bytes", f"{path} before record {recno}", f"({junk:,} bytes outside any record)")
            junk = 0
        gap0 = gaps()
        recno += 1
        headers: dict[str, str] = {}
        bad_header = False
        size = 0
        while True:
            h = src.readline(1 << 16)
            size += len(h)
            if not h or not h.strip():
                break
            if size > 1 << 20:
                bad_header = True
                break
            k, sep, v = h.decode("utf-8", errors="replace").partition(":")
            if not sep:
                bad_header = True
                continue
            headers[k.strip().lower()] = v.strip()
        where = f"{path} record {recno}"
        try:
            length = int(headers.get("content-length", ""))
            if length < 0:
                raise ValueError
        except ValueError:
            length = -1
        if 0 <= length <= max_record_bytes:
            body = src.read(length)
            trailer = src.read(4)
            rest = src.read(16)
            src.unread(rest)
            consistent = len(body) == length and trailer == b"\r\n\r\n" and (not rest or rest.startswith(b"WARC/1."))
            if not consistent:
                src.unread(trailer)
                cut = _next_header(b"\n" + body)
                if cut >= 0:  # the length ran into the next record: give those bytes back
                    src.unread(body[cut - 1:])
                    body = body[:cut - 1]
                else:  # the length stopped short (or the file ends): the body runs to the next header
                    body = body + _read_to_next_header(src, max_record_bytes - len(body))
                on_bad("warc_length_repaired", where, f"(Content-Length {length} does not end at a record "
                       "boundary; record re-cut at the next WARC header)")
                body = body.rstrip(b"\r\n")
        elif length > max_record_bytes:
            _drain(src, length + 4)
            on_bad("record_too_long", where, f"({length:,} bytes > {max_record_bytes:,})")
            continue
        else:
            body = _read_to_next_header(src, max_record_bytes).rstrip(b"\r\n")
            on_bad("warc_length_repaired", where, "(no valid Content-Length; record cut at the next WARC header)")
        if gaps() != gap0:
            on_bad("bad_warc_record", where, "(a corrupt gzip member cut through it)")
            continue
        if bad_header or "warc-type" not in headers:
            on_bad("bad_warc_record", where, "(garbled WARC header block)")
            continue
        yield headers, body
    if junk:
        on_bad("unparsed_bytes", f"{path} at the end", f"({junk:,} bytes outside any record)")


def _read_to_next_header(src: _Pushback, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        line = src.readline(1 << 16)
        if not line:
            break
        if _HEADER_LINE.match(line):
            src.unread(line)
            break
        size += len(line)
        if size <= limit:
            parts.append(line)
    return b"".join(parts)


def _drain(src: _Pushback, n: int) -> None:
    while n > 0:
        got = src.read(min(n, _CHUNK))
        if not got:
            return
        n -= len(got)
