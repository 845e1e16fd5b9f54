"""Decontamination: drop documents that contain evaluation text (reason `contaminated`).

The evaluation files come from eval_xtreme's registry (`eval_xtreme.tasks.evaluation_files`: its
held-out sets — Tatoeba, UD test/dev, FLORES-200 dev, X-WMT, XQuAD, KazQAD, KazNERD, UNER, PAWS-X,
XNLI, MLQA, TyDiQA; WMT newstest on request — and every task's dev/test files) and are read with
its loaders (`eval_xtreme.loaders.read_texts`); more files can be given with `--against`. Text is compared as normalised words (NFKC,
lowercase, no punctuation, Kazakh Latin-i and other Cyrillic homoglyphs fixed); a document is
contaminated when

1. it shares a word `ngram`-gram (13 by default, as GPT-3/FineWeb) with an evaluation unit, or
2. a run of up to `max_segment_span` of its sentences/lines equals a whole evaluation unit
   (a Tatoeba line, a UD sentence, a question) of at least `min_sentence_words` words or
   `min_sentence_chars` characters — short sentences have no 13-grams — word for word or with its
   spaces dropped (treebanks re-space words: Uyghur-UDT writes "خۇش خەتچىلەپ" where the Common Voice
   sentence it holds writes "خۇشخەتچىلەپ"), or
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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import regex
import xxhash
from tqdm import tqdm

from corpora import stage_io
from corpora.corpus import corpus_inputs
from corpora.stage_io import batch_hasher, batch_ngrams
from corpora.textkey import normalized_words
from eval_xtreme.loaders import data_file, read_texts
from eval_xtreme.tasks import HELDOUT, TASKS, DataFile, evaluation_files
from xling.core.config import add_set_option, load_config, save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, write_text_atomic
from xling.core.locking import locked_output
from xling.core.paths import DataRootError, data_root, resolve_data_path
from xling.core.report import bar_chart, markdown_table
from xling.core.stage import add_allow_partial_option

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Evaluation files: eval_xtreme's registry names them and its loaders read them


def known_sets() -> list[str]:
    """Names `sets:` and `--against` accept: eval_xtreme's held-out sets and tasks."""
    return [*HELDOUT, *TASKS]


def _check_set_name(name: str) -> None:
    if name not in HELDOUT and name not in TASKS:
        HELDOUT.get(name)  # raises with "did you mean" over the held-out names


def against_sources(against: Iterable[str | os.PathLike]) -> dict[str, list[DataFile]]:
    """`--against` entries: evaluation-set or task names, files, or folders (all files inside)."""
    out: dict[str, list[DataFile]] = {}
    for entry in against:
        if str(entry) in HELDOUT or str(entry) in TASKS:
            out.update(evaluation_files(names=[str(entry)]))
            continue
        p = resolve_data_path(entry)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "README", "LICENSE")))
        elif p.is_file():
            files = [p]
        else:
            raise FileNotFoundError(f"--against {entry}: no such file, folder or evaluation set "
                                    f"(known sets: {', '.join(known_sets())})")
        out.setdefault(p.name, []).extend(data_file(f, p.name) for f in files)
    return out


# ---------------------------------------------------------------------------------------------
# The index

# The stage's output version (part of its fingerprint): 2 since whole units also match with their spaces
# dropped (c5204c1), so a run folder decontaminated before that is refused on re-run, naming the version,
# instead of silently keeping the evaluation sentences the old matching let through.
DECONTAM_VERSION = 2

_SEGMENT_RE = regex.compile(r"\n+|(?<=[.!?…。！？؟।])\s+")


def _segment_words(text: str) -> tuple[list[str], np.ndarray, list[str]]:
    """All normalised words of `text`, the word offsets where its sentences/lines start (+ end), and
    each sentence/line with its spaces dropped."""
    words: list[str] = []
    bounds = [0]
    joined: list[str] = []
    for seg in _SEGMENT_RE.split(text):
        w = normalized_words(seg)
        if w:
            words.extend(w)
            bounds.append(len(words))
            joined.append("".join(w))
    return words, np.array(bounds, dtype=np.int64), joined


