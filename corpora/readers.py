"""Readers for the formats web-corpus users have, as one datatrove reader step.

Formats (`FORMATS`): `warc` (HTML responses, text extracted), `wet` (Common Crawl WET conversion
records), `cc100` (plain text, documents separated by blank lines), `ccnet` (JSON lines with
`raw_content`), `jsonl` (JSON lines with `text`), `parquet` (`text` column), `hf_dataset` (a
`datasets` `save_to_disk` folder), `lines` (one document per line), `tsv` (one document per line, the
text in one tab-separated column: the last, or the one an input names as `file.tsv#N`, 1-based;
`*.tsv` files are detected as such). The text field of `jsonl`,
`parquet` and `hf_dataset` is `text_column`. Parquet files and dataset folders may also be fsspec
URLs (`corpora.hf_datasets`). `detect_format` sniffs the first bytes of the decompressed file, so a WET
file named `.txt` is still read as WET; `--format` overrides.

Broken input never stops a run: a truncated/corrupt `.gz`/`.xz`, invalid UTF-8, a malformed JSON
line, an empty file or an over-long line is skipped, logged with file and line, and counted in
the step's stats as `broken_<reason>` (the clean report lists them).
"""

from __future__ import annotations

import io
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseReader
from loguru import logger
from tqdm import tqdm

from corpora.corpus import TAB, NotTextError, sniff_text_input, tsv_cell
from corpora.document import StatBuffer, add_count
from corpora.hf_datasets import iter_rows
from corpora.rawio import COMPRESSION_ERRORS as _COMPRESSION_ERRORS
from corpora.rawio import iter_raw_lines, iter_warc_records, open_binary, strip_compression
from xling.core.errors import InputError

FORMATS = ("auto", "warc", "wet", "cc100", "ccnet", "jsonl", "parquet", "hf_dataset", "lines", "tsv")
BROKEN_REASONS = ("broken_compression", "invalid_utf8", "malformed_json", "missing_text_field", "empty_file",
                  "line_too_long", "doc_too_long", "unreadable_file", "bad_warc_record", "bad_warc_type",
                  "record_too_long", "unparsed_bytes", "warc_length_repaired", "not_text", "missing_tsv_column")
WARC_TYPES = ("warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion", "continuation")
_SNIFF_BYTES = 1 << 16
_LOG_FIRST = 5


def detect_format(path: str | os.PathLike) -> str:
    """Guess a file's format from its (decompressed) first bytes, then its name."""
    p = Path(path)
    with open(p, "rb") as f:
        if f.read(4) == b"PAR1":
            return "parquet"
    try:
        with open_binary(p) as f:
            head = f.read(_SNIFF_BYTES)
    except _COMPRESSION_ERRORS:
        head = b""
    name = strip_compression(p.name.lower())
    if head.startswith(b"WARC/"):
        if b"WARC-Type: conversion" in head or ".wet" in name:
            return "wet"
        return "warc"
    first = head.lstrip()[:1]
    if first == b"{":
        return "ccnet" if b'"raw_content"' in head.split(b"\n", 1)[0] or b'"raw_content"' in head else "jsonl"
    if name.endswith((".warc", ".arc")):
        return "warc"
    if name.endswith(".wet"):
        return "wet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".tsv"):
        return "tsv"
    # CC-100 style: paragraphs of several lines separated by blank lines.
    text = head.decode("utf-8", errors="replace")
    blocks = [b for b in text.split("\n\n") if b.strip()]
    if len(blocks) >= 2 and sum(1 for b in blocks if "\n" in b.strip()) >= max(1, len(blocks) // 4):
        return "cc100"
    return "lines"


def _html_to_text(html: bytes, charset: str | None) -> str:
    import lxml.html

    try:
        text = html.decode(charset or "utf-8", errors="replace")
    except LookupError:
        text = html.decode("utf-8", errors="replace")
    if not text.strip():
        return ""
    try:
        root = lxml.html.document_fromstring(text)
    except Exception:  # lxml raises several types on junk markup; treat as no text
        return ""
    for bad in root.xpath("//script|//style|//noscript|//template|//svg|//head"):
        bad.drop_tree()
    blocks = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
              "header", "footer", "nav", "ul", "ol", "table", "blockquote", "pre", "title", "td", "th"}
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in blocks:
            el.tail = "\n" + (el.tail or "")
    lines = (" ".join(ln.split()) for ln in root.text_content().split("\n"))
    return "\n".join(ln for ln in lines if ln)


