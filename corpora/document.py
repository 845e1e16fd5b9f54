"""Helpers around datatrove's `Document` for the clean pipeline's on-disk rows and bookkeeping.

* `doc_to_row` / `row_to_doc`: the JSON row every later stage reads (`id`, `text`, `lang`,
  `lang_score`, `source`, `metadata`, plus `reason` for removed documents).
* `AtomicJsonlWriter`: a datatrove writer step (also usable as a filter's exclusion writer) that
  writes deterministic gzip (mtime 0) to a hidden temporary name and renames it into place when
  the task finishes, so a killed task never leaves a half-written shard under its final name.
* `RowShardWriter` / `read_row_shard`: the same rows as length-prefixed JSON batches, for intermediate shards
  a later stage of the same run reads back (no JSON encoding and decoding per document).
* `XlingFilter`: `BaseFilter` that counts removals per language and reason (documents, chars).
* `Tally`: counts documents and characters per language passing a point of the pipeline.
* `StatBuffer`: per-document stats and timings gathered in plain lists, added to the step's
  datatrove stats once per task (datatrove's own `stat_update`/`track_time` cost ~2 µs per call,
  and the clean pipeline made ~20 of them per document).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import IO

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.stats import MetricStats

from xling.core.errors import InputError

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


# (key, type, default) of the fixed record; the loop below inlines `_typed`'s two common cases
_FIELDS = tuple((k, tp, tp()) for k, tp in METADATA_FIELDS.items())


def doc_to_row(doc: Document) -> dict:
    """The output row: required fields first, the fixed metadata record under `metadata`."""
    meta = dict(doc.metadata)
    pop = meta.pop
    row = {"id": doc.id, "text": doc.text, "lang": pop("lang", UND),
           "lang_score": float(pop("lang_score", 0.0)), "source": str(pop("source", ""))}
    reason = pop("filter_reason", None)
    if reason is not None:
        row["reason"] = str(reason)
    fixed = {}
    for key, tp, default in _FIELDS:
        value = pop(key, None)
        if value is None:
            fixed[key] = default
        elif type(value) is tp:
            fixed[key] = value
        else:
            fixed[key] = _typed(value, tp)
    meta.pop("file_path", None)
    if fixed["extra"] or meta:
        extra = json.loads(fixed["extra"]) if fixed["extra"] else {}
        extra.update(meta)
        fixed["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str) if extra else ""
    row["metadata"] = fixed
    return row


def row_to_doc(row: dict) -> Document:
    meta = {k: v for k, v in (row.get("metadata") or {}).items() if v not in (None, "")}
    for key in _TOP_LEVEL:
        if key in row:
            meta[key] = row[key]
    return Document(text=row["text"], id=row["id"], metadata=meta)


class StatBuffer:
    """Per-document stats of one task, kept in plain lists and added to a step's datatrove stats once.

    `add(label, value)` stands for `step.stat_update(label, value=value)` and `times` for
    `step.track_time()` around each document; `flush(step)` gives datatrove the same totals, counts,
    minima and maxima (mean and variance up to float rounding) and the labels in first-seen order,
    as the per-document calls would have.
    """

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.values: defaultdict[str, list[float]] = defaultdict(list)
        self.times: list[float] = []

    def add(self, label: str, value: float = 1) -> None:
        self.values[label].append(value)

    def flush(self, step: PipelineStep) -> None:
        for label, values in self.values.items():
            step.stats[label] = step.stats[label] + _metric(values)
        if self.times:
            ts = step.stats.time_stats
            merged = MetricStats(ts.total, ts.n, ts.mean, ts.min, ts.max, ts._running_variance) + _metric(self.times)
            ts.total, ts.n, ts.mean, ts.min, ts.max = merged.total, merged.n, merged.mean, merged.min, merged.max
            ts._running_variance = merged._running_variance
            if ts.n_tasks == 1:  # as TimingStats.update keeps them for one task
                ts.global_mean = ts.global_min = ts.global_max = ts.total
        self.values = defaultdict(list)
        self.times = []


def add_count(step: PipelineStep, label: str, n: int) -> None:
    """`n` calls of `step.stat_update(label)` at once (exact: every value is 1)."""
    if n:
        step.stats[label] = step.stats[label] + MetricStats(total=n, n=n, mean=1.0, min=1, max=1)


def _metric(values: list[float]) -> MetricStats:
    n = len(values)
    total = sum(values)
    mean = total / n
    return MetricStats(total=total, n=n, mean=mean, min=min(values), max=max(values),
                       _running_variance=sum((x - mean) * (x - mean) for x in values) if n > 1 else 0.0)


class AtomicJsonlWriter(PipelineStep):
    """Write documents as gzipped JSON lines; files appear under their final names only on success.

    `filename` is a `string.Template` over `rank` (zero-padded) and any metadata key, e.g.
    `"${lang}/${rank}.jsonl.gz"`. Documents pass through `run` unchanged, so a writer can sit in
    the middle of a pipeline. Kept-document counts go to stats as `kept_docs/<lang>` and
    `kept_chars/<lang>` when `count_kept` is set.
    """

    name = "atomic jsonl writer"
    type = "💽 - WRITER"
    batch_rows = 1000  # rows encoded and compressed together

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
        self._keys = tuple(k for k in self._template.get_identifiers() if k != "rank")
        self._names: dict[tuple, str] = {}  # (rank, metadata values) → file name
        self._files: dict[str, tuple[IO[bytes], gzip.GzipFile, Path, Path]] = {}
        self._buffers: dict[str, list[dict]] = {}
        self._counts: Counter = Counter()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_files"], state["_buffers"], state["_counts"], state["_names"] = {}, {}, Counter(), {}
        return state

    def encode(self, rows: list[dict]) -> bytes:
        """One batch of rows as the file's bytes (before compression)."""
        return ("\n".join(map(_ENCODE, rows)) + "\n").encode("utf-8")

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
        # one encode and one compress call per batch of rows: per-row calls dominate otherwise
        if self._buffers.get(name):
            self._handle(name).write(self.encode(self._buffers[name]))
            self._buffers[name] = []

    def _name(self, doc: Document, rank: int) -> str:
        key = (rank, *(doc.metadata.get(k) for k in self._keys))
        name = self._names.get(key)
        if name is None:  # first document of this rank and these values (a missing key raises here)
            name = self._names[key] = self._template.substitute({**doc.metadata, "rank": f"{rank:05d}"})
        return name

    def write(self, doc: Document, rank: int = 0) -> None:
        name = self._name(doc, rank)
        row = doc_to_row(doc)
        if name not in self._files:
            self._handle(name)
        buf = self._buffers[name]
        buf.append(row)
        if len(buf) >= self.batch_rows:
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
        buf = StatBuffer()
        times, clock, write = buf.times, time.perf_counter, self.write
        try:
            with self:
                for doc in data or ():
                    t0 = clock()
                    write(doc, rank)
                    times.append(clock() - t0)
                    yield doc
        finally:
            buf.flush(self)


