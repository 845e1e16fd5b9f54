"""Non-neural baselines evaluated beside every model: what "no model at all" scores on the same test data.

- `baseline:char-ngram` (retrieval): character 1–3-gram TF-IDF vectors, cosine nearest neighbour.
  Many Turkic/Russian/English pairs share names, numbers, loanwords and cognates, so surface overlap
  alone retrieves a sizeable share of translations; a model score means little until it beats this.
  The vectoriser matches scikit-learn's `TfidfVectorizer(analyzer="char", ngram_range=(1, 3))`
  (lowercase, whitespace runs collapsed, raw counts, idf = ln((1 + N) / (1 + df)) + 1, L2 rows) and is
  fitted on the two sides of the set being searched (unsupervised, no labels involved).
- `baseline:mft` (tagging): a source-trained most-frequent-tag tagger learned from the task's
  fine-tuning data: the word's most frequent tag (exact form, then lowercased), else the most frequent
  tag of its longest known suffix (≤ 4 characters, lowercased), else the most frequent tag overall.
- `baseline:mft-turkic` (tagging, only beside a tagger fine-tuned with `finetune.suffix_spelling: turkic`):
  the same lookup over words in that spelling (`suffix_features.turkic_spelling`: Kazakh Cyrillic and
  Uyghur Arabic spelled as Turkish writes the same sounds). Such a tagger's ending features see the
  words that way, so this is the no-model score with the same information; the lookup alone gains from it.
- `baseline:char-bilstm` (tagging, only with `scratch_tagger: true` in the evaluation config): not a lookup
  but a tagger trained from scratch on the same fine-tuning data, with no pretrained model
  (`eval_xtreme.scratch_tagger`: word vectors and a character BiLSTM under a sentence BiLSTM, Plank et
  al. 2016), reading words as the lookup beside it does (the Turkic spelling when the model's tagger
  uses it). It says whether the pretrained encoder adds anything over characters learned on the source.
- `model:<scoring>` (retrieval, only with `retrieval.also_scoring`): the model itself searched a second
  way (e.g. `model:cosine`, XTREME's pooled cosine, beside a `maxsim` main search), not a baseline; kept
  here so reports can show and pair it like the hybrid.
- `hybrid:model+char-ngram` (retrieval, only with `retrieval.hybrid` > 0): not a no-model baseline but
  the model and the char-n-gram baseline together, as sparse–dense hybrid retrieval does (Pyserini's
  hybrid search, with its weight α chosen on dev): per query, each system's similarities to every
  candidate are standardised (z-scores over the candidates, so the two scales meet) and summed with
  weights α (model) and 1 − α (characters). Beside `baseline:char-ngram` it answers whether the model knows
  anything about translation that surface overlap does not: a model that adds nothing drags the sum
  below the characters alone.

`evaluate_baselines` loads a task's test data as the runner does and returns
`{baseline name: {language: scores}}`; the runner stores that in `results.json["baselines"]`, and both
the eval report and the run report show the baselines as extra rows/columns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csr_matrix

from xling.core.paths import resolve_data_path
from xling.core.report import markdown_table

from .loaders import load_split
from .metrics import compute, primary_score
from .retrieval import (
    SearchResult,
    adjust_hubness,
    matrix_search,
    retrieval_records,
    retrieval_scores,
    similarity_matrix,
)
from .tasks import TASKS

if TYPE_CHECKING:  # the scratch tagger needs torch; the lookups and the reports do not
    from .scratch_tagger import ScratchTaggerConfig

log = logging.getLogger(__name__)

CHAR_NGRAM = "baseline:char-ngram"
MFT = "baseline:mft"
MFT_TURKIC = "baseline:mft-turkic"
SCRATCH = "baseline:char-bilstm"
HYBRID = "hybrid:model+char-ngram"
# `retrieval.also_scoring`: the model searched a second way, e.g. "model:cosine" (kept in OUT/baselines/cosine/)
SCORED_PREFIX = "model:"
NAMES = (CHAR_NGRAM, MFT, MFT_TURKIC, SCRATCH)

_WHITESPACE = re.compile(r"\s\s+")

# A view maps text into the script the model sees (transliteration); identity when none is switched on.
TextView = Callable[[str], str]


# ---------------------------------------------------------------------------------------------------
# Character n-gram TF-IDF retrieval
# ---------------------------------------------------------------------------------------------------

def char_ngrams(text: str, n_min: int = 1, n_max: int = 3) -> Counter[str]:
    """Counts of every character n-gram, n_min ≤ n ≤ n_max, of the lowercased, whitespace-collapsed text."""
    text = _WHITESPACE.sub(" ", text.lower())
    out: Counter[str] = Counter()
    for n in range(n_min, n_max + 1):
        for i in range(len(text) - n + 1):
            out[text[i:i + n]] += 1
    return out


@dataclass
class CharNgramTfidf:
    n_min: int = 1
    n_max: int = 3

    def fit(self, docs: Sequence[str]) -> CharNgramTfidf:
        df: Counter[str] = Counter()
        for d in docs:
            df.update(char_ngrams(d, self.n_min, self.n_max).keys())
        self.vocab = {g: i for i, g in enumerate(sorted(df))}
        n = len(docs)
        # Smoothed idf: as if one extra document contained every n-gram, so none gets a zero weight.
        self.idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in sorted(df)], dtype=np.float64)
        return self

    def transform(self, docs: Sequence[str]):
        rows, cols, vals = [], [], []
        for r, d in enumerate(docs):
            for g, c in char_ngrams(d, self.n_min, self.n_max).items():
                j = self.vocab.get(g)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append(c * self.idf[j])
        m = csr_matrix((vals, (rows, cols)), shape=(len(docs), len(self.vocab)), dtype=np.float64)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return csr_matrix(m.multiply(inv[:, None]))


def char_ngram_vectors(source: Sequence[str], target: Sequence[str], n_max: int = 3):
    """Both sides' L2-normalised TF-IDF rows, the vectoriser fitted on the two sides together."""
    vec = CharNgramTfidf(1, n_max).fit([*source, *target])
    return vec.transform(source), vec.transform(target)


