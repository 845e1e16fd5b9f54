"""95% bootstrap confidence intervals for evaluation scores, and paired bootstrap tests between models.

Every score is decomposed into per-example statistics whose aggregate reproduces the official
metric exactly (checked by the runner and the tests):

- accuracy-like scores (XNLI, PAWS-X, Tatoeba, retrieval) and QA ((EM + F1) / 2 per question,
  maximum over gold answers) are a mean over examples (`kind="mean"`);
- seqeval F1 (PAN-X, UD-POS, NER) and BUCC F1 are a ratio of summed counts
  `2·correct / (predicted + gold)` (`kind="f1"`): each entity chunk is counted in the sentence where
  it starts (chunks are found on the whole test set, as seqeval does), each BUCC pair in the
  sentence of its source side.

A resample draws n examples (sentences, pairs, questions) with replacement and recomputes the score;
the interval is the 2.5th–97.5th percentile of 1,000 resamples. The random stream of a language
is seeded by (seed, language), so the same language is resampled identically in every run and for
every model: that is what makes the paired test paired. A task mean resamples within each
language and averages the per-language resampled scores replicate by replicate.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xling.core.errors import InputError

from .metrics import _check_sentences, _flatten, qa_exact_match, qa_f1, seqeval_entities

N_RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
_CHUNK = 100  # resamples drawn at a time: bounds memory to 100 × n indices


class ResampledScore:
    """Per-example `values` and `resampled(idx)` → the score of each resample; the full-set score is the
    resample that takes every example once. `ExampleStats` and `xling.bt.score.ChrfStats` are two."""

    values: np.ndarray

    @property
    def n(self) -> int:
        return len(self.values)

    def score(self) -> float:
        return float(self.resampled(np.arange(self.n)[None, :])[0])

    def resampled(self, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class ExampleStats(ResampledScore):
    """Per-example statistics of one test set: shape (n,) for `mean`, (n, 3) [correct, pred, gold] for `f1`."""

    kind: str
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.kind not in ("mean", "f1"):
            raise InputError(f"ExampleStats.kind must be 'mean' or 'f1', not {self.kind!r}")
        if len(self.values) == 0:
            raise InputError("ExampleStats: no examples")

    def resampled(self, idx: np.ndarray) -> np.ndarray:
        """Scores (×100) of the resamples given as a (B, n) index array."""
        if self.kind == "mean":
            return 100.0 * self.values[idx].mean(axis=1)
        sums = self.values[idx].sum(axis=1)  # (B, 3)
        denom = sums[:, 1] + sums[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denom > 0, 200.0 * sums[:, 0] / np.where(denom > 0, denom, 1), 0.0)
        return f1


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode("utf-8"))]))


def replicates(stats: ResampledScore, key: str, n_resamples: int = N_RESAMPLES, seed: int = SEED,
               other: ResampledScore | None = None) -> np.ndarray:
    """`n_resamples` resampled scores of `stats` (minus those of `other` on the same indices, if given)."""
    if other is not None and other.n != stats.n:
        raise InputError(f"{key}: a paired bootstrap needs the same examples ({stats.n} vs {other.n})")
    rng = _rng(seed, key)
    out = []
    for start in range(0, n_resamples, _CHUNK):
        idx = rng.integers(0, stats.n, size=(min(_CHUNK, n_resamples - start), stats.n))
        r = stats.resampled(idx)
        out.append(r - other.resampled(idx) if other is not None else r)
    return np.concatenate(out)


def interval(reps: Sequence[float] | np.ndarray, level: float = LEVEL) -> list[float]:
    a = (1.0 - level) / 2
    lo, hi = np.quantile(np.asarray(reps, dtype=float), [a, 1.0 - a])
    return [float(lo), float(hi)]


def mean_replicates(per_language: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
    """Replicate-wise mean over languages: the bootstrap distribution of a task mean."""
    if not per_language:
        raise InputError("mean_replicates: no languages")
    return np.mean(np.stack([np.asarray(v, dtype=float) for v in per_language.values()]), axis=0)


# ---------------------------------------------------------------------------------------------------
# Per-example statistics, from the records the runner writes to predictions/<task>/<lang>.jsonl


def _f1_counts(chunks_pred: list[tuple[str, int, int]], chunks_gold: list[tuple[str, int, int]],
               starts: list[int]) -> np.ndarray:
    """(n_sentences, 3) counts with each chunk assigned to the sentence holding its first token."""
    out = np.zeros((len(starts), 3))
    pred, gold = set(chunks_pred), set(chunks_gold)
    for col, chunks in ((1, pred), (2, gold), (0, pred & gold)):
        for c in chunks:
            out[bisect.bisect_right(starts, c[1]) - 1, col] += 1
    return out


def seqeval_stats(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                  chunking: str = "seqeval1") -> ExampleStats:
    _check_sentences(predictions, references, "seqeval_stats")
    starts, pos = [], 0
    for r in references:
        starts.append(pos)
        pos += len(r) + 1  # the "O" seqeval puts after each sentence
    counts = _f1_counts(seqeval_entities(_flatten(predictions), chunking),
                        seqeval_entities(_flatten(references), chunking), starts)
    return ExampleStats("f1", counts)


def bucc_stats(source_ids: Sequence[str], predicted: set[tuple[str, str]],
               gold: set[tuple[str, str]]) -> ExampleStats:
    """Per source sentence: (correct, predicted, gold) pairs; BUCC F1 = 2·Σcorrect / (Σpred + Σgold)."""
    row = {sid: i for i, sid in enumerate(source_ids)}
    counts = np.zeros((len(source_ids), 3))
    for col, pairs in ((1, predicted), (2, gold), (0, predicted & gold)):
        for src, _ in pairs:
            if src not in row:
                raise InputError(f"bucc_stats: pair source id {src!r} is not a test sentence")
            counts[row[src], col] += 1
    return ExampleStats("f1", counts)


def qa_stats(predictions: Sequence[str | None], golds: Sequence[Sequence[str]], lang: str | None) -> ExampleStats:
    """(EM + F1) / 2 per question, each the maximum over the gold answers (0 without a prediction)."""
    vals = []
    for p, g in zip(predictions, golds, strict=True):
        if p is None:
            vals.append(0.0)
            continue
        vals.append((max(qa_exact_match(p, a, lang) for a in g) + max(qa_f1(p, a, lang) for a in g)) / 2)
    return ExampleStats("mean", np.asarray(vals))


def record_stats(metric: str, lang: str, records: Sequence[Mapping[str, Any]]) -> ExampleStats | None:
    """Statistics of one language's prediction records (`{"id", "prediction", "gold"}`), or None
    when they carry no gold (a test set without labels, or BUCC, whose gold is not per record)."""
    if metric in ("squad", "mlqa"):
        # As the metric: averaged over the questions that have a gold answer.
        records = [r for r in records if r.get("gold")]
    elif metric == "retrieval_accuracy":
        # en→xx queries whose English sentence is nobody's gold are not scored, nor resampled.
        records = [r for r in records if r.get("gold") is not None]
    if not records or any("gold" not in r for r in records):
        return None
    preds = [r["prediction"] for r in records]
    golds = [r["gold"] for r in records]
    if metric in ("accuracy", "retrieval_accuracy"):
        if metric == "retrieval_accuracy":
            hits = [p is not None and int(p) == int(g) for p, g in zip(preds, golds, strict=True)]
        else:
            hits = [p == g for p, g in zip(preds, golds, strict=True)]
        return ExampleStats("mean", np.asarray(hits, dtype=float))
    if metric in ("seqeval_f1", "pos_accuracy"):
        return seqeval_stats(preds, golds)
    if metric in ("squad", "mlqa"):
        return qa_stats(preds, golds, lang if metric == "mlqa" else None)
    return None


def summarize(stats: ExampleStats, key: str, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """`{"score", "ci95", "n", "replicates"}` of one language (replicates kept for task means)."""
    reps = replicates(stats, key, n_resamples, seed)
    return {"score": stats.score(), "ci95": interval(reps), "n": stats.n, "replicates": [round(float(x), 4)
                                                                                          for x in reps]}


def paired_delta(a: Mapping[str, ExampleStats], b: Mapping[str, ExampleStats], task: str,
                 n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """Δ = a − b per language and for the mean over their common languages, with a paired bootstrap
    95% interval (the same resampled examples for both models) and whether it excludes 0."""
    langs = [lg for lg in a if lg in b and a[lg].n == b[lg].n]
    per: dict[str, Any] = {}
    reps: dict[str, np.ndarray] = {}
    for lg in langs:
        r = replicates(a[lg], f"{task}/{lg}", n_resamples, seed, other=b[lg])
        reps[lg] = r
        per[lg] = _delta(a[lg].score() - b[lg].score(), interval(r))
    mean = None
    if reps:
        mean = _delta(float(np.mean([a[lg].score() - b[lg].score() for lg in langs])),
                      interval(mean_replicates(reps)))
    return {"languages": per, "mean": mean, "method": "paired bootstrap over the same test examples"}


def _delta(d: float, ci: list[float]) -> dict[str, Any]:
    return {"delta": d, "ci95": ci, "significant": bool(ci[0] > 0 or ci[1] < 0)}


def unpaired_delta(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Δ of two scores with 95% intervals from separate runs: normal approximation, each interval's
    half-width taken as 1.96 standard errors and the two errors assumed independent."""
    z = 1.959963984540054
    se = np.hypot((a["ci95"][1] - a["ci95"][0]) / (2 * z), (b["ci95"][1] - b["ci95"][0]) / (2 * z))
    d = float(a["score"] - b["score"])
    return _delta(d, [d - z * float(se), d + z * float(se)])


def format_delta(d: Mapping[str, Any] | None, digits: int = 1) -> str:
    """'+1.2 [−0.8, +3.1], not significant' / '+4.0 [+1.1, +6.9], significant'."""
    if d is None:
        return ""
    f = f"{{:+.{digits}f}}"
    lo, hi = (f.format(x).replace("-", "−") for x in d["ci95"])
    return f"{f.format(d['delta']).replace('-', '−')} [{lo}, {hi}], " + \
        ("significant" if d["significant"] else "not significant")


def format_ci(score: float | None, ci: Sequence[float] | None, digits: int = 1) -> str:
    if score is None:
        return ""
    if not ci:
        return f"{score:.{digits}f}"
    return f"{score:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