@lru_cache(maxsize=1024)
def _id_prefix(path: str) -> str:
    """`<file name>-<crc32 of the path>`: document ids are `<prefix>/<n>`, unique across inputs."""
    return f"{Path(path).name}-{zlib.crc32(path.encode()):08x}"


class MultiFormatReader(BaseReader):
    """Read an explicit, ordered list of files; task `rank` reads files `rank::world_size`.

    Each document gets `id` `<file stem>-<crc of path>/<n>`, `metadata["source"]` (the path as given),
    `metadata["format"]`, and `metadata["lang_hint"]` when the input was given as `LANG=path`.
    """

    name = "multi-format reader"

    def __init__(self, files: Sequence[str], fmt: str = "auto", hints: dict[str, str] | None = None,
                 max_line_bytes: int = 1 << 20, max_doc_chars: int = 1_000_000, limit: int = -1,
                 progress: bool = False, max_record_bytes: int = 64 << 20, text_column: str = "text",
                 columns: dict[str, int] | None = None) -> None:
        super().__init__(limit=limit)
        if fmt not in FORMATS:
            raise InputError(f"unknown input format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.files = list(files)
        self.fmt = fmt
        self.hints = dict(hints or {})
        self.max_line_bytes = max_line_bytes
        self.max_doc_chars = max_doc_chars
        self.max_record_bytes = max_record_bytes
        self.progress = progress
        self.text_column = text_column
        # {file: 1-based column}: a tab-separated input whose text is that column (`file.tsv#N`),
        # whatever `fmt` says for the other files
        self.columns = dict(columns or {})
        self._logged: dict[tuple[str, str], int] = {}

    # -- bookkeeping -----------------------------------------------------------------------------
    def _bad(self, reason: str, where: str, detail: str = "") -> None:
        self.stat_update(reason)
        # log the first few per file and reason; the stats hold the full count
        key = (where.split(":")[0].split(" ")[0], reason)
        self._logged[key] = self._logged.get(key, 0) + 1
        if self._logged[key] <= _LOG_FIRST:
            more = " (further ones in this file are counted, not logged)" if self._logged[key] == _LOG_FIRST else ""
            logger.warning(f"{where}: skipped ({reason}) {detail}".rstrip() + more)

    def _doc(self, text: str, path: str, n: int, fmt: str, extra: dict | None = None) -> Document | None:
        if len(text) > self.max_doc_chars:
            self._bad("doc_too_long", f"{path} doc {n}", f"({len(text)} chars > {self.max_doc_chars})")
            return None
        if not text.strip():
            self.stat_update("empty_text")  # a record without text (an empty page, `"text": ""`): counted, not kept
            return None
        meta = {"source": path, "format": fmt}
        if path in self.hints:
            meta["lang_hint"] = self.hints[path]
        if extra:
            meta.update({k: v for k, v in extra.items() if v is not None})
        return Document(text=text, id=f"{_id_prefix(path)}/{n}", metadata=meta)

    # -- formats ---------------------------------------------------------------------------------
    def _read_lines(self, f: IO[bytes], path: str, fmt: str = "lines") -> Iterator[Document]:
        """One document per line; `tsv`: from one tab-separated column, so that THUYG-20's `wav\\ttext` or
        the apertium-kaz segmentation corpus's `sentence\\tsegmented sentence` do not become documents
        holding both columns."""
        column = self.columns.get(path, 0)  # tsv: 0 = the last
        n = 0
        for lineno, line in iter_raw_lines(f, path, self.max_line_bytes, self._bad):
            if not line.strip():
                continue
            if fmt == "tsv":
                cell = tsv_cell(line, column)
                if cell is None:
                    self._bad("missing_tsv_column", f"{path}:{lineno}",
                              f"(column {column} of a line with {line.count(TAB) + 1})")
                    continue
                line = cell.strip()
            doc = self._doc(line, path, n, fmt)
            n += 1
            if doc:
                yield doc

    def _read_cc100(self, f: IO[bytes], path: str) -> Iterator[Document]:
        n = 0
        buf: list[str] = []
        size = 0
        for _, line in iter_raw_lines(f, path, self.max_line_bytes, self._bad):
            if line.strip():
                buf.append(line)
                size += len(line) + 1
                if size <= self.max_doc_chars:
                    continue
            if buf:
                doc = self._doc("\n".join(buf), path, n, "cc100")
                n += 1
                buf, size = [], 0
                if doc:
                    yield doc
        if buf:
            doc = self._doc("\n".join(buf), path, n, "cc100")
            if doc:
                yield doc

    def _read_json(self, f: IO[bytes], path: str, key: str, fmt: str) -> Iterator[Document]:
        n = 0
        for lineno, line in iter_raw_lines(f, path, self.max_line_bytes, self._bad):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                self._bad("malformed_json", f"{path}:{lineno}", f"({e.msg})")
                continue
            except RecursionError:  # `[[[[…` nested deeper than the parser's stack
                self._bad("malformed_json", f"{path}:{lineno}", "(nested too deeply)")
                continue
            text = row.get(key) if isinstance(row, dict) else None
            if not isinstance(text, str):
                self._bad("missing_text_field", f"{path}:{lineno}", f"(no string field {key!r})")
                continue
            extra = {"url": row.get("url"), "orig_id": row.get("id") if isinstance(row.get("id"), str) else None}
            if fmt == "ccnet":
                extra.update(cc_lang=row.get("language"), cc_lang_score=row.get("language_score"))
            doc = self._doc(text, path, n, fmt, extra)
            n += 1
            if doc:
                yield doc

    def _read_wet(self, f: IO[bytes], path: str) -> Iterator[Document]:
        """WET records, parsed tolerantly: a record ends where the next `WARC/1.x` header starts, so a
        wrong Content-Length (common in hand-made and truncated files) loses nothing."""
        n = 0
        headers: dict[str, str] = {}
        body: list[str] = []
        in_headers = False

        def flush() -> Document | None:
            if not headers:  # text before the first record header
                if any(line.strip() for line in body):
                    self._bad("unparsed_bytes", path, "(text outside any WARC record)")
                return None
            if headers.get("warc-type") != "conversion":
                if headers.get("warc-type") in WARC_TYPES:
                    self.stat_update("warc_not_document")
                else:
                    self._bad("bad_warc_type", f"{path} record {headers.get('warc-record-id')}",
                              f"(WARC-Type {headers.get('warc-type')!r})")
                return None
            extra = {"url": headers.get("warc-target-uri"), "warc_record_id": headers.get("warc-record-id"),
                     "cc_lang": headers.get("warc-identified-content-language")}
            return self._doc("\n".join(body).strip(), path, n, "wet", extra)

        for _, line in iter_raw_lines(f, path, self.max_line_bytes, self._bad):
            if line.startswith("WARC/1.") and len(line) <= 9:
                doc = flush()
                if doc:
                    n += 1
                    yield doc
                headers, body, in_headers = {}, [], True
                continue
            if in_headers:
                if not line.strip():
                    in_headers = False
                elif ":" in line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                continue
            body.append(line)
        doc = flush()
        if doc:
            yield doc

    def _read_table(self, path: str, fmt: str) -> Iterator[Document]:
        """A Parquet file or a `datasets` folder, local or at an fsspec URL (`corpora.hf_datasets`)."""
        n = 0
        try:
            for row in iter_rows(path, fmt, self.text_column):
                text = row["text"]
                if not isinstance(text, str):
                    self._bad("missing_text_field", f"{path} row {n}", f"(column {self.text_column!r} is not text)")
                    n += 1
                    continue
                doc = self._doc(text, path, n, fmt, {"url": row.get("url"),
                                                     "orig_id": str(row["id"]) if row.get("id") else None})
                n += 1
                if doc:
                    yield doc
        except InputError as e:  # no such column: counted and logged like any unreadable input
            self._bad("missing_text_field", path, f"({str(e).split(': ', 1)[-1]})")

    def _read_warc(self, path: str, fmt: str) -> Iterator[Document]:
        """WARC records via `corpora.rawio` (a bad gzip member or a wrong Content-Length costs one
        record, counted); ARC files through warcio's converter."""
        f = open_binary(path, on_bad=self._bad)
        with f:
            buffered = f if isinstance(f, io.BufferedReader) else io.BufferedReader(f, 1 << 16)
            if buffered.peek(11)[:11] == b"filedesc://":
                yield from self._read_arc(path)
                return
            raw = getattr(f, "raw", None)
            gaps = (lambda: raw.gaps) if hasattr(raw, "gaps") else (lambda: 0)
            n = 0
            for headers, body in iter_warc_records(buffered, path, self._bad, self.max_record_bytes, gaps):
                try:
                    doc = self._warc_block(headers, body, path, n)
                except Exception as e:  # warcio raises several types on a malformed HTTP block
                    self._bad("bad_warc_record", f"{path} record {headers.get('warc-record-id')}",
                              f"({type(e).__name__}: {e})")
                    continue
                if doc is not None:
                    n += 1
                    yield doc

    def _warc_block(self, headers: dict[str, str], body: bytes, path: str, n: int) -> Document | None:
        from warcio.archiveiterator import ArchiveIterator

        rtype = headers.get("warc-type", "")
        if rtype not in WARC_TYPES:
            self._bad("bad_warc_type", f"{path} record {headers.get('warc-record-id')}", f"(WARC-Type {rtype!r})")
            return None
        if rtype not in ("response", "resource", "conversion"):
            self.stat_update("warc_not_document")  # warcinfo, request, metadata, revisit: no text to keep
            return None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k != "content-length")
        record_bytes = (f"WARC/1.0\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
                        + body + b"\r\n\r\n")
        record = next(iter(ArchiveIterator(io.BytesIO(record_bytes))))
        return self._warc_record(record, path, n, "warc")

    def _read_arc(self, path: str) -> Iterator[Document]:
        from warcio.archiveiterator import ArchiveIterator

        n = 0
        with open(path, "rb") as raw:
            it = iter(ArchiveIterator(raw, arc2warc=True))
            while True:
                try:
                    record = next(it)
                    doc = self._warc_record(record, path, n, "warc")
                except StopIteration:
                    return
                except _COMPRESSION_ERRORS as e:
                    self._bad("broken_compression", f"{path} record {n}", f"({type(e).__name__}: {e})")
                    return
                except Exception as e:  # warcio raises ArchiveLoadFailed and parse errors on junk
                    self._bad("bad_warc_record", f"{path} record {n}", f"({type(e).__name__}: {e}); rest of the ARC "
                              "file skipped")
                    return
                if doc is not None:
                    n += 1
                    yield doc

    def _warc_record(self, record, path: str, n: int, fmt: str) -> Document | None:
        rtype = record.rec_type
        url = record.rec_headers.get_header("WARC-Target-URI")
        extra = {"url": url, "warc_record_id": record.rec_headers.get_header("WARC-Record-ID")}
        if rtype == "conversion":
            body = record.content_stream().read()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                self._bad("invalid_utf8", f"{path} record {url}", f"(byte {e.start})")
                return None
            return self._doc(text.strip(), path, n, "wet", extra)
        if rtype not in ("response", "resource"):
            self.stat_update("warc_not_document")
            return None
        headers = record.http_headers
        ctype = (headers.get_header("Content-Type") if headers else None) or \
            record.rec_headers.get_header("Content-Type") or ""
        if rtype == "response" and (not headers or headers.get_statuscode() not in ("200", None)):
            self.stat_update("warc_http_not_ok")
            return None
        body = record.content_stream().read()
        charset = None
        if "charset=" in ctype.lower():
            charset = ctype.lower().split("charset=", 1)[1].split(";")[0].strip().strip('"') or None
        if "html" in ctype.lower():
            text = _html_to_text(body, charset)
        elif ctype.lower().startswith("text/plain"):
            text = body.decode(charset or "utf-8", errors="replace")
        else:
            self.stat_update("warc_not_text")
            return None
        return self._doc(text, path, n, "warc", extra)

    # -- driver ----------------------------------------------------------------------------------
    def read_file(self, path: str) -> Iterator[Document]:
        if "://" in path or os.path.isdir(path):  # a `datasets` folder, or Parquet/datasets at an fsspec URL
            fmt = self.fmt if self.fmt != "auto" else (
                "parquet" if path.rstrip("/").endswith(".parquet") else "hf_dataset")
            if fmt not in ("parquet", "hf_dataset"):
                self._bad("unreadable_file", path, f"(a folder or URL is read as Parquet or a datasets folder, "
                          f"not {fmt})")
                return
            try:
                yield from self._read_table(path, fmt)
            except Exception as e:  # fsspec/pyarrow/datasets raise many types on a missing or corrupt input
                self._bad("unreadable_file", path, f"({type(e).__name__}: {e})")
            return
        if not os.path.isfile(path):
            self._bad("unreadable_file", path, "(not a file)")
            return
        if os.path.getsize(path) == 0:
            self._bad("empty_file", path)
            return
        try:
            fmt = "tsv" if path in self.columns else self.fmt if self.fmt != "auto" else detect_format(path)
        except OSError as e:
            self._bad("unreadable_file", path, f"({e})")
            return
        if fmt == "warc":
            yield from self._read_warc(path, fmt)
            return
        if fmt in ("parquet", "hf_dataset"):
            try:
                yield from self._read_table(path, fmt)
            except Exception as e:  # pyarrow raises ArrowInvalid/OSError on corrupt files
                self._bad("unreadable_file", path, f"({type(e).__name__}: {e})")
            return
        if fmt in ("lines", "tsv", "cc100", "jsonl", "ccnet"):
            try:  # `/bin/ls` named .txt must not become documents
                sniff_text_input(Path(path))
            except NotTextError as e:
                self._bad("not_text", path, f"({str(e).split(': ', 1)[-1]})")
                return
            except InputError:  # damaged compression: the line reader below keeps what it can and counts it
                pass
        try:
            f = open_binary(path, on_bad=self._bad)
        except OSError as e:
            self._bad("unreadable_file", path, f"({e})")
            return
        with f:
            if fmt == "wet":
                gen = self._read_wet(f, path)
            elif fmt in ("lines", "tsv"):
                gen = self._read_lines(f, path, fmt)
            elif fmt == "cc100":
                gen = self._read_cc100(f, path)
            else:
                gen = self._read_json(f, path, "raw_content" if fmt == "ccnet" else self.text_column, fmt)
            empty = True
            for doc in gen:
                empty = False
                yield doc
            raw = getattr(f, "raw", None)
            produced = raw.produced if hasattr(raw, "produced") else f.tell()
            if empty and produced == 0:
                self._bad("empty_file", path, "(no content after decompression)")

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data

        shard = self.files[rank::world_size]
        count = 0
        buf = StatBuffer()  # `update_doc_stats` and the "documents" count, added once per task
        lengths = buf.values["doc_len"]
        try:
            for path in tqdm(shard, desc=f"task {rank} files", unit="file", disable=not self.progress):
                self.stat_update("input_files")
                for doc in self.read_file(path):
                    if self.limit != -1 and count >= self.limit:
                        return
                    count += 1
                    lengths.append(len(doc.text))
                    if token_count := doc.metadata.get("token_count"):
                        buf.add("doc_len_tokens", token_count)
                    yield doc
        finally:
            if not lengths:
                del buf.values["doc_len"]
            buf.flush(self)
            add_count(self, "documents", count)