def char_ngram_search(source: Sequence[str], target: Sequence[str], both_directions: bool = False,
                      n_max: int = 3, chunk_size: int = 1024) -> tuple[list[int], list[int] | None]:
    """(index of the most similar target per source, and per target the most similar source if asked)."""
    s, t = char_ngram_vectors(source, target, n_max)

    def nearest(a, b) -> list[int]:
        out: list[int] = []
        for start in range(0, a.shape[0], chunk_size):
            sims = (a[start:start + chunk_size] @ b.T).toarray()
            out.extend(int(i) for i in sims.argmax(axis=1))  # ties → lowest index, as the model search
        return out

    return nearest(s, t), (nearest(t, s) if both_directions else None)


def standardize_rows(sims: np.ndarray) -> np.ndarray:
    """Each row as z-scores over its columns (a constant row becomes zeros)."""
    mean = sims.mean(axis=1, keepdims=True)
    std = sims.std(axis=1, keepdims=True)
    return (sims - mean) / np.where(std > 0, std, 1.0)


def char_ngram_similarities(source: Sequence[str], target: Sequence[str], hubness: str = "none", k: int = 4,
                            n_max: int = 3) -> np.ndarray:
    """`baseline:char-ngram`'s full (source, target) cosine matrix, hubness-corrected as asked."""
    s, t = char_ngram_vectors(source, target, n_max)
    return adjust_hubness((s @ t.T).toarray(), hubness, k)


def fused_search(model_sims: np.ndarray, char_sims: np.ndarray, weight: float) -> SearchResult:
    """Both directions' best match under `weight` × the model's similarities + (1 − `weight`) × the
    characters', each standardised per query over all candidates (rows for source → target, columns
    for target → source)."""
    if model_sims.shape != char_sims.shape:
        raise ValueError(f"fused_search: model similarities {model_sims.shape} but char-n-gram {char_sims.shape}")
    m, c = model_sims.astype(np.float64), char_sims.astype(np.float64)

    def best(a: np.ndarray, b: np.ndarray) -> list[int]:
        return [int(i) for i in (weight * standardize_rows(a) + (1.0 - weight) * standardize_rows(b)).argmax(axis=1)]

    return SearchResult(best(m, c), best(m.T, c.T))


def hybrid_search(source: Sequence[str], target: Sequence[str], source_emb: np.ndarray, target_emb: np.ndarray,
                  weight: float, n_max: int = 3, hubness: str = "none", k: int = 4) -> SearchResult:
    """`fused_search` of the model's pooled cosines and the char-n-gram TF-IDF cosines (both
    hubness-corrected as asked). `weight` 1 is the model's own search, 0 the char-n-gram baseline's."""
    if len(source) != len(source_emb) or len(target) != len(target_emb):
        raise ValueError(f"hybrid_search: {len(source)}/{len(target)} sentences but "
                         f"{len(source_emb)}/{len(target_emb)} embeddings")
    model = adjust_hubness(similarity_matrix("cosine", source_emb, target_emb), hubness, k)
    return fused_search(model, char_ngram_similarities(source, target, hubness, k, n_max), weight)


