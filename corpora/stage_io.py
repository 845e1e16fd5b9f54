"""Shared plumbing of the corpus stages after cleaning (dedup, decontaminate, mix).

Every stage reads `IN/kept/<lang>/*.jsonl.gz` (or `IN/<lang>/...`, or `LANG=file.txt`), writes
`OUT/kept/<lang>/NNNNN.jsonl.gz` + `OUT/removed/<lang>-NNNNN.jsonl.gz` (with `reason`) +
`OUT/stats.json`, and marks progress with small JSON markers:

- `OUT/.done/<lang>.json`: the language is fully written (its shards were renamed into place
  before the marker), so a killed run redoes at most the language it was working on;
- `OUT/stage.json`: the stage's completion record (`xling.core.stage`): `running` from the start,
  `finished` as the last write, with the fingerprint of config + inputs. A finished stage with the
  same fingerprint is skipped; another config or changed inputs are refused naming them (or redone
  with --overwrite); an input folder whose own stage has not finished is refused (--allow-partial).

Also hashes the words of the text key used for matching (`corpora.textkey.normalized_words`): one
xxh64 per word, and polynomial hashes of any span of them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from corpora.corpus import MAX_LINE_BYTES
from corpora.corpus import iter_docs as corpus_iter_docs
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, write_json_atomic, write_jsonl_atomic
from xling.core.stage import Stage, StageSpec, input_paths, require_finished_inputs

SHARD_DOCS = 50_000  # documents per output shard
log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Reading

_SHARD_SUFFIXES = (".jsonl.gz", ".jsonl", ".jsonl.xz")


def iter_docs(files: list[Path], lang: str, counts: Counter, max_line_bytes: int = MAX_LINE_BYTES
              ) -> Iterator[dict]:
    """Documents of one language; damaged input is skipped and counted, never fatal (see
    `corpora.corpus.iter_docs` for the reasons). Plain-text files give one document per non-empty
    line with id `<file>:<line>`."""
    yield from corpus_iter_docs(files, lang, counts, max_line_bytes)


def check_reading_limits(config: Any) -> None:
    """The size limits every stage config carries (`shard_docs`, `max_line_bytes`) must be positive."""
    for key in ("shard_docs", "max_line_bytes"):
        value = getattr(config, key)
        if value < 1:
            raise InputError(f"{key} must be ≥ 1, got {value}")


# ---------------------------------------------------------------------------------------------
# Writing


def write_shards(folder: Path, docs: Iterable[dict], prefix: str = "", shard_docs: int = SHARD_DOCS) -> list[Path]:
    """Write docs as `folder/<prefix>NNNNN.jsonl.gz` shards (each atomic, deterministic gzip)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    buf: list[dict] = []

    def flush() -> None:
        p = folder / f"{prefix}{len(written):05d}.jsonl.gz"
        write_jsonl_atomic(p, buf)
        written.append(p)
        buf.clear()

    for doc in docs:
        buf.append(doc)
        if len(buf) >= shard_docs:
            flush()
    if buf:
        flush()
    return written


def write_language(out: Path, lang: str, kept: Iterable[dict], removed: Iterable[dict],
                   shard_docs: int = SHARD_DOCS) -> None:
    """Replace `out/kept/<lang>/` (atomically, as a folder) and `out/removed/<lang>-*` shards."""
    with atomic_path(out / "kept" / lang) as tmp:
        write_shards(tmp, kept, shard_docs=shard_docs)
    rem_dir = out / "removed"
    rem_dir.mkdir(parents=True, exist_ok=True)
    for stale in rem_dir.glob(f"{lang}-*.jsonl.gz"):  # a killed earlier attempt may have left more shards
        stale.unlink()
    write_shards(rem_dir, removed, prefix=f"{lang}-", shard_docs=shard_docs)


# ---------------------------------------------------------------------------------------------
# Completion markers


def lang_done(out: Path, lang: str) -> dict | None:
    p = out / ".done" / f"{lang}.json"
    return read_json(p) if p.is_file() else None


def mark_lang_done(out: Path, lang: str, info: dict) -> None:
    write_json_atomic(out / ".done" / f"{lang}.json", info)


CORPUS_OUTPUTS = ("kept", "removed", ".done", "stats.json", "report.md", "config.yaml")


