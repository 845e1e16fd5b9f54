"""Retrieval plumbing: an oracle encoder must score 100%, the tiny model must run on real Tatoeba."""

from __future__ import annotations

import numpy as np
import pytest

from eval_xtreme.loaders import BuccSet, RetrievalSet, load_split
from eval_xtreme.metrics import bucc_prf, retrieval_accuracy
from eval_xtreme.retrieval import (
    Encoder,
    margin_candidates,
    nearest_neighbours,
    reverse_gold,
    select_pairs,
    similarity_search,
    topk_cosine,
    tune_threshold,
)
from eval_xtreme.tasks import get_task


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread: on a busy shared 2-core CPU this is several times faster than two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def oracle(pairs: list[tuple[str, str]], dim: int = 0, noise: float = 0.0, seed: int = 0):
    """An encoder that embeds a sentence and its translation at the same random point."""
    rng = np.random.default_rng(seed)
    dim = dim or max(8, len(pairs))
    table: dict[str, np.ndarray] = {}
    for a, b in pairs:
        v = rng.normal(size=dim)
        table[a] = v
        table[b] = v + noise * rng.normal(size=dim)

    def encode(sentences):
        return np.stack([table.get(s, rng.normal(size=dim)) for s in sentences]).astype(np.float32)

    return encode


@pytest.mark.parametrize("task,lang", [("tatoeba_turkic", "ug"), ("tatoeba", "kk"), ("xwmt_en_kk", "kk")])
def test_oracle_gives_100_on_real_data(data_root, task, lang):
    rs, _ = load_split(get_task(task), "test", lang, data_root)
    encode = oracle([(rs.source[i], rs.target[g]) for i, g in enumerate(rs.gold)], dim=64, noise=0.01)
    res = similarity_search(rs, encode, both_directions=True)
    assert retrieval_accuracy(res.predictions, rs.gold) == {"accuracy": 100.0}
    rg = reverse_gold(rs.gold, len(rs.target))
    assert retrieval_accuracy(res.reverse_predictions, rg)["accuracy"] == 100.0


def test_a_shuffled_oracle_scores_zero():
    rs = RetrievalSet(["a", "b", "c"], ["A", "B", "C"], [0, 1, 2])
    encode = oracle([("a", "B"), ("b", "C"), ("c", "A")])
    assert retrieval_accuracy(similarity_search(rs, encode).predictions, rs.gold)["accuracy"] == 0.0


def test_nearest_neighbours_and_topk_are_blockwise_consistent():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(37, 5)), rng.normal(size=(23, 5))
    full = nearest_neighbours(x, y, chunk_size=1000)
    assert nearest_neighbours(x, y, chunk_size=4) == full
    sims, idx = topk_cosine(x, y, 3, chunk_size=5)
    assert list(idx[:, 0]) == full
    assert np.all(np.diff(sims, axis=1) <= 1e-6)


def test_tiny_model_on_real_tatoeba(tiny_encoder, data_root):
    rs, _ = load_split(get_task("tatoeba_turkic"), "test", "kk", data_root)
    rs = RetrievalSet(rs.source[:60], rs.target[:60], rs.gold[:60])
    enc = Encoder(str(tiny_encoder), layer=1, batch_size=16)
    emb = enc(rs.source)
    assert emb.shape == (60, 64) and np.isfinite(emb).all()
    # Mean pooling ignores padding: a sentence embeds the same alone and in a padded batch.
    assert np.allclose(enc([rs.source[0]])[0], emb[0], atol=1e-5)
    res = similarity_search(rs, enc)
    assert len(res.predictions) == 60 and all(0 <= p < 60 for p in res.predictions)
    assert 0.0 <= retrieval_accuracy(res.predictions, rs.gold)["accuracy"] <= 100.0


def test_encoder_errors(tiny_encoder):
    with pytest.raises(ValueError, match="layer 5 is out of range; it has 2 layers"):
        Encoder(str(tiny_encoder), layer=5)
    with pytest.raises(ValueError, match="cannot load an encoder"):
        Encoder(str(tiny_encoder.parent / "does-not-exist"))


def test_bucc_margin_mining_with_noise_sentences():
    rng = np.random.default_rng(0)
    n_pairs, n_noise, dim = 30, 40, 32
    src_ids = [f"de-{i:03d}" for i in range(n_pairs + n_noise)]
    trg_ids = [f"en-{i:03d}" for i in range(n_pairs + n_noise)]
    base = rng.normal(size=(n_pairs, dim))
    src = np.vstack([base + 0.05 * rng.normal(size=base.shape), rng.normal(size=(n_noise, dim))])
    trg = np.vstack([base + 0.05 * rng.normal(size=base.shape), rng.normal(size=(n_noise, dim))])
    # Reverse the target order so gold is not the identity.
    order = np.arange(len(trg))[::-1]
    trg = trg[order]
    gold = {(src_ids[i], trg_ids[int(np.where(order == i)[0][0])]) for i in range(n_pairs)}
    cands = margin_candidates(src, trg, src_ids, trg_ids, k=4)
    # One-to-one: no source or target appears twice.
    assert len({s for s, _ in cands}) == len(cands) == len({t for _, t in cands})
    threshold = tune_threshold(cands, gold)
    chosen = set(select_pairs(cands, threshold))
    assert bucc_prf(chosen, gold)["f1"] == 100.0


def test_bucc_candidates_from_a_bucc_set():
    from eval_xtreme.retrieval import bucc_candidates

    bs = BuccSet({"de-1": "Hallo", "de-2": "Welt"}, {"en-1": "world", "en-2": "hello"},
                 {("de-1", "en-2"), ("de-2", "en-1")})
    cands = bucc_candidates(bs, oracle([("Hallo", "hello"), ("Welt", "world")]), k=2)
    assert set(cands) == bs.gold