def hybrid_scores(task, rs, model_sims: np.ndarray, weight: float, records: list[dict] | None = None,
                  hubness: str = "none", k: int = 4) -> dict | None:
    """`HYBRID`'s scores on one retrieval set, given the model's (source, target) similarity matrix as
    the model was scored with, in the layout of the model's and the baseline's (`records` likewise,
    for paired intervals)."""
    if rs.gold is None:
        return None
    res = fused_search(model_sims, char_ngram_similarities(rs.source, rs.target, hubness, k), weight)
    query = getattr(task, "retrieval_query", "source")
    if records is not None:
        records.extend(retrieval_records(rs, res, query))
    return retrieval_scores(rs, res, query)


# ---------------------------------------------------------------------------------------------------
# Most-frequent-tag tagger
# ---------------------------------------------------------------------------------------------------

class MostFrequentTagTagger:
    """Word → its most frequent training tag; unknown words back off to suffixes, then the global default."""

    def __init__(self, max_suffix: int = 4) -> None:
        self.max_suffix = max_suffix
        self.words: dict[str, str] = {}
        self.lower: dict[str, str] = {}
        self.suffixes: dict[str, str] = {}
        self.default = "O"

    @staticmethod
    def _best(counts: Counter[str]) -> str:
        # Ties broken by tag name so the tagger does not depend on the order of the training data.
        return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    def fit(self, sentences: Sequence[tuple[Sequence[str], Sequence[str]]]) -> MostFrequentTagTagger:
        words: dict[str, Counter[str]] = defaultdict(Counter)
        lower: dict[str, Counter[str]] = defaultdict(Counter)
        suffixes: dict[str, Counter[str]] = defaultdict(Counter)
        total: Counter[str] = Counter()
        for tokens, tags in sentences:
            for tok, tag in zip(tokens, tags, strict=True):
                words[tok][tag] += 1
                low = tok.lower()
                lower[low][tag] += 1
                for k in range(1, min(self.max_suffix, len(low)) + 1):
                    suffixes[low[-k:]][tag] += 1
                total[tag] += 1
        if not total:
            raise ValueError("most-frequent-tag baseline: the training data has no tagged tokens")
        self.words = {w: self._best(c) for w, c in words.items()}
        self.lower = {w: self._best(c) for w, c in lower.items()}
        self.suffixes = {s: self._best(c) for s, c in suffixes.items()}
        self.default = self._best(total)
        return self

    def tag(self, tokens: Sequence[str]) -> list[str]:
        out = []
        for tok in tokens:
            tag = self.words.get(tok) or self.lower.get(tok.lower())
            if tag is None:
                low = tok.lower()
                for k in range(min(self.max_suffix, len(low)), 0, -1):
                    tag = self.suffixes.get(low[-k:])
                    if tag is not None:
                        break
            out.append(tag or self.default)
        return out


# ---------------------------------------------------------------------------------------------------
# Evaluation beside a model
# ---------------------------------------------------------------------------------------------------

def _identity(text: str) -> str:
    return text


def retrieval_baseline_scores(task, rs, both_directions: bool = False, view: TextView = _identity,
                              records: list[dict] | None = None, hubness: str = "none", k: int = 4) -> dict | None:
    """Scores of the char-n-gram baseline on one retrieval set (None without gold), computed like the
    model's: both directions searched, `accuracy` being the task's primary direction (en → xx for
    XTREME's Tatoeba, as its leaderboard). `both_directions` is kept for callers; both are always scored.
    `records`, if given, receives the per-query prediction records in the model's layout (same ids),
    so a report can compare model and baseline example by example (paired bootstrap). `hubness`:
    the correction the model's search used (`RetrievalConfig.hubness`, its `margin_k` as `k`)."""
    if rs.gold is None:
        return None
    source, target = [view(s) for s in rs.source], [view(t) for t in rs.target]
    if hubness == "none":
        fwd, bwd = char_ngram_search(source, target, True)
        assert bwd is not None
        res = SearchResult(fwd, bwd)
    else:
        res = matrix_search(char_ngram_similarities(source, target, hubness, k))
    query = getattr(task, "retrieval_query", "source")
    if records is not None:
        records.extend(retrieval_records(rs, res, query))
    return retrieval_scores(rs, res, query)