def begin_stage(kind: str, out: Path, config: dict[str, Any], specs: Iterable[str | os.PathLike], overwrite: bool,
                allow_partial: bool = False, outputs: tuple[str, ...] = CORPUS_OUTPUTS, version: int = 1) -> Stage | None:
    """Start, resume or skip a corpus stage in `out` under the stage contract; None = finished with
    this config and these inputs (nothing to do). Another config or changed inputs are refused,
    naming them, unless `overwrite` (the stage's --overwrite/--force), which redoes the stage. `version`
    is the stage's output version (`StageSpec.version`): bumped when the same config gives other output."""
    specs = list(specs)
    require_finished_inputs(specs, allow_partial)
    inputs = {f"inputs.{i}": p for i, p in enumerate(input_paths(specs))}
    stage = Stage(StageSpec(kind, out, config, inputs, outputs, version=version))
    status = stage.begin(force=overwrite)
    if status == "finished":
        log.info("%s: finished with this config and these inputs (stage.json); nothing to do", out)
        return None
    if status == "resume":
        _clear_partial_writes(out)
    return stage


def _clear_partial_writes(out: Path) -> None:
    """Remove `.tmp-*`/`.old-*` leftovers of `atomic_path` from a killed run (one run per OUT)."""
    for folder in (out, out / "kept", out / "removed", out / ".done"):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith((".tmp-", ".old-")):
                    shutil.rmtree(p) if p.is_dir() else p.unlink()


def finish_stage(out: Path, stats: dict, stage: Stage) -> None:
    write_json_atomic(out / "stats.json", stats)
    stage.finish({"languages": sorted(stats.get("languages", {}))})


# ---------------------------------------------------------------------------------------------
# Hashing the matching key's words (`corpora.textkey.normalized_words`)

_HASH_CACHE: dict[str, int] = {}


def word_hashes(words: list[str]) -> np.ndarray:
    """xxh64 of each word (memoised: word frequencies are Zipfian, so most lookups hit)."""
    cache = _HASH_CACHE
    try:
        return np.array([cache[w] for w in words], dtype=np.uint64)
    except KeyError:
        if len(cache) > 2_000_000:
            cache.clear()
        for w in words:
            if w not in cache:
                cache[w] = xxhash.xxh64_intdigest(w.encode())
        return np.array([cache[w] for w in words], dtype=np.uint64)


_R = np.uint64(0x9E3779B97F4A7C15)  # odd, hence invertible mod 2^64
_R_INV = np.uint64(pow(int(_R), -1, 1 << 64))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.uint64)
    out[0] = 1
    if n > 1:
        out[1:] = base
        np.cumprod(out, out=out)  # wraps mod 2^64, as intended
    return out


class SpanHasher:
    """O(1) hashes of any word span [s, e) of one text, via position-weighted prefix sums mod 2^64.

    h(s, e) = Σ_{i<e-s} w[s+i]·R^i — the same value for the same word sequence anywhere, so eval
    sentences and document spans (n-grams, whole sentences) are compared by 64-bit hashes.
    """

    def __init__(self, hashes: np.ndarray) -> None:
        n = len(hashes)
        self.n = n
        with np.errstate(over="ignore"):
            self.pow = _powers(_R, n + 1)
            self.inv = _powers(_R_INV, n + 1)
            self.prefix = np.zeros(n + 1, dtype=np.uint64)
            np.cumsum(hashes * self.pow[:n], out=self.prefix[1:])

    def spans(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (self.prefix[ends] - self.prefix[starts]) * self.inv[starts]

    def ngrams(self, n: int) -> np.ndarray:
        if self.n < n:
            return np.empty(0, dtype=np.uint64)
        starts = np.arange(self.n - n + 1)
        return self.spans(starts, starts + n)


def sequence_hash(words: list[str]) -> int:
    return int(SpanHasher(word_hashes(words)).spans(np.array([0]), np.array([len(words)]))[0])


def batch_hasher(word_lists: list[list[str]]) -> tuple[SpanHasher, np.ndarray]:
    """One SpanHasher over the concatenated words of many texts, and the texts' word offsets (n+1).

    Span hashes are position-independent, so spans inside one text hash exactly as they would alone;
    hashing a batch at once replaces per-text numpy overhead with a few whole-array operations.
    """
    lengths = np.fromiter((len(w) for w in word_lists), dtype=np.int64, count=len(word_lists))
    offsets = np.zeros(len(word_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = [w for words in word_lists for w in words]
    return SpanHasher(word_hashes(flat)), offsets


def batch_ngrams(hasher: SpanHasher, offsets: np.ndarray, n: int, short_whole: bool) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, text index) of every word n-gram inside each text; with `short_whole`, a text
    shorter than n (but not empty) contributes its whole span instead."""
    lengths = np.diff(offsets)
    counts = np.maximum(lengths - n + 1, 0)
    if short_whole:
        counts = np.where((lengths > 0) & (lengths < n), 1, counts)
    doc = np.repeat(np.arange(len(lengths)), counts)
    first = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    starts = offsets[doc] + (np.arange(len(doc)) - first[doc])
    ends = np.minimum(starts + n, offsets[doc + 1])
    return hasher.spans(starts, ends), doc
