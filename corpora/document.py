"""Helpers around datatrove's `Document` for the clean pipeline's on-disk rows and bookkeeping.

* `doc_to_row` / `row_to_doc`: the JSON row every later stage reads (`id`, `text`, `lang`,
  `lang_score`, `source`, `metadata`, plus `reason` for removed documents).
* `AtomicJsonlWriter`: a datatrove writer step (also usable as a filter's exclusion writer) that
  writes deterministic gzip (mtime 0) to a hidden temporary name and renames it into place when
  the task finishes, so a killed task never leaves a half-written shard under its final name.
* `XlingFilter`: `BaseFilter` that counts removals per language and reason (documents, chars).
* `Tally`: counts documents and characters per language passing a point of the pipeline.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from pathlib import Path
from string import Template
from typing import IO

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

UND = "und_Zyyy"
_TOP_LEVEL = ("lang", "lang_score", "source")

# Every row carries the same metadata keys with the same non-null types, so `datasets.load_dataset("json")`
# infers one schema for all shards (a key missing from some rows, or null in a whole shard, breaks its
# casting). Absent values are "" / 0.
METADATA_FIELDS: dict[str, type] = {
    "format": str, "url": str, "orig_id": str, "warc_record_id": str, "cc_lang": str, "cc_lang_score": float,
    "lang_hint": str, "lid_model_lang": str, "script_share": float, "chars_in": int,
    "norm": str,  # JSON object {fix: count}
    "boilerplate_lines_removed": int, "dedup_lines_removed": int,
    "extra": str,  # JSON object with any other metadata a step added
}


# json.dumps with keyword arguments builds a new encoder per call; the writer encodes every document
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def _typed(value, tp: type):
    if value is None:
        return tp()
    if type(value) is tp:
        return value
    if tp is str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    try:
        return tp(value)
    except (TypeError, ValueError):
        return tp()


def doc_to_row(doc: Document) -> dict:
    """The output row: required fields first, the fixed metadata record under `metadata`."""
    meta = dict(doc.metadata)
    row = {"id": doc.id, "text": doc.text, "lang": meta.pop("lang", UND),
           "lang_score": float(meta.pop("lang_score", 0.0)), "source": str(meta.pop("source", ""))}
    reason = meta.pop("filter_reason", None)
    if reason is not None:
        row["reason"] = str(reason)
    fixed = {k: _typed(meta.pop(k, None), tp) for k, tp in METADATA_FIELDS.items()}
    extra = json.loads(fixed["extra"]) if fixed["extra"] else {}
    extra.update({k: v for k, v in meta.items() if k not in ("file_path",)})
    fixed["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str) if extra else ""
    row["metadata"] = fixed
    return row


def row_to_doc(row: dict) -> Document:
    meta = {k: v for k, v in (row.get("metadata") or {}).items() if v not in (None, "")}
    for key in _TOP_LEVEL:
        if key in row:
            meta[key] = row[key]
    return Document(text=row["text"], id=row["id"], metadata=meta)


class AtomicJsonlWriter(PipelineStep):
    """Write documents as gzipped JSON lines; files appear under their final names only on success.

    `filename` is a `string.Template` over `rank` (zero-padded) and any metadata key, e.g.
    `"${lang}/${rank}.jsonl.gz"`. Documents pass through `run` unchanged, so a writer can sit in
    the middle of a pipeline. Kept-document counts go to stats as `kept_docs/<lang>` and
    `kept_chars/<lang>` when `count_kept` is set.
    """

    name = "atomic jsonl writer"
    type = "💽 - WRITER"

    def __init__(self, folder: str | os.PathLike, filename: str = "${rank}.jsonl.gz",
                 count_kept: bool = False, compresslevel: int = 6) -> None:
        super().__init__()
        self.folder = str(folder)
        self.filename = filename
        self.count_kept = count_kept
        # gzip's own default, 9, spent as long compressing as fastText spends on LID for ~3% smaller
        # files; 6 is zlib's default, and a shard read back once in the same run can take 1
        self.compresslevel = compresslevel
        self._template = Template(filename)
        self._by_rank_only = set(self._template.get_identifiers()) <= {"rank"}
        self._files: dict[str, tuple[IO[bytes], gzip.GzipFile, Path, Path]] = {}
        self._buffers: dict[str, list[bytes]] = {}
        self._counts: Counter = Counter()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_files"], state["_buffers"], state["_counts"] = {}, {}, Counter()
        return state

    def _handle(self, name: str) -> gzip.GzipFile:
        if name not in self._files:
            final = Path(self.folder) / name
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
            raw = open(tmp, "wb")  # noqa: SIM115 - stays open across write() calls until close()
            gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=self.compresslevel, mtime=0, filename="")
            self._files[name] = (raw, gz, tmp, final)
            self._buffers[name] = []
        return self._files[name][1]

    def _flush(self, name: str) -> None:
        # one compress call per batch of rows: per-row GzipFile.write calls dominate otherwise
        if self._buffers.get(name):
            self._handle(name).write(b"".join(self._buffers[name]))
            self._buffers[name] = []

    def write(self, doc: Document, rank: int = 0) -> None:
        if self._by_rank_only:  # the common case: no per-document substitution
            name = self._template.substitute(rank=f"{rank:05d}")
        else:
            name = self._template.substitute({**doc.metadata, "rank": f"{rank:05d}"})
        row = doc_to_row(doc)
        if name not in self._files:
            self._handle(name)
        buf = self._buffers[name]
        buf.append((_ENCODE(row) + "\n").encode("utf-8"))
        if len(buf) >= 1000:
            self._flush(name)
        if self.count_kept:
            lang = row["lang"]
            self._counts[f"kept_docs/{lang}"] += 1
            self._counts[f"kept_chars/{lang}"] += len(doc.text)
            self._counts[f"kept_chars_in/{lang}"] += doc.metadata.get("chars_in", len(doc.text))

    def close(self, success: bool = True) -> None:
        if success:
            for name in list(self._files):
                self._flush(name)
        for label, value in sorted(self._counts.items()):
            self.stat_update(label, value=value)
        self._counts = Counter()
        self._buffers = {}
        for raw, gz, tmp, final in self._files.values():
            gz.close()
            raw.flush()
            os.fsync(raw.fileno())
            raw.close()
            if success:
                os.replace(tmp, final)
            else:
                tmp.unlink(missing_ok=True)
        self._files = {}

    def __enter__(self) -> AtomicJsonlWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(success=exc_type is None)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self:
            for doc in data or ():
                with self.track_time():
                    self.write(doc, rank)
                yield doc


class XlingFilter(BaseFilter):
    """BaseFilter that also counts removals as `removed_docs/<lang>/<reason>` and `removed_chars/...`."""

    def drop(self, doc: Document, reason: str) -> tuple[bool, str]:
        lang = doc.metadata.get("lang", UND)
        self.stat_update(f"removed_docs/{lang}/{reason}")
        self.stat_update(f"removed_chars/{lang}/{reason}", value=doc.metadata.get("chars_in", len(doc.text)))
        return False, reason


class Tally(PipelineStep):
    """Counts `<label>_docs/<lang>` and `<label>_chars/<lang>` for documents passing this point."""

    name = "tally"
    type = "📊 - STATS"

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data or ():
            lang = doc.metadata.get("lang", UND)
            self.stat_update(f"{self.label}_docs/{lang}")
            self.stat_update(f"{self.label}_chars/{lang}", value=doc.metadata.get("chars_in", len(doc.text)))
            yield doc