def train_mft(train: Sequence, view: TextView = _identity) -> MostFrequentTagTagger:
    return MostFrequentTagTagger().fit([([view(t) for t in ex.tokens], ex.tags) for ex in train if ex.tags])


# Trained scratch taggers of this process by (data, settings): an evaluation scores the same tagger on the
# test languages and on the source's dev split, and `xling run` evaluates every arm on the same data, so
# training it again would cost minutes each time. A tagger is a few MB; the oldest goes beyond four.
_SCRATCH_CACHE: dict[str, Any] = {}
_SCRATCH_KEEP = 4


def scratch_baseline(train: Sequence, dev: Sequence | None, view: TextView = _identity,
                     cfg: ScratchTaggerConfig | None = None):
    """`SCRATCH`: `eval_xtreme.scratch_tagger` trained on `train`'s tagged sentences (words through `view`),
    its kept state chosen on `dev`'s; one training per distinct data and settings in a process."""
    from .scratch_tagger import ScratchTaggerConfig, train_scratch_tagger

    cfg = cfg or ScratchTaggerConfig()

    def pairs(examples: Sequence | None) -> list[tuple[list[str], list[str]]]:
        return [([view(t) for t in ex.tokens], list(ex.tags)) for ex in examples or () if ex.tags]

    tr, dv = pairs(train), pairs(dev)
    key = hashlib.sha256(json.dumps([tr, dv, dataclasses.asdict(cfg)], ensure_ascii=False).encode()).hexdigest()
    if key not in _SCRATCH_CACHE:
        log.info("%s: training on %d sentences (dev: %d), %d updates", SCRATCH, len(tr), len(dv), cfg.max_steps)
        while len(_SCRATCH_CACHE) >= _SCRATCH_KEEP:
            del _SCRATCH_CACHE[next(iter(_SCRATCH_CACHE))]
        _SCRATCH_CACHE[key] = train_scratch_tagger(tr, dv or None, cfg, log.info)
    return _SCRATCH_CACHE[key]


def mft_scores(task, tagger: MostFrequentTagTagger, examples: Sequence, lang: str,
               view: TextView = _identity, records: list[dict] | None = None) -> dict | None:
    if any(ex.tags is None for ex in examples):
        return None
    sentences = [[view(t) for t in ex.tokens] for ex in examples]
    preds = tagger.tag_all(sentences) if hasattr(tagger, "tag_all") else [tagger.tag(s) for s in sentences]
    if records is not None:
        records.extend({"id": ex.id, "prediction": p, "gold": ex.tags} for ex, p in zip(examples, preds, strict=True))
    return compute(task.metric, preds, [ex.tags for ex in examples], lang=lang)


