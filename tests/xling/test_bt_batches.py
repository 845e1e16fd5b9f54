"""`xling bt train` batches: with `maxi_batch`, length-sorted pools hold the same examples as the random
batches over the same steps, each batch is one run of the pool's sorted lengths, and a batch depends
on its step alone (resume)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import xling.bt.train as bt_train
from xling.bt.train import batch_indices


def _padded(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_maxi_batch_pools_sort_the_same_examples_by_length():
    n, bs, m, seed = 103, 4, 5, 3  # 103: pools cross epoch boundaries (20 examples per pool)
    lengths = [int(x) for x in np.random.default_rng(0).integers(1, 60, n)]
    for p in range(8):
        steps = range(p * m, (p + 1) * m)
        plain = [batch_indices(s, bs, n, seed) for s in steps]
        pooled = [batch_indices(s, bs, n, seed, m, lengths) for s in steps]
        # the same examples (with repeats where the pool crosses an epoch), only regrouped
        assert Counter(i for b in pooled for i in b) == Counter(i for b in plain for i in b)
        # by hand: the pool's lengths sorted and cut into runs of `bs`; each batch is one of those runs
        runs = sorted(lengths[i] for b in plain for i in b)
        runs_of_bs = sorted(tuple(runs[k:k + bs]) for k in range(0, len(runs), bs))
        assert sorted(tuple(sorted(lengths[i] for i in b)) for b in pooled) == runs_of_bs
        assert _padded(pooled, lengths) <= _padded(plain, lengths)
    # over many pools, clearly less padding than random batches
    plain = [batch_indices(s, bs, n, seed) for s in range(200)]
    pooled = [batch_indices(s, bs, n, seed, m, lengths) for s in range(200)]
    assert _padded(pooled, lengths) < 0.9 * _padded(plain, lengths)


def test_maxi_batch_order_is_shuffled_and_a_function_of_the_step():
    n, bs, m = 400, 8, 10
    lengths = list(range(n))  # distinct lengths: a sorted pool order would be visible
    first = [batch_indices(s, bs, n, 0, m, lengths) for s in range(m)]
    assert [max(lengths[i] for i in b) for b in first] != sorted(max(lengths[i] for i in b) for b in first)
    # resumed at step 37 with empty caches, out of order: the same batches an uninterrupted run had
    expected = {s: batch_indices(s, bs, n, 0, m, lengths) for s in range(30, 50)}
    bt_train._POOLS.clear()
    bt_train._PERMS.clear()
    for s in [37, 49, 30, 41, 37]:
        assert batch_indices(s, bs, n, 0, m, lengths) == expected[s]
    assert batch_indices(37, bs, n, 1, m, lengths) != expected[37]  # another seed, other batches


def test_maxi_batch_needs_one_length_per_example():
    with pytest.raises(ValueError, match="one length per example"):
        batch_indices(0, 4, 10, 0, 5, [3] * 9)


def test_maxi_batch_config(tmp_path):
    from xling.bt.train import BTTrainConfig, bt_train_stage
    from xling.core.config import from_dict
    from xling.core.errors import InputError

    with pytest.raises(InputError, match="maxi_batch"):
        BTTrainConfig(tokenizer="tok", maxi_batch=-1)
    # unset, it stays out of the stage fingerprint, so records written before it existed stay valid
    assert "maxi_batch" not in bt_train_stage(BTTrainConfig(tokenizer="tok"), tmp_path / "a").fp["config"]
    cfg = from_dict(BTTrainConfig, {"tokenizer": "tok", "maxi_batch": 100})
    assert bt_train_stage(cfg, tmp_path / "b").fp["config"]["maxi_batch"] == 100


def _hand_token_losses(logits, labels, eps):
    """Per target token, written out: (1 − ε)·(−log p_y) + ε·mean over the vocabulary of −log p_k."""
    import math

    out = []
    for row_l, row_y in zip(logits.tolist(), labels.tolist(), strict=True):
        for z, y in zip(row_l, row_y, strict=True):
            if y == -100:
                continue
            lse = math.log(sum(math.exp(v) for v in z))
            nll = [lse - v for v in z]
            out.append((1 - eps) * nll[y] + eps * sum(nll) / len(nll))
    return out


def test_token_loss_weighs_every_token_alike_across_batches_of_other_lengths():
    import torch

    from xling.bt.train import token_loss

    g = torch.Generator().manual_seed(0)
    short = (torch.randn(2, 3, 5, generator=g), torch.tensor([[1, 2, -100], [0, -100, -100]]))  # 3 tokens
    long = (torch.randn(2, 6, 5, generator=g), torch.tensor([[4, 1, 2, 3, 0, 1], [2, 2, 1, 0, 3, -100]]))  # 11
    for logits, labels in (short, long):
        hand = _hand_token_losses(logits, labels, 0.1)
        loss, mean = token_loss(logits, labels, 0.1)  # the batch's own mean
        assert loss.item() == pytest.approx(sum(hand) / len(hand), rel=1e-5) and mean == pytest.approx(loss.item())
        loss, mean = token_loss(logits, labels, 0.1, divisor=7.0)
        assert loss.item() == pytest.approx(sum(hand) / 7.0, rel=1e-5)
        assert mean == pytest.approx(sum(hand) / len(hand), rel=1e-5)  # logged the same way either way
    # divided by the average batch's 7 tokens, the two batches add up to two batches' worth of the mean
    # over all 14 tokens: a short batch's token weighs no more than a long one's
    hand_all = _hand_token_losses(*short, 0.1) + _hand_token_losses(*long, 0.1)
    both = token_loss(*short, 0.1, divisor=7.0)[0] + token_loss(*long, 0.1, divisor=7.0)[0]
    assert both.item() == pytest.approx(2 * sum(hand_all) / 14, rel=1e-5)
    # the batch's own mean instead weighs each of the short batch's 3 tokens 11/3 times a long one's
    own = token_loss(*short, 0.1)[0] + token_loss(*long, 0.1)[0]
    assert own.item() != pytest.approx(2 * sum(hand_all) / 14, rel=1e-3)
