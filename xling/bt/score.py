"""Translation quality with sacrebleu: BLEU, chrF and chrF++ (chrF matters for agglutinative kk/ug,
where one wrong suffix zeroes a BLEU word match but costs chrF only a few characters)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xling.errors import InputError

log = logging.getLogger(__name__)


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
    from xling.parallel import read_aligned, read_tsv
    from xling.paths import resolve_data_path

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


def score_model(model_dir: str | Path, test: TestSet, tgt_lang: str, out: str | Path | None = None,
                beams: int = 4, batch_size: int = 32) -> dict[str, Any]:
    """Translate `test.sources` into `tgt_lang` and score against the references; with `out`, writes
    `scores.json` and `hypotheses.txt` there (atomically)."""
    from xling.bt.model import load_model
    from xling.bt.translate import translate_texts
    from xling.io import write_json_atomic, write_text_atomic

    model, tok = load_model(model_dir)
    hyps = translate_texts(model, tok, test.sources, tgt_lang, beams=beams, batch_size=batch_size)
    scores = corpus_scores(hyps, test.references)
    scores.update({"model": str(model_dir), "tgt_lang": tgt_lang, "beams": beams})
    if out is not None:
        out = Path(out)
        write_text_atomic(out / "hypotheses.txt", "".join(h.replace("\n", " ") + "\n" for h in hyps))
        write_json_atomic(out / "scores.json", scores)
    log.info("scores: %s", json.dumps({k: scores[k] for k in ("bleu", "chrf", "chrf++", "n")}))
    return scores
