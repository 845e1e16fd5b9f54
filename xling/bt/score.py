"""Translation quality with sacrebleu: BLEU, chrF and chrF++ (chrF matters for agglutinative kk/ug,
where one wrong suffix zeroes a BLEU word match but costs chrF only a few characters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval_xtreme.uncertainty import N_RESAMPLES, SEED, ResampledScore, interval, replicates
from xling.core.errors import InputError
from xling.core.paths import resolve_data_path
from xling.parallel import read_aligned, read_tsv


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """{"bleu", "chrf", "chrf++", "n", "signatures"} for one reference per hypothesis."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise InputError(f"{len(hypotheses)} hypotheses but {len(references)} references; they must align line by line")
    if not hypotheses:
        raise InputError("nothing to score: the test set is empty")
    refs = [list(references)]
    bleu, chrf, chrfpp = BLEU(), CHRF(), CHRF(word_order=2)
    out = {"bleu": bleu.corpus_score(list(hypotheses), refs).score,
           "chrf": chrf.corpus_score(list(hypotheses), refs).score,
           "chrf++": chrfpp.corpus_score(list(hypotheses), refs).score,
           "n": len(hypotheses)}
    out["signatures"] = {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature()),
                         "chrf++": str(chrfpp.get_signature())}
    return out


class ChrfStats(ResampledScore):
    """Per-line chrF statistics (sacrebleu's: character n-gram counts and matches per order), so that a
    resample of lines is scored as sacrebleu scores a corpus: statistics summed, then one F-score."""

    def __init__(self, hypotheses: Sequence[str], references: Sequence[str]) -> None:
        from sacrebleu.metrics import CHRF

        if len(hypotheses) != len(references) or not hypotheses:
            raise InputError(f"chrF statistics need aligned, non-empty lines ({len(hypotheses)} hypotheses, "
                             f"{len(references)} references)")
        self._metric = CHRF()
        # sacrebleu's own per-segment statistics, the ones its bootstrap and significance tests sum
        self.values = np.asarray(self._metric._extract_corpus_statistics(list(hypotheses), [list(references)]),
                                 dtype=np.float64)

    def resampled(self, idx: np.ndarray) -> np.ndarray:
        sums = self.values[idx].sum(axis=1)
        return np.array([self._metric._compute_score_from_stats(row).score for row in sums])


def chrf_intervals(hypotheses: Sequence[str], baseline: Sequence[str], references: Sequence[str],
                   n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """95% bootstrap intervals over test lines (as `eval_xtreme.uncertainty`) for the chrF of
    `hypotheses`, of `baseline` (e.g. the untranslated sources), and of their difference, paired: both
    are scored on the same resampled lines, so the interval of the difference is narrower than the two
    intervals side by side suggest."""
    h, b = ChrfStats(hypotheses, references), ChrfStats(baseline, references)
    # one key: both draw the same resampled lines, so their difference replicate by replicate is paired
    reps_h, reps_b = (replicates(x, "chrf", n_resamples, seed) for x in (h, b))
    chrf, baseline_chrf = h.score(), b.score()
    ci = interval(reps_h - reps_b)
    return {"chrf": chrf, "chrf_ci95": interval(reps_h),
            "baseline_chrf": baseline_chrf, "baseline_chrf_ci95": interval(reps_b),
            "delta": {"delta": chrf - baseline_chrf, "ci95": ci, "significant": bool(ci[0] > 0 or ci[1] < 0),
                      "method": f"paired percentile bootstrap over test lines, {n_resamples} resamples"}}


def sentence_chrf(hypothesis: str, reference: str) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(hypothesis, [reference]).score


@dataclass
class TestSet:
    sources: list[str]
    references: list[str]


def load_test_set(test: str, reverse: bool = False, tgt: str = "", limit: int = 0) -> TestSet:
    """A TSV (src, tgt), or an aligned pair of files (`test`, `tgt`); `reverse` swaps the columns."""
    src_path = resolve_data_path(test)
    if not src_path.is_file():
        raise FileNotFoundError(f"test set {src_path} does not exist")
    pairs = read_aligned(src_path, resolve_data_path(tgt)) if tgt else read_tsv(src_path)
    if reverse:
        pairs = [(t, s) for s, t in pairs]
    pairs = [(s, t) for s, t in pairs if s and t]
    if limit:
        pairs = pairs[:limit]
    return TestSet([s for s, _ in pairs], [t for _, t in pairs])