def evaluate_baselines(task, langs: Sequence[str], load_test: Callable[[str], Any], load_train: Callable[[], Any],
                       max_eval_examples: int | dict[str, int] = 0, both_directions: bool = False,
                       view: TextView = _identity,
                       records: dict[str, dict[str, list[dict]]] | None = None,
                       suffix_spelling: str = "native", hubness: str = "none",
                       hubness_k: int = 4, scratch: ScratchTaggerConfig | None = None,
                       load_dev: Callable[[], Any] | None = None) -> dict[str, dict[str, dict]]:
    """`{baseline: {lang: scores}}` for one task; `load_test(lang)` returns the test examples or None.
    `records`, if given, is filled with `{baseline: {lang: per-example prediction records}}`.
    `suffix_spelling`: the tagger's (`FinetuneConfig.suffix_spelling`); "turkic" adds `MFT_TURKIC`.
    `hubness`, `hubness_k`: the retrieval search's correction (`RetrievalConfig.hubness`, `margin_k`).
    `scratch` (tagging): also train `SCRATCH` with these settings, its kept state chosen on `load_dev()`
    (the source's dev examples; None: the last state).

    `max_eval_examples`: keep the first N test examples (one N, or one per language: the counts the
    model was scored on, so model and baseline always see the same examples).

    BUCC (margin mining with a dev-tuned threshold), classification and QA have no baseline here.
    """
    out: dict[str, dict[str, dict]] = {}

    def limit(lang: str) -> int:
        return max_eval_examples.get(lang, 0) if isinstance(max_eval_examples, dict) else max_eval_examples

    if task.kind == "retrieval" and not task.name.startswith("bucc"):
        for lang in langs:
            rs = load_test(lang)
            if rs is None:
                continue
            if limit(lang) > 0:
                rs = rs.first(limit(lang))  # the model's --max-eval subset, exactly
            recs: list[dict] = []
            s = retrieval_baseline_scores(task, rs, both_directions, view, recs, hubness, hubness_k)
            if s is not None:
                out.setdefault(CHAR_NGRAM, {})[lang] = s
                if records is not None:
                    records.setdefault(CHAR_NGRAM, {})[lang] = recs
    elif task.kind == "token_classification":
        from .suffix_features import keyed_words, turkic_spelling

        def as_keyed(examples: Sequence) -> list:  # the words the tagger's Turkic-spelled features read
            return [replace(ex, tokens=keyed_words(ex.tokens, ex.written, "turkic")) for ex in examples]

        train = load_train()
        taggers = {MFT: (train_mft(train, view), view)}
        if suffix_spelling == "turkic":
            def spelled(text: str) -> str:
                return turkic_spelling(view(text))
            taggers[MFT_TURKIC] = (train_mft(train, spelled), spelled)
        if scratch is not None:
            # the words the lookup beside it reads: the Turkic spelling where the model's tagger uses it
            words = taggers[MFT_TURKIC if suffix_spelling == "turkic" else MFT][1]
            dev = load_dev() if load_dev else None
            if dev is not None and suffix_spelling == "turkic":
                dev = as_keyed(dev)
            taggers[SCRATCH] = (scratch_baseline(train, dev, words, scratch), words)
        for lang in langs:
            examples = load_test(lang)
            if examples is None:
                continue
            if limit(lang) > 0:
                examples = examples[:limit(lang)]
            for name, (tagger, words) in taggers.items():
                recs = []
                read = examples
                if name == MFT_TURKIC or (name == SCRATCH and suffix_spelling == "turkic"):
                    read = as_keyed(examples)
                s = mft_scores(task, tagger, read, lang, words, recs)
                if s is not None:
                    out.setdefault(name, {})[lang] = s
                    if records is not None:
                        records.setdefault(name, {})[lang] = recs
    return out


def baselines_for_task(task, data: dict[str, dict], cfg,
                       records: dict[str, dict[str, list[dict]]] | None = None,
                       suffix_spelling: str = "native") -> dict[str, dict[str, dict]]:
    """The runner's hook: baselines on the test files an `EvalConfig` run read, `data` being its
    `{lang: {"examples": n, ...}}` summary (the languages and example counts the model was scored on);
    `records` receives their per-example predictions; `suffix_spelling` is the task's tagger's."""
    root = resolve_data_path(cfg.data_root) if cfg.data_root else None

    def load_test(lang: str):
        from .views import apply_view

        # The model's input view (transliteration) applies to the baselines too: same text, same test.
        return apply_view(task, lang, load_split(task, "test", lang, root, cfg.allow_fixtures)[0],
                          getattr(cfg, "view", []))

    def load_train():
        return load_split(task, "train", task.train_lang, root, cfg.allow_fixtures)[0]

    both = bool(getattr(cfg.retrieval, "both_directions", False))
    counts = {lg: int(d["examples"]) for lg, d in data.items()}
    rc = cfg.retrieval
    return evaluate_baselines(task, list(data), load_test, load_train, counts, both, records=records,
                              suffix_spelling=suffix_spelling, hubness=getattr(rc, "hubness", "none"),
                              hubness_k=getattr(rc, "margin_k", 4), **_scratch_args(task, cfg, root))


def _scratch_args(task, cfg, root) -> dict[str, Any]:
    """`evaluate_baselines`' scratch-tagger arguments for an `EvalConfig` (none unless `scratch_tagger`)."""
    if not getattr(cfg, "scratch_tagger", False) or task.kind != "token_classification":
        return {}

    def load_dev():
        return load_split(task, "dev", task.train_lang, root, cfg.allow_fixtures)[0] if "dev" in task.files else None
    return {"scratch": _scratch_config(), "load_dev": load_dev}


def _scratch_config() -> ScratchTaggerConfig:
    """The settings an evaluation trains `SCRATCH` with (its defaults; tests shrink them)."""
    from .scratch_tagger import ScratchTaggerConfig

    return ScratchTaggerConfig()


# predictions/<task>/source-dev/<lang>.jsonl: a fine-tuned model (or a lookup) on its source's whole dev split
SOURCE_DEV = "source-dev"


