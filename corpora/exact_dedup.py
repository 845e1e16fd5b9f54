"""Exact deduplication of documents and of repeated lines across documents (CCNet style).

Three datatrove stages, like datatrove's own dedup blocks, so they run on any executor:

1. `DedupSignatures` (every task): per document, a hash of the whole normalised text and one per
   line (CCNet's line normalisation: lower case, digits → 0, punctuation dropped, spaces collapsed),
   written to `SIG/<rank>.sig`.
2. `FindDuplicates` (one task): walks all signature files in task order and decides, for every
   document, whether it repeats an earlier document and which of its lines already appeared in an
   earlier document; writes `DEC/<rank>.json` per input task. The first occurrence wins, in a fixed
   (task, position) order, so results do not depend on scheduling.
3. `ExactDedupFilter` (every task): drops duplicate documents (`duplicate_doc`), removes repeated
   lines, and drops documents left too short (`duplicate_lines`).

The hash sets of stage 2 live in memory (16 bytes per distinct line, roughly): fine for the
single-node corpora this project cleans; a CommonCrawl-scale run would shard stage 2 by hash prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpora.document import StatBuffer, XlingFilter, add_count
from xling.core.errors import InputError
from xling.core.io import write_json_atomic

_DIGITS_RE = re.compile(r"\d")
_HEADER = struct.Struct("<QI")


@lru_cache(maxsize=1)
def _punct_re() -> re.Pattern:
    """Runs of punctuation and symbols (Unicode categories P* and S*) in the BMP, as one character class
    of ranges: `re` tests a class with a range check where `str.translate` looked every character up
    in a dict (2.5x slower on the benchmark's lines)."""
    parts: list[str] = []
    start = None
    for cp in range(0x10001):
        hit = cp < 0x10000 and unicodedata.category(chr(cp))[0] in "PS"
        if hit and start is None:
            start = cp
        elif not hit and start is not None:
            parts.append(re.escape(chr(start)) + (f"-{re.escape(chr(cp - 1))}" if cp - 1 > start else ""))
            start = None
    return re.compile("[" + "".join(parts) + "]+")


def normalize_for_dedup(line: str) -> str:
    """CCNet's line normalisation: case, digits and punctuation do not make a line new."""
    line = _punct_re().sub("", _DIGITS_RE.sub("0", line.lower()))
    return " ".join(line.split())  # str.split's whitespace is re's `\s`: runs → one space, ends stripped


def hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def signature(text: str, min_line_chars: int) -> tuple[int, list[int]]:
    """(document hash, per-line hashes; 0 for lines too short to deduplicate)."""
    lines = text.split("\n")
    norm = [normalize_for_dedup(ln) for ln in lines]
    doc_hash = hash64("\n".join(n for n in norm if n))
    return doc_hash, [hash64(n) if len(n) >= min_line_chars else 0 for n in norm]


def read_signatures(path: str | os.PathLike) -> Iterator[tuple[int, list[int]]]:
    with open(path, "rb") as f:
        while head := f.read(_HEADER.size):
            doc_hash, n = _HEADER.unpack(head)
            yield doc_hash, list(struct.unpack(f"<{n}Q", f.read(8 * n))) if n else []


class DedupSignatures(PipelineStep):
    """Stage 1: record each document's hashes (in pipeline order) to `folder/<rank>.sig`."""

    name = "dedup signatures"
    type = "🫂 - DEDUP"

    def __init__(self, folder: str | os.PathLike, min_line_chars: int = 20) -> None:
        super().__init__()
        self.folder = str(folder)
        self.min_line_chars = min_line_chars

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        final = Path(self.folder) / f"{rank:05d}.sig"
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        ok = False
        buf = StatBuffer()
        times, clock = buf.times, time.perf_counter
        try:
            with open(tmp, "wb") as f:
                for doc in data or ():
                    t0 = clock()
                    doc_hash, lines = signature(doc.text, self.min_line_chars)
                    f.write(_HEADER.pack(doc_hash, len(lines)))
                    if lines:
                        f.write(struct.pack(f"<{len(lines)}Q", *lines))
                    times.append(clock() - t0)
                    yield doc
            ok = True
        finally:
            buf.flush(self)
            if ok:
                os.replace(tmp, final)
            else:
                tmp.unlink(missing_ok=True)


class FindDuplicates(PipelineStep):
    """Stage 2 (run with one task): decide duplicates over all signature files in task order."""

    name = "find duplicates"
    type = "🫂 - DEDUP"

    def __init__(self, sig_folder: str | os.PathLike, out_folder: str | os.PathLike, input_tasks: int) -> None:
        super().__init__()
        self.sig_folder = str(sig_folder)
        self.out_folder = str(out_folder)
        self.input_tasks = input_tasks

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise InputError(f"FindDuplicates needs exactly one task (got world_size={world_size})")

        seen_docs: set[int] = set()
        seen_lines: set[int] = set()
        counts = StatBuffer()
        for task in range(self.input_tasks):
            path = Path(self.sig_folder) / f"{task:05d}.sig"
            if not path.is_file():
                raise FileNotFoundError(f"{path} missing: stage 1 task {task} has not finished")
            dup_docs: list[int] = []
            drop_lines: dict[str, list[int]] = {}
            n_docs = 0
            for idx, (doc_hash, lines) in enumerate(read_signatures(path)):
                n_docs += 1
                if doc_hash in seen_docs:
                    dup_docs.append(idx)
                    continue
                seen_docs.add(doc_hash)
                repeated = [i for i, h in enumerate(lines) if h and h in seen_lines]
                if repeated:
                    drop_lines[str(idx)] = repeated
                    counts.add("duplicate_lines", len(repeated))
                # add after the scan: repeats inside one document are the quality filter's business
                seen_lines.update(h for h in lines if h)
            add_count(self, "documents", n_docs)
            add_count(self, "duplicate_docs", len(dup_docs))
            write_json_atomic(Path(self.out_folder) / f"{task:05d}.json",
                              {"duplicate_docs": dup_docs, "drop_lines": drop_lines})
        counts.flush(self)
        yield from data or ()


class ExactDedupFilter(XlingFilter):
    """Stage 3: apply stage 2's decisions to this task's documents (same order as stage 1)."""

    name = "exact dedup"

    def __init__(self, decisions_folder: str | os.PathLike, min_chars: int = 15, exclusion_writer=None) -> None:
        super().__init__(exclusion_writer)
        self.decisions_folder = str(decisions_folder)
        self.min_chars = min_chars
        self._dup_docs: set[int] = set()
        self._drop_lines: dict[int, set[int]] = {}
        self._idx = 0

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = Path(self.decisions_folder) / f"{rank:05d}.json"
        with open(path, encoding="utf-8") as f:
            dec = json.load(f)
        self._dup_docs = set(dec["duplicate_docs"])
        self._drop_lines = {int(k): set(v) for k, v in dec["drop_lines"].items()}
        self._idx = 0
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        idx = self._idx
        self._idx += 1
        if idx in self._dup_docs:
            return self.drop(doc, "duplicate_doc")
        drop = self._drop_lines.get(idx)
        if drop:
            lines = doc.text.split("\n")
            kept = [ln for i, ln in enumerate(lines) if i not in drop]
            self.count("duplicate_lines_removed", len(drop))
            self.count("duplicate_line_chars_removed", sum(len(lines[i]) for i in drop if i < len(lines)))
            text = "\n".join(kept).strip("\n")
            if len(text) < self.min_chars:
                return self.drop(doc, "duplicate_lines")
            doc.text = text
            doc.metadata["dedup_lines_removed"] = len(drop)
        return True
