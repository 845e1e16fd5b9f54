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

Also holds the text key used for matching (near-duplicates and contamination): NFKC, lowercase,
punctuation dropped, Kazakh/Cyrillic homoglyphs fixed, CJK/Thai split per character.
"""

from __future__ import annotations

import logging
import os
import shutil
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import regex
import xxhash

from corpora.corpus import MAX_LINE_BYTES
from corpora.corpus import iter_docs as corpus_iter_docs
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, write_json_atomic, write_jsonl_atomic
from xling.core.langs import LanguageRegistry
from xling.core.langs import registry as lang_registry
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
                allow_partial: bool = False, outputs: tuple[str, ...] = CORPUS_OUTPUTS) -> Stage | None:
    """Start, resume or skip a corpus stage in `out` under the stage contract; None = finished with
    this config and these inputs (nothing to do). Another config or changed inputs are refused,
    naming them, unless `overwrite` (the stage's --overwrite/--force), which redoes the stage."""
    specs = list(specs)
    require_finished_inputs(specs, allow_partial)
    inputs = {f"inputs.{i}": p for i, p in enumerate(input_paths(specs))}
    stage = Stage(StageSpec(kind, out, config, inputs, outputs))
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
# Text key for matching

_CYRILLIC_RE = regex.compile(r"\p{Cyrillic}")
_SPLIT_CHAR_SCRIPTS = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF),
                       (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF))


def _word_table() -> dict[int, str | None]:
    """str.translate table: punctuation/symbols/separators → space, format chars (ZWNJ…) dropped,
    CJK/Thai/Lao/Khmer/Myanmar characters padded with spaces so each is one word."""
    table: dict[int, str | None] = {}
    for cp in range(0x30000):
        cat = unicodedata.category(chr(cp))
        if cat[0] in "PSZ" or cat in ("Cc", "Cs", "Co", "Cn"):
            table[cp] = " "
        elif cat == "Cf":
            table[cp] = None
    for lo, hi in _SPLIT_CHAR_SCRIPTS:
        for cp in range(lo, hi + 1):
            if cp not in table:
                table[cp] = f" {chr(cp)} "
    return table


_WORD_TABLE: dict[int, str | None] = {}


@lru_cache(maxsize=8)
def _lookalikes(reg: LanguageRegistry) -> tuple[regex.Pattern, dict[int, str]]:
    """The language profiles' Latin look-alikes of Cyrillic letters ("Бiлгiм" typed with a Latin i), as
    the same repair `corpora.normalize` applies, for lower-cased text: (a regex for any of them, a
    str.translate table)."""
    table = {k: v for k, v in reg.homoglyphs("Cyrl").items() if k == k.lower()}
    return regex.compile("[" + regex.escape("".join(sorted(table))) + "]"), str.maketrans(table)


def normalized_words(text: str) -> list[str]:
    """Words of `text` for matching: NFKC, lowercase, no punctuation, homoglyphs fixed."""
    if not _WORD_TABLE:  # built on first use (0.3 s), not at import: the CLI imports this module
        _WORD_TABLE.update(_word_table())
    text = unicodedata.normalize("NFKC", text).lower()
    words = text.translate(_WORD_TABLE).split()
    if not _CYRILLIC_RE.search(text):  # most text: no registry lookup on this hot path
        return words
    lookalike_re, to_cyrillic = _lookalikes(lang_registry())
    if lookalike_re.search(text):
        return [w.translate(to_cyrillic) if _CYRILLIC_RE.search(w) else w for w in words]
    return words


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
