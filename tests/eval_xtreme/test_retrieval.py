"""Retrieval plumbing: an oracle encoder must score 100%, the tiny model must run on real Tatoeba."""

from __future__ import annotations

import numpy as np
import pytest

from eval_xtreme.loaders import BuccSet, RetrievalSet, load_split
from eval_xtreme.metrics import bucc_prf, retrieval_accuracy
from eval_xtreme.retrieval import (
    Encoder,
    hidden_state_index,
    margin_candidates,
    nearest_neighbours,
    retrieval_records,
    retrieval_scores,
    reverse_gold,
    select_pairs,
    similarity_search,
    topk_cosine,
    tune_threshold,
)
from eval_xtreme.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


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
    res = similarity_search(rs, encode)
    assert retrieval_accuracy(res.xx_en, rs.gold) == {"accuracy": 100.0}
    rg = reverse_gold(rs.gold, len(rs.target))
    assert retrieval_accuracy(res.en_xx, rg)["accuracy"] == 100.0
    query = get_task(task).retrieval_query
    assert retrieval_scores(rs, res, query) == {"accuracy": 100.0, "accuracy_xx_en": 100.0, "accuracy_en_xx": 100.0}


def test_directions_are_scored_separately_and_the_task_picks_the_primary():
    # Gold a→A, b→B, c→C; angles in one plane: a = A = 0, B = 0.1, b = 0.3. b's nearest English
    # sentence is B (0.2 away, A is 0.3), but B's nearest source is a (0.1, b is 0.2): xx → en is
    # all right, en → xx gets B wrong.
    rs = RetrievalSet(["a", "b", "c"], ["A", "B", "C"], [0, 1, 2])

    def at(angle: float) -> list[float]:
        return [float(np.cos(angle)), float(np.sin(angle)), 0.0]

    vec = {"a": at(0), "A": at(0), "b": at(0.3), "B": at(0.1), "c": [0, 0, 1], "C": [0, 0, 1]}

    def encode(sentences):
        return np.array([vec[s] for s in sentences], dtype=np.float32)

    res = similarity_search(rs, encode)
    assert res.xx_en == [0, 1, 2] and res.en_xx == [0, 0, 2]
    scores = retrieval_scores(rs, res, "target")
    assert scores["accuracy_xx_en"] == 100.0 and scores["accuracy_en_xx"] == pytest.approx(200 / 3)
    assert scores["accuracy"] == scores["accuracy_en_xx"]
    assert retrieval_scores(rs, res, "source")["accuracy"] == 100.0
    # Records follow the primary direction's queries and say which side that is.
    assert [r["prediction"] for r in retrieval_records(rs, res, "target")] == [0, 0, 2]
    assert {r["query"] for r in retrieval_records(rs, res, "source")} == {"source"}
    assert get_task("tatoeba").retrieval_query == "target"
    assert get_task("tatoeba_turkic").retrieval_query == "source"


def test_first_n_keeps_the_gold_english_side_sorted_and_reindexed():
    # English side sorted: gold maps source i to the English index given.
    rs = RetrievalSet(["s0", "s1", "s2", "s3"], ["A", "B", "C", "D"], [2, 0, 3, 1])
    sub = rs.first(2)
    assert sub.source == ["s0", "s1"] and sub.target == ["A", "C"] and sub.gold == [1, 0]
    assert rs.first(0) is rs and rs.first(9) is rs
    with pytest.raises(ValueError, match="no gold alignment"):
        RetrievalSet(["x", "y"], ["X", "Y"], None).first(1)


def test_a_shuffled_oracle_scores_zero():
    rs = RetrievalSet(["a", "b", "c"], ["A", "B", "C"], [0, 1, 2])
    encode = oracle([("a", "B"), ("b", "C"), ("c", "A")])
    assert retrieval_accuracy(similarity_search(rs, encode).xx_en, rs.gold)["accuracy"] == 0.0


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
    assert len(res.xx_en) == 60 and all(0 <= p < 60 for p in res.xx_en)
    assert 0.0 <= retrieval_accuracy(res.xx_en, rs.gold)["accuracy"] <= 100.0


def test_layer_numbering_is_xtremes(tiny_encoder):
    """XTREME's specific_layer K pools hidden_states[K + 1]: the embedding output is not a layer."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, net = AutoTokenizer.from_pretrained(str(tiny_encoder)), AutoModel.from_pretrained(str(tiny_encoder)).eval()
    batch = tok(["Сәлем әлем", "Бүгін ауа райы жақсы"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = net(**batch, output_hidden_states=True).hidden_states  # embeddings + 2 layers
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = [((h * mask).sum(1) / mask.sum(1)).numpy() for h in hidden]
    for layer, index in ((0, 1), (1, 2), (-1, 2), (-2, 1)):
        emb = Encoder(str(tiny_encoder), layer=layer, device="cpu")(["Сәлем әлем", "Бүгін ауа райы жақсы"])
        assert np.allclose(emb, pooled[index], atol=1e-5), (layer, index)
    assert hidden_state_index(7, 12) == 8  # XTREME's default specific_layer 7 on a 12-layer model


def test_encoder_errors(tiny_encoder):
    with pytest.raises(ValueError, match="layer 5 is out of range; it has 2 layers"):
        Encoder(str(tiny_encoder), layer=5)
    with pytest.raises(ValueError, match="layer 2 is out of range"):  # 0..1 and -1..-2 on 2 layers
        Encoder(str(tiny_encoder), layer=2)
    with pytest.raises(ValueError, match="does-not-exist: no such folder"):  # xling.core.hub, before loading
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
