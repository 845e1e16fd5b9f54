"""Bootstrap intervals and paired tests, checked against independent computations."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from eval_xtreme.metrics import bucc_prf, compute, primary_score, seqeval_f1
from eval_xtreme.uncertainty import (
    ExampleStats,
    bucc_stats,
    format_delta,
    interval,
    mean_replicates,
    paired_delta,
    record_stats,
    replicates,
    summarize,
    unpaired_delta,
)

Z = 1.959963984540054


def _binary(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_interval_matches_normal_approximation_for_accuracy():
    # For accuracy on a large sample the bootstrap distribution is close to normal with the
    # binomial standard error: the percentile interval must agree with p ± 1.96·sqrt(p(1-p)/n).
    x = _binary(20000, 0.7, 1)
    s = summarize(ExampleStats("mean", x), "t/xx")
    p = x.mean()
    half = 100 * Z * math.sqrt(p * (1 - p) / len(x))
    assert s["score"] == pytest.approx(100 * p)
    assert s["ci95"][0] == pytest.approx(100 * p - half, abs=0.08)
    assert s["ci95"][1] == pytest.approx(100 * p + half, abs=0.08)
    assert s["n"] == 20000 and len(s["replicates"]) == 1000


def test_tiny_hand_checked_cases():
    # Two examples, one right: a resample is {0, 0}, {0, 1}/{1, 0} or {1, 1} (1/4, 1/2, 1/4), so the
    # 2.5th and 97.5th percentiles are 0 and 100. All right: every resample scores 100.
    assert interval(replicates(ExampleStats("mean", np.array([0.0, 1.0])), "t/a")) == [0.0, 100.0]
    assert interval(replicates(ExampleStats("mean", np.ones(5)), "t/a")) == [100.0, 100.0]
    # F1 from counts: one sentence with (correct, pred, gold) = (1, 2, 2) → 2·1/(2+2) = 50.
    assert ExampleStats("f1", np.array([[1.0, 2.0, 2.0]])).score() == pytest.approx(50.0)
    with pytest.raises(ValueError, match="no examples"):
        ExampleStats("mean", np.array([]))


def test_fixed_seed_and_language_streams():
    st = ExampleStats("mean", _binary(500, 0.5, 2))
    assert np.array_equal(replicates(st, "t/de"), replicates(st, "t/de"))
    assert not np.array_equal(replicates(st, "t/de"), replicates(st, "t/fr"))


def test_task_mean_resamples_within_each_language():
    # A constant language adds no spread: the mean's interval is exactly (100 + other's interval) / 2.
    b = ExampleStats("mean", _binary(3000, 0.4, 3))
    reps = {"a": replicates(ExampleStats("mean", np.ones(50)), "t/a"), "b": replicates(b, "t/b")}
    lo, hi = interval(mean_replicates(reps))
    blo, bhi = interval(reps["b"])
    assert (lo, hi) == pytest.approx(((100 + blo) / 2, (100 + bhi) / 2))


def test_paired_delta_against_normal_approximation_of_paired_differences():
    # Model b = model a with 60 of 4000 answers flipped from wrong to right and 20 from right to wrong.
    n = 4000
    a = _binary(n, 0.6, 4)
    b = a.copy()
    wrong, right = np.flatnonzero(a == 0), np.flatnonzero(a == 1)
    b[wrong[:60]] = 1
    b[right[:20]] = 0
    d = paired_delta({"de": ExampleStats("mean", b)}, {"de": ExampleStats("mean", a)}, "t")
    diff = 100 * (b - a)
    half = Z * diff.std() / math.sqrt(n)
    got = d["languages"]["de"]
    assert got["delta"] == pytest.approx(diff.mean())
    assert got["ci95"][0] == pytest.approx(diff.mean() - half, abs=0.06)
    assert got["ci95"][1] == pytest.approx(diff.mean() + half, abs=0.06)
    assert got["significant"]
    # The same Δ from two independent intervals is far wider and not significant: pairing matters.
    sa = summarize(ExampleStats("mean", a), "t/de")
    sb = summarize(ExampleStats("mean", b), "t/de")
    un = unpaired_delta(sb, sa)
    assert un["delta"] == pytest.approx(got["delta"]) and not un["significant"]
    assert un["ci95"][1] - un["ci95"][0] > 4 * (got["ci95"][1] - got["ci95"][0])
    # Identical models: Δ 0, interval [0, 0], not significant.
    same = paired_delta({"de": ExampleStats("mean", a)}, {"de": ExampleStats("mean", a)}, "t")
    assert same["mean"] == {"delta": 0.0, "ci95": [0.0, 0.0], "significant": False}


def test_format_delta_words():
    assert format_delta({"delta": 1.23, "ci95": [-0.8, 3.1], "significant": False}) == \
        "+1.2 [−0.8, +3.1], not significant"
    assert format_delta({"delta": -4.0, "ci95": [-6.9, -1.1], "significant": True}) == \
        "−4.0 [−6.9, −1.1], significant"


# ---------------------------------------------------------------------------------------------------
# The per-example decomposition reproduces each metric exactly (the bootstrap resamples this number)


def _tags(rng: random.Random, n: int, labels: list[str]) -> list[list[str]]:
    return [[rng.choice(labels) for _ in range(rng.randint(1, 12))] for _ in range(n)]


@pytest.mark.parametrize("labels", [["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"],
                                    ["NOUN", "VERB", "X", "PUNCT", "ADJ"]])
def test_seqeval_decomposition_equals_metric(labels):
    rng = random.Random(5)
    gold = _tags(rng, 300, labels)
    pred = [[t if rng.random() < 0.7 else rng.choice(labels) for t in s] for s in gold]
    records = [{"id": str(i), "prediction": p, "gold": g} for i, (p, g) in enumerate(zip(pred, gold, strict=True))]
    for metric in ("seqeval_f1", "pos_accuracy"):
        st = record_stats(metric, "xx", records)
        assert st is not None and st.n == 300
        assert st.score() == pytest.approx(primary_score(metric, compute(metric, pred, gold)), abs=1e-9)
    assert record_stats("seqeval_f1", "xx", records).score() == pytest.approx(seqeval_f1(pred, gold)["f1"])


def test_accuracy_retrieval_qa_bucc_decompositions_equal_metrics():
    rng = random.Random(6)
    labs = [rng.choice("abc") for _ in range(200)]
    preds = [x if rng.random() < 0.5 else "a" for x in labs]
    recs = [{"id": str(i), "prediction": p, "gold": g} for i, (p, g) in enumerate(zip(preds, labs, strict=True))]
    assert record_stats("accuracy", "de", recs).score() == pytest.approx(compute("accuracy", preds, labs)["accuracy"])
    idx = [rng.randrange(50) for _ in range(50)]
    recs = [{"id": str(i), "prediction": p, "gold": i} for i, p in enumerate(idx)]
    assert record_stats("retrieval_accuracy", "kk", recs).score() == pytest.approx(
        compute("retrieval_accuracy", idx, list(range(50)))["accuracy"])
    golds = [["the Big cat", "a dog"], ["Berlin"], ["zwei Häuser"], ["1999"]]
    answers = ["big cat!", "in Berlin", "Häuser", ""]
    recs = [{"id": f"q{i}", "prediction": p, "gold": g} for i, (p, g) in enumerate(zip(answers, golds, strict=True))]
    for metric, lang in (("squad", "en"), ("mlqa", "de")):
        want = primary_score(metric, compute(metric, {f"q{i}": p for i, p in enumerate(answers)},
                                             {f"q{i}": g for i, g in enumerate(golds)}, lang=lang))
        assert record_stats(metric, lang, recs).score() == pytest.approx(want)
        # A question without a gold answer is not scored by the metric, nor resampled.
        assert record_stats(metric, lang, [*recs, {"id": "q9", "prediction": "x"}]).score() == pytest.approx(want)
    src = [f"de-{i}" for i in range(40)]
    gold = {(f"de-{i}", f"en-{i}") for i in range(0, 40, 2)}
    pred = {(f"de-{i}", f"en-{i if i % 3 else i + 1}") for i in range(0, 40)}
    assert bucc_stats(src, pred, gold).score() == pytest.approx(bucc_prf(pred, gold)["f1"])
    # No gold in the records (a test set without labels, or BUCC): nothing to resample.
    assert record_stats("accuracy", "de", [{"id": "1", "prediction": "a"}]) is None
