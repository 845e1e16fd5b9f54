"""Translation quality with sacrebleu: BLEU, chrF and chrF++ (chrF matters for agglutinative kk/ug,
where one wrong suffix zeroes a BLEU word match but costs chrF only a few characters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
