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
