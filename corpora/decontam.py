"""Decontamination: drop documents that contain evaluation text (reason `contaminated`).

Evaluation sets are found under the data root by name (`EVAL_SETS`: Tatoeba, UD test/dev,
FLORES-200 dev, X-WMT, XQuAD, KazQAD, KazNERD, UNER, PAWS-X, XNLI, MLQA, TyDiQA; WMT newstest on
request) and/or given as files with `--against`. Text is compared as normalised words (NFKC,
lowercase, no punctuation, Kazakh Latin-i and other Cyrillic homoglyphs fixed); a document is
contaminated when

1. it shares a word `ngram`-gram (13 by default, as GPT-3/FineWeb) with an evaluation unit, or
2. a run of up to `max_segment_span` of its sentences/lines equals a whole evaluation unit
   (a Tatoeba line, a UD sentence, a question) of at least `min_sentence_words` words or
   `min_sentence_chars` characters — short sentences have no 13-grams, or
3. one of its sentences/lines *ends with* a whole evaluation unit of ≥ `min_suffix_words` (3) words
   and ≥ `min_suffix_chars` (15) letters (an evaluation sentence glued after text that lacks final
   punctuation, as when web lines are joined).

Words are hashed (xxh64) and spans compared as 64-bit polynomial hashes, so the index of all
default evaluation sets (~2M n-grams) is a few sorted numpy arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import regex

from corpora import stage_io
from corpora.stage_io import batch_hasher, batch_ngrams, normalized_words
from xling.errors import InputError
from xling.io import atomic_path, open_text
from xling.locking import output_lock
from xling.registry import Registry

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Readers: evaluation file → text units (sentences, questions, paragraphs)

_TEXT_KEYS = {"context", "question", "question_text", "document_plaintext", "sentence1", "sentence2",
              "premise", "hypothesis", "passage", "passage_text"}


def read_cells(path: Path) -> Iterator[str]:
    """Plain lines; tab-separated files give each cell (ids and labels never reach the minimum length)."""
    with open_text(path, errors="replace") as f:
        for line in f:
            for cell in line.rstrip("\n").split("\t"):
                if cell.strip():
                    yield cell.strip()


_TEXT_LINE_RE = regex.compile(r"^# text = (.*)$", regex.M)


def read_conllu(path: Path) -> Iterator[str]:
    """`# text = ...` of each sentence; files without them give each sentence's joined FORM column."""
    with open_text(path, errors="replace") as f:
        raw = f.read()
    texts = _TEXT_LINE_RE.findall(raw)
    if texts:
        yield from (t.strip() for t in texts)
        return
    for block in raw.split("\n\n"):
        forms = [c[1] for c in (ln.split("\t") for ln in block.splitlines() if ln and not ln.startswith("#"))
                 if len(c) > 1 and c[0].isdigit()]
        if forms:
            yield " ".join(forms)


def read_token_columns(path: Path) -> Iterator[str]:
    """CoNLL/IOB2 token-per-line files (KazNERD `token TAG`, UNER `id token tag ...`)."""
    with open_text(path, errors="replace") as f:
        text, tokens = None, []
        for line in f:
            line = line.strip()
            if not line:
                if text or tokens:
                    yield text or " ".join(tokens)
                text, tokens = None, []
            elif line.startswith("# text ="):
                text = line.split("=", 1)[1].strip()
            elif not line.startswith("#"):
                cols = line.split("\t") if "\t" in line else line.split(" ")
                tokens.append(cols[1] if len(cols) > 2 and cols[0].isdigit() else cols[0])
        if text or tokens:
            yield text or " ".join(tokens)