_FRAME = struct.Struct("<Q")  # byte length of the JSON batch that follows


class RowShardWriter(AtomicJsonlWriter):
    """`AtomicJsonlWriter`'s rows as length-prefixed batches, for shards that a later stage of the same
    run reads back with `read_row_shard`. One `json.dumps` per batch of rows instead of one per line;
    JSON, not pickle, because reading an output folder must never run code from it."""

    name = "row shard writer"

    def encode(self, rows: list[dict]) -> bytes:
        blob = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return _FRAME.pack(len(blob)) + blob


def read_row_shard(path: str | os.PathLike) -> Iterator[dict]:
    """The rows of a `RowShardWriter` file, in order; a truncated file is an `InputError` naming it."""
    with gzip.open(path, "rb") as f:
        while head := f.read(_FRAME.size):
            if len(head) < _FRAME.size:
                raise InputError(f"{path}: truncated row shard (partial frame header)")
            size = _FRAME.unpack(head)[0]
            blob = f.read(size)
            if len(blob) < size:
                raise InputError(f"{path}: truncated row shard ({len(blob)} of {size} bytes of a batch)")
            try:
                batch = json.loads(blob)
            except ValueError as e:
                raise InputError(f"{path}: corrupt row shard batch ({e})") from None
            yield from batch


class XlingFilter(BaseFilter):
    """BaseFilter that also counts removals as `removed_docs/<lang>/<reason>` and `removed_chars/...`.

    `run` does what `BaseFilter.run` does for a batch size of 1 (the same stats, the same documents
    to the exclusion writer with `filter_reason`), with the per-document stats in a `StatBuffer`.
    """

    _buf: StatBuffer | None = None

    def drop(self, doc: Document, reason: str) -> tuple[bool, str]:
        lang = doc.metadata.get("lang", UND)
        if self._buf is None:  # filter() called outside run()
            self.stat_update(f"removed_docs/{lang}/{reason}")
            self.stat_update(f"removed_chars/{lang}/{reason}", value=doc.metadata.get("chars_in", len(doc.text)))
        else:
            self._buf.add(f"removed_docs/{lang}/{reason}")
            self._buf.add(f"removed_chars/{lang}/{reason}", doc.metadata.get("chars_in", len(doc.text)))
        return False, reason

    def count(self, label: str, value: float = 1) -> None:
        """`stat_update(label, value=value)`, through the task's `StatBuffer` while `run` is going."""
        if self._buf is None:
            self.stat_update(label, value=value)
        else:
            self._buf.add(label, value)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.batch_size != 1:
            yield from super().run(data, rank, world_size)
            return
        buf = self._buf = StatBuffer()
        add, times, clock, keep = buf.add, buf.times, time.perf_counter, self.filter
        try:
            with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
                for doc in data or ():
                    t0 = clock()
                    result = keep(doc)
                    times.append(clock() - t0)
                    add("total")
                    reason = None
                    if isinstance(result, tuple):
                        result, reason = result
                    if result:
                        add("forwarded")
                        add("doc_len", len(doc.text))
                        if token_count := doc.metadata.get("token_count", None):
                            add("doc_len_tokens", token_count)
                        yield doc
                    else:
                        add("dropped")
                        if reason:
                            add(f"dropped_{reason}")
                        if writer:
                            if reason:
                                doc.metadata["filter_reason"] = reason
                            writer.write(doc, rank)
        finally:
            self._buf = None
            buf.flush(self)


class Tally(PipelineStep):
    """Counts `<label>_docs/<lang>` and `<label>_chars/<lang>` for documents passing this point."""

    name = "tally"
    type = "📊 - STATS"

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        buf = StatBuffer()
        try:
            for doc in data or ():
                lang = doc.metadata.get("lang", UND)
                buf.add(f"{self.label}_docs/{lang}")
                buf.add(f"{self.label}_chars/{lang}", doc.metadata.get("chars_in", len(doc.text)))
                yield doc
        finally:
            buf.flush(self)