def source_dev_baselines(task, cfg, records: dict[str, list[dict]] | None = None,
                         suffix_spelling: str = "native") -> dict[str, dict]:
    """The lookups on the source language's whole dev split (`{baseline: scores}`), the no-model
    reading beside the fine-tuned model's source level; `records` receives `{baseline: records}`.
    The dev text is read as the tagger read it in fine-tuning: no transliteration view."""
    if task.kind != "token_classification" or "dev" not in task.files:
        return {}
    root = resolve_data_path(cfg.data_root) if cfg.data_root else None
    lang = task.train_lang
    recs: dict[str, dict[str, list[dict]]] = {}
    got = evaluate_baselines(
        task, [lang], lambda _: load_split(task, "dev", lang, root, cfg.allow_fixtures)[0],
        lambda: load_split(task, "train", lang, root, cfg.allow_fixtures)[0], records=recs,
        suffix_spelling=suffix_spelling, **_scratch_args(task, cfg, root))
    if records is not None:
        records.update({name: per[lang] for name, per in recs.items()})
    return {name: per[lang] for name, per in got.items()}


def baseline_folder(eval_out: str | Path, name: str) -> Path:
    """Where an evaluation run keeps a baseline's prediction records: `OUT/baselines/<name>/predictions/`,
    laid out like a model's, so reports pair them with the model's example by example."""
    return Path(eval_out) / "baselines" / name.split(":", 1)[-1]


# ---------------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------------

def as_model_results(results: dict[str, Any], names: Sequence[str] = NAMES) -> dict[str, dict[str, Any]]:
    """Each baseline of `names` in `results["baselines"]` shaped like a model's results (`tasks`,
    `details`), so reports that compare models show it as one more column. The no-model baselines are
    the same for every model; `HYBRID` is the model's own (pass `names=(HYBRID,)`)."""
    out: dict[str, dict[str, Any]] = {}
    for name, per_task in (results.get("baselines") or {}).items():
        if name not in names:
            continue
        details = {t: {"data": results.get("details", {}).get(t, {}).get("data", {})} for t in per_task}
        out[name] = {"model": name, "tasks": per_task, "details": details}
    return out


def report_lines(results: dict[str, Any]) -> list[str]:
    """The eval report's baseline section: the model's primary score beside each baseline's."""
    base = results.get("baselines") or {}
    if not base:
        return []
    names = [n for n in NAMES if n in base]
    scored = sorted(n for n in base if n.startswith(SCORED_PREFIX))
    extra = [*scored, *([HYBRID] if HYBRID in base else [])]
    rows = []
    for task, per in results["tasks"].items():
        metric = TASKS.get(task).metric
        langs = sorted({lg for n in (*names, *extra) for lg in base[n].get(task, {})})
        for lg in langs:
            model = primary_score(metric, per[lg]) if lg in per else None
            vals = [primary_score(metric, base[n][task][lg]) if lg in base[n].get(task, {}) else None for n in names]
            both = [primary_score(metric, base[n][task][lg]) if lg in base[n].get(task, {}) else None for n in extra]
            best = max((v for v in vals if v is not None), default=None)
            rows.append([task, lg, model, *vals, round(model - best, 2) if model is not None and best is not None
                         else None, *both])
    rc = (results.get("config") or {}).get("retrieval", {})
    hybrid_note = (f" `{HYBRID}`: the model and `{CHAR_NGRAM}` together (per-query standardised similarities, "
                   f"weight {rc.get('hybrid')} on the model's): above `{CHAR_NGRAM}` only if the model knows "
                   "something about translation that characters do not." if HYBRID in base else "")
    hybrid_note += "".join(f" `{n}`: the model searched with `retrieval.scoring: {n[len(SCORED_PREFIX):]}` instead "
                           f"of `{rc.get('scoring', 'cosine')}`." for n in scored)
    return ["## No-model baselines", "",
            f"`{CHAR_NGRAM}`: character 1–3-gram TF-IDF cosine nearest neighbour; `{MFT}`: most frequent "
            f"tag per word / suffix learned from the fine-tuning data (`{MFT_TURKIC}`: the same over words in "
            "the Turkic spelling the tagger's ending features use)"
            + (f"; `{SCRATCH}`: a tagger trained from scratch on the same data, no pretrained model"
               if SCRATCH in base else "") + ". A model score below its baseline "
            "means the model adds nothing over surface overlap." + hybrid_note, "",
            markdown_table(["task", "language", "model", *names, "model − best baseline", *extra], rows), ""]