def _walk_json(obj: object) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _TEXT_KEYS and isinstance(v, str):
                yield v
            elif isinstance(v, (dict, list)):
                yield from _walk_json(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_json(v)


def read_json(path: Path) -> Iterator[str]:
    """SQuAD-style JSON (XQuAD, MLQA, TyDiQA-GoldP) or JSON lines: contexts, questions, sentence pairs."""
    with open_text(path, errors="replace") as f:
        raw = f.read()
    try:
        yield from _walk_json(json.loads(raw))
    except json.JSONDecodeError:
        for lineno, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    yield from _walk_json(json.loads(line))
                except json.JSONDecodeError:
                    raise InputError(f"{path}:{lineno}: malformed JSON line") from None


def read_arrow(path: Path) -> Iterator[str]:
    """A Hugging Face `save_to_disk` Arrow shard (MLQA de)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as src:
        table = pa.ipc.open_stream(src).read_all()
    for name in table.column_names:
        if name in _TEXT_KEYS:
            yield from (v for v in table.column(name).to_pylist() if isinstance(v, str))


def reader_for(path: Path) -> Callable[[Path], Iterator[str]]:
    name = path.name
    for suffix in (".xz", ".gz", ".bz2"):
        name = name.removesuffix(suffix)
    if name.endswith(".conllu"):
        return read_conllu
    if name.endswith(".iob2") or name.startswith("IOB2_"):
        return read_token_columns
    if name.endswith((".json", ".jsonl")):
        return read_json
    if name.endswith(".arrow"):
        return read_arrow
    return read_cells


# ---------------------------------------------------------------------------------------------
# Evaluation sets under the data root


@dataclass(frozen=True)
class EvalSource:
    patterns: tuple[str, ...]  # globs relative to the data root
    default: bool = True  # part of the automatic set list
    description: str = ""

    def files(self, root: Path) -> list[Path]:
        found: set[Path] = set()
        for pat in self.patterns:
            found.update(p for p in root.glob(pat) if p.is_file() and not p.name.endswith(".labels"))
        return sorted(found)


EVAL_SETS: Registry[EvalSource] = Registry("evaluation set")
for _name, _src in {
    "tatoeba": EvalSource(("tatoeba/tatoeba.*-eng.*",), description="LASER Tatoeba v1 (XTREME)"),
    "tatoeba_challenge": EvalSource(("parallel/tatoeba_challenge_test_*/*/tatoeba-test-*",),
                                    description="Tatoeba Translation Challenge test"),
    "ud": EvalSource(("udpos/**/*-ud-test.conllu*", "udpos/**/*-ud-dev.conllu*"), description="UD test/dev"),
    "uner": EvalSource(("ner/uner/**/*-test.iob2*", "ner/uner/**/*-dev.iob2*"), description="Universal NER test/dev"),
    "kaznerd": EvalSource(("ner/kaznerd/IOB2_valid.txt*", "ner/kaznerd/IOB2_test.txt*"), description="KazNERD"),
    "flores200": EvalSource(("parallel/*/flores200/dev/*.dev", "parallel/*/flores200/devtest/*.devtest"),
                            description="FLORES-200 dev"),
    "xwmt": EvalSource(("parallel/xwmt/*-*/*-*.*",), description="X-WMT Turkic test"),
    "wmt_newstest": EvalSource(("parallel/*/wmt_newstest/*/*/newstest*",), default=False,
                               description="WMT newstest (only when used for evaluation)"),
    "xquad": EvalSource(("xquad/xquad.*.json*",), description="XQuAD"),
    "kazqad": EvalSource(("kazqad/reading-comprehension/*-validation.jsonl*", "kazqad/reading-comprehension/*-test.jsonl*",
                          "kazqad/information-retrieval/*topics*-validation.tsv*",
                          "kazqad/information-retrieval/*topics*-test.tsv*"), description="KazQAD"),
    "pawsx": EvalSource(("pawsx/**/dev*.tsv*", "pawsx/**/test*.tsv*"), description="PAWS-X dev/test"),
    "xnli": EvalSource(("xnli/**/xnli.dev*", "xnli/**/xnli.test*", "xnli/*XGLUE/dev.txt*", "xnli/*XGLUE/test.txt*"),
                       description="XNLI dev/test"),
    "mlqa": EvalSource(("mlqa/**/dev-context-*.json", "mlqa/**/test-context-*.json", "mlqa/**/validation/*.arrow"),
                       description="MLQA dev/test"),
    "tydiqa": EvalSource(("tydiqa/**/*-dev.json*", "tydiqa/**/tydiqa-v1.0-dev.jsonl*", "tydiqa/**/tiny_dev.jsonl*"),
                         description="TyDi QA dev"),
}.items():
    EVAL_SETS.register(_name, _src)


def discover_eval_sets(root: str | os.PathLike | None = None, names: Iterable[str] | None = None) -> dict[str, list[Path]]:
    """{set name: files} for the named (default: all default) evaluation sets found under the data root."""
    from xling.paths import data_root

    base = Path(root) if root is not None else data_root()
    chosen = list(names) if names is not None else [n for n, s in EVAL_SETS.items() if s.default]
    out = {}
    for name in chosen:
        files = EVAL_SETS.get(name).files(base)
        if files:
            out[name] = files
        else:
            log.warning("evaluation set %s: no files under %s", name, base)
    return out


def against_sources(against: Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    """`--against` entries: evaluation-set names, files, or folders (all files inside)."""
    from xling.paths import resolve_data_path

    out: dict[str, list[Path]] = {}
    for entry in against:
        if str(entry) in EVAL_SETS:
            out.update(discover_eval_sets(names=[str(entry)]))
            continue
        p = resolve_data_path(entry)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "README", "LICENSE")))
        elif p.is_file():
            files = [p]
        else:
            raise FileNotFoundError(f"--against {entry}: no such file, folder or evaluation set "
                                    f"(known sets: {', '.join(EVAL_SETS)})")
        out.setdefault(p.name, []).extend(files)
    return out


# ---------------------------------------------------------------------------------------------
# The index

_SEGMENT_RE = regex.compile(r"\n+|(?<=[.!?…。！？؟।])\s+")


def _segment_words(text: str) -> tuple[list[str], np.ndarray]:
    """All normalised words of `text` and the word offsets where its sentences/lines start (+ end)."""
    words: list[str] = []
    bounds = [0]
    for seg in _SEGMENT_RE.split(text):
        w = normalized_words(seg)
        if w:
            words.extend(w)
            bounds.append(len(words))
    return words, np.array(bounds, dtype=np.int64)


def _lookup_into(out: np.ndarray, doc: np.ndarray, keys: np.ndarray, masks: np.ndarray, query: np.ndarray) -> None:
    """OR into out[doc[i]] the set mask of every query[i] present in the sorted `keys`."""
    if not len(query) or not len(keys):
        return
    pos = np.searchsorted(keys, query)
    pos[pos == len(keys)] = 0
    hit = keys[pos] == query
    if hit.any():
        np.bitwise_or.at(out, doc[hit], masks[pos[hit]])


def _compact(hashes: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    h = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    m = np.concatenate(masks) if masks else np.empty(0, dtype=np.uint64)
    if not len(h):
        return h, m
    order = np.argsort(h, kind="stable")
    h, m = h[order], m[order]
    starts = np.flatnonzero(np.concatenate([[True], h[1:] != h[:-1]]))
    return h[starts], np.bitwise_or.reduceat(m, starts)


@dataclass
class EvalIndex:
    """Hashed n-grams and whole units of evaluation text; `match(text)` names the sets a text hits."""

    names: list[str]
    ngram: int
    ngram_keys: np.ndarray
    ngram_masks: np.ndarray
    unit_keys: np.ndarray  # whole units (≥ min_sentence_words / chars)
    unit_masks: np.ndarray
    suffix_lengths: np.ndarray  # word lengths of the units eligible for suffix matching
    suffix_keys: np.ndarray
    suffix_masks: np.ndarray
    max_segment_span: int = 3
    set_stats: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def build(cls, sources: dict[str, list[Path]], ngram: int = 13, min_sentence_words: int = 3,
              min_sentence_chars: int = 12, min_suffix_words: int = 3, min_suffix_chars: int = 15,
              max_segment_span: int = 3, progress: bool = False) -> EvalIndex:
        if len(sources) > 64:
            raise InputError(f"at most 64 evaluation sets per index, got {len(sources)}")
        from tqdm import tqdm

        names = sorted(sources)
        ng_h, ng_m, un_h, un_m, sf_h, sf_m, sf_len = [], [], [], [], [], [], []
        set_stats: dict[str, dict] = {}
        for bit, name in enumerate(names):
            mask = np.uint64(1 << bit)
            units = n_ngrams = n_whole = 0
            for path in tqdm(sources[name], desc=f"index {name}", unit=" files", disable=not progress, leave=False):
                word_lists = [w for w in map(normalized_words, reader_for(path)(path)) if w]
                if not word_lists:
                    continue
                units += len(word_lists)
                hasher, offsets = batch_hasher(word_lists)
                g, _ = batch_ngrams(hasher, offsets, ngram, short_whole=False)
                ng_h.append(g)
                ng_m.append(np.full(len(g), mask))
                n_ngrams += len(g)
                lengths = np.diff(offsets)
                chars = np.array([sum(map(len, w)) for w in word_lists])
                whole = (lengths >= min_sentence_words) | (chars >= min_sentence_chars)
                wh = hasher.spans(offsets[:-1][whole], offsets[1:][whole])
                un_h.append(wh)
                un_m.append(np.full(len(wh), mask))
                n_whole += int(whole.sum())
                suffix = (lengths >= min_suffix_words) & (chars >= min_suffix_chars)
                sf_h.append(hasher.spans(offsets[:-1][suffix], offsets[1:][suffix]))
                sf_m.append(np.full(int(suffix.sum()), mask))
                sf_len.extend(np.unique(lengths[suffix]).tolist())
            set_stats[name] = {"files": len(sources[name]), "units": units, "ngrams": n_ngrams, "whole_units": n_whole}
        ng_keys, ng_masks = _compact(ng_h, ng_m)
        un_keys, un_masks = _compact(un_h, un_m)
        sf_keys, sf_masks = _compact(sf_h, sf_m)
        lengths = np.unique(np.array(sf_len, dtype=np.int64))
        return cls(names, ngram, ng_keys, ng_masks, un_keys, un_masks, lengths, sf_keys, sf_masks,
                   max_segment_span, set_stats)

    _ARRAYS = ("ngram_keys", "ngram_masks", "unit_keys", "unit_masks", "suffix_lengths", "suffix_keys",
               "suffix_masks")

    def save(self, path: Path) -> None:
        meta = {"names": self.names, "ngram": self.ngram, "max_segment_span": self.max_segment_span,
                "set_stats": self.set_stats}
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **{k: getattr(self, k) for k in self._ARRAYS})

    @classmethod
    def load(cls, path: Path) -> EvalIndex:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in cls._ARRAYS}
        return cls(names=meta["names"], ngram=meta["ngram"], max_segment_span=meta["max_segment_span"],
                   set_stats=meta["set_stats"], **arrays)

    def match_masks(self, texts: list[str]) -> np.ndarray:
        """Bit mask of the evaluation sets each text hits (bit i = `names[i]`), one vectorised pass."""
        masks = np.zeros(len(texts), dtype=np.uint64)
        seg = [_segment_words(t) for t in texts]
        hasher, offsets = batch_hasher([w for w, _ in seg])
        if hasher.n == 0:
            return masks
        g, doc = batch_ngrams(hasher, offsets, self.ngram, short_whole=False)
        _lookup_into(masks, doc, self.ngram_keys, self.ngram_masks, g)
        # Sentence/line boundaries as global word offsets, and the text each boundary belongs to.
        bounds = np.concatenate([b + offsets[i] for i, (_, b) in enumerate(seg)])
        bdoc = np.repeat(np.arange(len(texts)), [len(b) for _, b in seg])
        for k in range(1, self.max_segment_span + 1):
            same = bdoc[k:] == bdoc[:-k]  # windows of k segments inside one text
            if not same.any():
                break
            _lookup_into(masks, bdoc[k:][same], self.unit_keys, self.unit_masks,
                         hasher.spans(bounds[:-k][same], bounds[k:][same]))
        if len(self.suffix_lengths):
            is_end = np.concatenate([[False], bdoc[1:] == bdoc[:-1]])  # every bound but a text's first
            e = np.repeat(bounds[is_end], len(self.suffix_lengths))
            edoc = np.repeat(bdoc[is_end], len(self.suffix_lengths))
            s = e - np.tile(self.suffix_lengths, int(is_end.sum()))
            ok = s >= offsets[edoc]
            _lookup_into(masks, edoc[ok], self.suffix_keys, self.suffix_masks, hasher.spans(s[ok], e[ok]))
        return masks

    def match_mask(self, text: str) -> int:
        return int(self.match_masks([text])[0])

    def names_of(self, mask: int) -> list[str]:
        return [n for i, n in enumerate(self.names) if mask >> i & 1]

    def match(self, text: str) -> list[str]:
        """Names of the evaluation sets `text` overlaps (empty: clean)."""
        return self.names_of(self.match_mask(text))


# ---------------------------------------------------------------------------------------------
# Config, datatrove step, corpus stage


@dataclass
class DecontamConfig:
    against: list[str] = field(default_factory=list)  # extra files/folders/set names
    auto: bool = True  # also discover the evaluation sets under the data root
    sets: list[str] | None = None  # names of auto sets (null: every default set)
    data_root: str | None = None  # null: $XLING_DATA / ../shared/data
    ngram: int = 13
    min_sentence_words: int = 3
    min_sentence_chars: int = 12
    min_suffix_words: int = 3
    min_suffix_chars: int = 15  # short English endings ("they are funny!") are too common to match
    max_segment_span: int = 3
    shard_docs: int = stage_io.SHARD_DOCS
    max_line_bytes: int = stage_io.MAX_LINE_BYTES  # longer input lines are skipped and counted

    def __post_init__(self) -> None:
        stage_io.check_reading_limits(self)
        if self.ngram < 1:
            raise InputError(f"ngram must be ≥ 1, got {self.ngram}")
        for name in self.sets or []:
            EVAL_SETS.get(name)  # unknown names fail now, with a suggestion

    def sources(self) -> dict[str, list[Path]]:
        from xling.paths import DataRootError

        out: dict[str, list[Path]] = {}
        if self.auto:
            try:
                out = discover_eval_sets(self.data_root, self.sets)
            except DataRootError:
                if self.data_root is not None or not self.against:
                    raise
                log.warning("no data root: decontaminating against the --against files only")
        for name, files in against_sources(self.against).items():
            out.setdefault(name, [])
            out[name] = sorted(set(out[name]) | set(files))
        if not out:
            raise InputError("no evaluation text to decontaminate against: give --against files or keep auto on "
                             "with a data root that holds the evaluation sets")
        return out

    def build_index(self, progress: bool = False, cache: bool = True) -> EvalIndex:
        """The index of this config's evaluation text, memoised on disk (`$XLING_CACHE`, default
        `~/.cache/xling`) under a key of the matching parameters and every file's path, size and mtime."""
        sources = self.sources()
        params = [self.ngram, self.min_sentence_words, self.min_sentence_chars, self.min_suffix_words,
                  self.min_suffix_chars, self.max_segment_span]
        if not cache:
            return EvalIndex.build(sources, *params, progress=progress)
        key_data = {"v": 2, "params": params, "files": {n: [(str(f), f.stat().st_size, f.stat().st_mtime_ns)
                                                            for f in fs] for n, fs in sorted(sources.items())}}
        key = hashlib.sha1(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:20]
        path = _cache_dir() / f"decontam-index-{key}.npz"
        if path.is_file():
            try:
                return EvalIndex.load(path)
            except (OSError, ValueError, KeyError) as e:
                log.warning("ignoring unreadable index cache %s (%s)", path, e)
        index = EvalIndex.build(sources, *params, progress=progress)
        index.save(path)
        # Keep the cache bounded: every other parameter/file combination costs ~25 MB.
        old = sorted(path.parent.glob("decontam-index-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[_CACHE_KEEP:]:
            stale.unlink(missing_ok=True)
        return index


_CACHE_KEEP = 6  # most recent evaluation indexes kept on disk


def _cache_dir() -> Path:
    return Path(os.environ.get("XLING_CACHE") or Path.home() / ".cache" / "xling")


def _base_filter():
    from datatrove.pipeline.filters.base_filter import BaseFilter

    return BaseFilter


class Decontaminate(_base_filter()):
    """datatrove filter step: drops documents overlapping evaluation data with reason `contaminated`.

    `Decontaminate(against=[...], ngram=13)` — `against` adds files/folders/set names to the
    evaluation sets discovered under the data root (`auto=False` to use only `against`). The
    index is built lazily in the worker, once. Each dropped document gets `metadata.contaminated_by`.
    """

    name = "🧪 Decontaminate"

    def __init__(self, against: list[str] | None = None, ngram: int = 13, auto: bool = True,
                 sets: list[str] | None = None, data_root: str | None = None, min_sentence_words: int = 3,
                 exclusion_writer=None, config: DecontamConfig | None = None, batch_size: int = 256) -> None:
        super().__init__(exclusion_writer, batch_size=batch_size)
        self.config = config or DecontamConfig(against=[str(a) for a in against or []], ngram=ngram, auto=auto,
                                               sets=sets, data_root=data_root,
                                               min_sentence_words=min_sentence_words)
        self._index: EvalIndex | None = None
        self.hits: Counter = Counter()  # evaluation set → documents hitting it

    @property
    def index(self) -> EvalIndex:
        if self._index is None:
            self._index = self.config.build_index()
        return self._index

    def filter(self, doc) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list) -> list[bool | tuple[bool, str]]:
        results: list[bool | tuple[bool, str]] = []
        for doc, mask in zip(batch, self.index.match_masks([d.text for d in batch]).tolist(), strict=True):
            if not mask:
                results.append(True)
                continue
            hit = self.index.names_of(mask)
            for name in hit:
                self.hits[name] += 1
                self.stat_update(f"contaminated_{name}")
            doc.metadata["contaminated_by"] = hit
            results.append((False, "contaminated"))
        return results


def _batched(items: Iterable[dict], n: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _decontaminate_language(out: Path, lang: str, files: list[Path], index: EvalIndex, config: DecontamConfig,
                            progress: bool) -> dict:
    """Filter one language in a single streaming pass; only removed documents are held in memory."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    bad: Counter = Counter()
    hits: Counter = Counter()
    removed: list[dict] = []
    n_in = 0

    def kept():
        nonlocal n_in
        docs = tqdm(stage_io.iter_docs(files, lang, bad, config.max_line_bytes), desc=f"decontaminate {lang}", unit=" docs",
                    disable=not progress, leave=False)
        for batch in _batched(docs, 512):
            for doc, mask in zip(batch, index.match_masks([d["text"] for d in batch]).tolist(), strict=True):
                n_in += 1
                if mask:
                    hit = index.names_of(mask)
                    hits.update(hit)
                    removed.append({**doc, "reason": "contaminated", "contaminated_by": hit})
                else:
                    yield doc

    # write_language consumes `kept()` completely before it reads `removed`, which kept() fills.
    stage_io.write_language(out, lang, kept(), removed, config.shard_docs)
    return {"docs_in": n_in, "kept": n_in - len(removed),
            "removed": {"contaminated": len(removed), **dict(sorted(bad.items()))},
            "hits": dict(sorted(hits.items())), "seconds": round(time.perf_counter() - t0, 3)}


def decontaminate_corpus(inputs: list[str | Path], out: str | Path, config: DecontamConfig | None = None,
                         overwrite: bool = False, progress: bool = True, index: EvalIndex | None = None,
                         allow_partial: bool = False) -> Path:
    """Drop contaminated documents of every language of `inputs` into `out`; resumes a killed run.
    One run per `out` at a time (`xling.locking`)."""
    with output_lock(out):
        return _decontaminate_corpus_unlocked(inputs, out, config, overwrite, progress, index, allow_partial)


def _decontaminate_corpus_unlocked(inputs: list[str | Path], out: str | Path, config: DecontamConfig | None = None,
                                   overwrite: bool = False, progress: bool = True, index: EvalIndex | None = None,
                                   allow_partial: bool = False) -> Path:
    """Drop contaminated documents of every language of `inputs` into `out`; resumes a killed run."""
    from xling.config import save_config, to_dict

    config = config or DecontamConfig()
    out = Path(out)
    files = stage_io.resolve_inputs(inputs)
    cfg = to_dict(config)
    stage = stage_io.begin_stage("corpus-decontaminate", out, cfg, inputs, overwrite, allow_partial)
    if stage is None:
        return out
    save_config(config, out / "config.yaml")
    t0 = time.perf_counter()
    index = index or config.build_index(progress=progress)
    index_seconds = time.perf_counter() - t0
    langs: dict[str, dict] = {}
    for lang, lang_files in files.items():
        info = stage_io.lang_done(out, lang)
        if info is None:
            info = _decontaminate_language(out, lang, lang_files, index, config, progress)
            stage_io.mark_lang_done(out, lang, info)
            log.info("decontaminate %s: %d → %d documents", lang, info["docs_in"], info["kept"])
        langs[lang] = info
    hits_total: Counter = Counter()
    for v in langs.values():
        hits_total.update(v["hits"])
    stats = {"stage": "decontaminate", "docs_in": sum(v["docs_in"] for v in langs.values()),
             "kept": sum(v["kept"] for v in langs.values()), "ngram": config.ngram,
             "eval_sets": {n: {**s, "docs_hit": hits_total.get(n, 0)} for n, s in index.set_stats.items()},
             "index_seconds": round(index_seconds, 3), "languages": langs}
    stats["removed"] = stats["docs_in"] - stats["kept"]
    stage_io.finish_stage(out, stats, stage)
    _write_report(out, stats)
    return out


def _write_report(out: Path, stats: dict) -> None:
    from xling.io import write_text_atomic
    from xling.report import bar_chart, markdown_table

    sets = stats["eval_sets"]
    set_rows = [[n, s["files"], s["units"], s["ngrams"], s["docs_hit"]] for n, s in sets.items()]
    lang_rows = [[lang, v["docs_in"], v["kept"], v["removed"]["contaminated"],
                  ", ".join(f"{k} {c}" for k, c in v["hits"].items())] for lang, v in stats["languages"].items()]
    bar_chart(out / "contamination.png", {"documents hit": {n: s["docs_hit"] for n, s in sets.items()}},
              title="Documents overlapping each evaluation set", ylabel="documents")
    text = "\n".join([
        "# Decontamination", "",
        f"Word {stats['ngram']}-gram and whole-sentence overlap with {len(sets)} evaluation sets. "
        f"{stats['docs_in']:,} documents in, {stats['removed']:,} removed as `contaminated`.", "",
        "## Per evaluation set", "", markdown_table(["set", "files", "units", "n-grams", "docs hit"], set_rows), "",
        "## Per language", "", markdown_table(["lang", "docs in", "kept", "contaminated", "hits by set"], lang_rows),
        "", "![contamination](contamination.png)", ""])
    write_text_atomic(out / "report.md", text)


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decontaminate", help="drop documents overlapping evaluation sets",
                       description="Remove documents sharing long n-grams or whole sentences with evaluation data.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="corpus folder(s) and/or LANG=file.txt")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--against", nargs="+", default=[], metavar="FILE|DIR|SET",
                   help="extra evaluation text: files, folders or set names (" + ", ".join(EVAL_SETS) + ")")
    p.add_argument("--sets", help="comma-separated automatic sets (default: all default sets)")
    p.add_argument("--no-auto", action="store_true", help="only use --against, no data-root discovery")
    p.add_argument("--ngram", type=int, help="words per n-gram (default 13)")
    p.add_argument("--config", type=Path, help="YAML DecontamConfig")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--force", "--overwrite", dest="overwrite", action="store_true",
                   help="redo the stage in OUT even if it finished or was started with other settings or inputs")
    p.add_argument("--allow-partial", action="store_true",
                   help="read input folders whose stage has not finished (refused without it)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from xling.config import load_config

    sets = list(args.overrides)
    if args.against:
        sets.append(f"against={json.dumps([str(a) for a in args.against])}")
    if args.sets:
        sets.append(f"sets={json.dumps(args.sets.split(','))}")
    if args.no_auto:
        sets.append("auto=false")
    if args.ngram is not None:
        sets.append(f"ngram={args.ngram}")
    config = load_config(DecontamConfig, args.config, sets)
    out = decontaminate_corpus(args.inputs, args.out, config, overwrite=args.overwrite, allow_partial=args.allow_partial)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    for name, s in stats["eval_sets"].items():
        print(f"  {name}: {s['units']:,} units, {s['docs_hit']:,} documents hit")
    print(f"  {stats['docs_in']:,} → {stats['kept']:,} documents")
    print(f"wrote {out}/kept/<lang>/, {out}/removed/, {out}/stats.json, {out}/report.md")
    return 0