def _string_hashes(texts: Iterable[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh64_intdigest(t.encode()) for t in texts), dtype=np.uint64)


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
    # the same units with their spaces dropped: treebanks re-space words ("خۇش خەتچىلەپ" in Uyghur-UDT,
    # "خۇشخەتچىلەپ" in the Common Voice sentence it was taken from), which no word hash sees through
    joined_keys: np.ndarray
    joined_masks: np.ndarray
    suffix_lengths: np.ndarray  # word lengths of the units eligible for suffix matching
    suffix_keys: np.ndarray
    suffix_masks: np.ndarray
    max_segment_span: int = 3
    set_stats: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def build(cls, sources: dict[str, list[DataFile]], ngram: int = 13, min_sentence_words: int = 3,
              min_sentence_chars: int = 12, min_suffix_words: int = 3, min_suffix_chars: int = 15,
              max_segment_span: int = 3, progress: bool = False) -> EvalIndex:
        if len(sources) > 64:
            raise ValueError(f"at most 64 evaluation sets per index, got {len(sources)}")

        names = sorted(sources)
        ng_h, ng_m, un_h, un_m, jn_h, jn_m, sf_h, sf_m, sf_len = [], [], [], [], [], [], [], [], []
        set_stats: dict[str, dict] = {}
        for bit, name in enumerate(names):
            mask = np.uint64(1 << bit)
            units = n_ngrams = n_whole = 0
            for df in tqdm(sources[name], desc=f"index {name}", unit=" files", disable=not progress, leave=False):
                word_lists = [w for w in map(normalized_words, read_texts(df)) if w]
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
                jn_h.append(_string_hashes("".join(w) for w, ok in zip(word_lists, whole.tolist(), strict=True) if ok))
                jn_m.append(np.full(len(wh), mask))
                n_whole += int(whole.sum())
                suffix = (lengths >= min_suffix_words) & (chars >= min_suffix_chars)
                sf_h.append(hasher.spans(offsets[:-1][suffix], offsets[1:][suffix]))
                sf_m.append(np.full(int(suffix.sum()), mask))
                sf_len.extend(np.unique(lengths[suffix]).tolist())
            set_stats[name] = {"files": len(sources[name]), "units": units, "ngrams": n_ngrams, "whole_units": n_whole}
        ng_keys, ng_masks = _compact(ng_h, ng_m)
        un_keys, un_masks = _compact(un_h, un_m)
        jn_keys, jn_masks = _compact(jn_h, jn_m)
        sf_keys, sf_masks = _compact(sf_h, sf_m)
        lengths = np.unique(np.array(sf_len, dtype=np.int64))
        return cls(names, ngram, ng_keys, ng_masks, un_keys, un_masks, jn_keys, jn_masks, lengths, sf_keys,
                   sf_masks, max_segment_span, set_stats)

    _ARRAYS = ("ngram_keys", "ngram_masks", "unit_keys", "unit_masks", "joined_keys", "joined_masks",
               "suffix_lengths", "suffix_keys", "suffix_masks")

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
        hasher, offsets = batch_hasher([w for w, _, _ in seg])
        if hasher.n == 0:
            return masks
        g, doc = batch_ngrams(hasher, offsets, self.ngram, short_whole=False)
        _lookup_into(masks, doc, self.ngram_keys, self.ngram_masks, g)
        # Sentence/line boundaries as global word offsets, and the text each boundary belongs to.
        bounds = np.concatenate([b + offsets[i] for i, (_, b, _) in enumerate(seg)])
        bdoc = np.repeat(np.arange(len(texts)), [len(b) for _, b, _ in seg])
        if len(self.joined_keys):
            windows = [("".join(js[j:j + k]), i) for i, (_, _, js) in enumerate(seg)
                       for k in range(1, self.max_segment_span + 1) for j in range(len(js) - k + 1)]
            _lookup_into(masks, np.fromiter((i for _, i in windows), dtype=np.int64, count=len(windows)),
                         self.joined_keys, self.joined_masks, _string_hashes(w for w, _ in windows))
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
            _check_set_name(name)  # unknown names fail now, with a suggestion

    def sources(self) -> dict[str, list[DataFile]]:
        """{set name: files}: eval_xtreme's evaluation files under the data root, plus `against`."""
        out: dict[str, list[DataFile]] = {}
        if self.auto:
            try:
                root = resolve_data_path(self.data_root) if self.data_root else data_root()
                out = evaluation_files(root, self.sets)
            except DataRootError:
                if self.data_root is not None or not self.against:
                    raise
                log.warning("no data root: decontaminating against the --against files only")
        for name, files in against_sources(self.against).items():
            have = {df.paths for df in out.get(name, [])}
            out[name] = [*out.get(name, []), *(df for df in files if df.paths not in have)]
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
        key_data = {"v": 4, "params": params,
                    "files": {n: [(df.format, [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in df.paths])
                                  for df in dfs] for n, dfs in sorted(sources.items())}}
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


@locked_output(lambda a: a["out"])
def decontaminate_corpus(inputs: list[str | Path], out: str | Path, config: DecontamConfig | None = None,
                         overwrite: bool = False, progress: bool = True, index: EvalIndex | None = None,
                         allow_partial: bool = False) -> Path:
    """Drop contaminated documents of every language of `inputs` into `out`; resumes a killed run.
    One run per output folder at a time (`locked_output`)."""
    config = config or DecontamConfig()
    out = Path(out)
    files = corpus_inputs(inputs)
    cfg = to_dict(config)
    stage = stage_io.begin_stage("corpus-decontaminate", out, cfg, inputs, overwrite, allow_partial,
                                 version=DECONTAM_VERSION)
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decontaminate", help="drop documents overlapping evaluation sets",
                       description="Remove documents sharing long n-grams or whole sentences with evaluation data.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="corpus folder(s) and/or LANG=file.txt")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--against", nargs="+", default=[], metavar="FILE|DIR|SET",
                   help="extra evaluation text: files, folders, or eval_xtreme set/task names (`xling eval ls`)")
    p.add_argument("--sets", help="comma-separated held-out sets or tasks (default: every default held-out set "
                   "and every task's dev/test files)")
    p.add_argument("--no-auto", action="store_true", help="only use --against, no data-root discovery")
    p.add_argument("--ngram", type=int, help="words per n-gram (default 13)")
    p.add_argument("--config", type=Path, help="YAML DecontamConfig")
    add_set_option(p, "ngram=8")
    p.add_argument("--force", "--overwrite", dest="overwrite", action="store_true",
                   help="redo the stage in OUT even if it finished or was started with other settings or inputs")
    add_allow_partial_option(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    flags = {"against": [str(a) for a in args.against] or None, "sets": args.sets.split(",") if args.sets else None,
             "auto": False if args.no_auto else None, "ngram": args.ngram}
    config = load_config(DecontamConfig, args.config, args.overrides, flags)
    out = decontaminate_corpus(args.inputs, args.out, config, overwrite=args.overwrite, allow_partial=args.allow_partial)
    stats = read_json(out / "stats.json")
    for name, s in stats["eval_sets"].items():
        print(f"  {name}: {s['units']:,} units, {s['docs_hit']:,} documents hit")
    print(f"  {stats['docs_in']:,} → {stats['kept']:,} documents")
    print(f"wrote {out}/kept/<lang>/, {out}/removed/, {out}/stats.json, {out}/report.md")
    return 0
