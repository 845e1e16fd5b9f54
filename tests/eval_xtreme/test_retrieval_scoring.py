"""Token MaxSim scoring and CSLS hubness correction against plain-Python second implementations,
the encoder's token states against the Hugging Face model read directly, and an evaluation with both
switched on (model, char-n-gram baseline and hybrid searched alike)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval_xtreme.baselines import CHAR_NGRAM, HYBRID
from eval_xtreme.loaders import load_split
from eval_xtreme.retrieval import (
    Encoder,
    RetrievalConfig,
    csls,
    matrix_search,
    maxsim_scores,
    sentence_similarities,
    similarity_matrix,
    token_idf,
    token_states_of,
)
from eval_xtreme.tasks import get_task


def _states(rng, lengths, dim=5, vocab=7):
    per = []
    for n in lengths:
        v = rng.normal(size=(n, dim))
        per.append((v / np.linalg.norm(v, axis=1, keepdims=True), rng.integers(0, vocab, size=n)))
    return token_states_of(per), per


def _maxsim_reference(q_per, k_per, idf):
    """BERTScore precision spelled out: loops over sentences and tokens, math.fsum."""
    out = []
    for qv, qi in q_per:
        row = []
        for kv, _ in k_per:
            if not len(kv):
                row.append(-1.0)
                continue
            if not len(qv):
                row.append(0.0)
                continue
            best = [max(float(np.dot(t, u)) for u in kv) for t in qv]
            w = [idf.get(int(i), 1.0) if idf is not None else 1.0 for i in qi]
            row.append(math.fsum(b * x for b, x in zip(best, w, strict=True)) / math.fsum(w))
        out.append(row)
    return np.array(out)


def test_token_idf_by_hand():
    a = token_states_of([(np.zeros((3, 2)), np.array([1, 1, 2])), (np.zeros((1, 2)), np.array([2]))])
    b = token_states_of([(np.zeros((2, 2)), np.array([3, 1]))])
    idf = token_idf(a, b)
    # 3 sentences; id 1 in two of them (twice in one: counted once), id 2 in two, id 3 in one
    assert idf == pytest.approx({1: math.log(4 / 3) + 1, 2: math.log(4 / 3) + 1, 3: math.log(4 / 2) + 1})


@pytest.mark.parametrize("block", [1, 7, 1 << 25])  # one query token per block, a few, everything at once
def test_maxsim_against_loops(block):
    rng = np.random.default_rng(3)
    q, q_per = _states(rng, [3, 0, 5, 1, 4])  # an empty query sentence in the middle
    k, k_per = _states(rng, [2, 4, 0, 3])  # and an empty key sentence
    idf = token_idf(q, k)
    for weights in (None, idf):
        got = maxsim_scores(q, k, weights, block_floats=block)
        np.testing.assert_allclose(got, _maxsim_reference(q_per, k_per, weights), atol=1e-6)
    # summed from both sides: one matrix, both directions
    both = similarity_matrix("maxsim", q, k)
    np.testing.assert_allclose(both, _maxsim_reference(q_per, k_per, idf) + _maxsim_reference(k_per, q_per, idf).T,
                               atol=1e-5)


def test_csls_by_hand():
    s = np.array([[0.9, 0.8, 0.1],
                  [0.7, 0.2, 0.3]])
    # k = 1: r = each row's / column's maximum
    r_src, r_trg = [0.9, 0.7], [0.9, 0.8, 0.3]
    want = [[2 * s[i, j] - r_src[i] - r_trg[j] for j in range(3)] for i in range(2)]
    np.testing.assert_allclose(csls(s, 1), want)
    # k = 2: means of the two largest; column 0, near both rows (a hub), loses row 0 to column 1:
    # row 0 → 1.8 − 0.85 − 0.8 = 0.15 against 1.6 − 0.85 − 0.5 = 0.25
    r_src, r_trg = [(0.9 + 0.8) / 2, (0.7 + 0.3) / 2], [(0.9 + 0.7) / 2, (0.8 + 0.2) / 2, (0.3 + 0.1) / 2]
    want = np.array([[2 * s[i, j] - r_src[i] - r_trg[j] for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(csls(s, 2), want)
    assert matrix_search(s).xx_en == [0, 0] and matrix_search(csls(s, 2)).xx_en == [1, 0]


def test_encoder_token_states_are_the_models_hidden_states(tiny_encoder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    sents = ["Сәлем әлем", "Бүгін ауа райы өте жақсы болды", "ok"]
    enc = Encoder(str(tiny_encoder), layer=0, batch_size=2)
    st = enc.token_states(sents)
    tok, net = AutoTokenizer.from_pretrained(str(tiny_encoder)), AutoModel.from_pretrained(str(tiny_encoder)).eval()
    for i, s in enumerate(sents):
        ids = tok(s)["input_ids"]
        with torch.no_grad():
            h = net(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[1][0].numpy()
        real = [p for p, t in enumerate(ids) if t not in tok.all_special_ids]
        want = h[real] / np.linalg.norm(h[real], axis=1, keepdims=True)
        lo, hi = st.offsets[i], st.offsets[i + 1]
        assert list(st.ids[lo:hi]) == [ids[p] for p in real]
        np.testing.assert_allclose(st.vectors[lo:hi], want, atol=1e-5)
        # one pass gives both: XTREME's mean over every token (special ones included) and the token states
        both = enc.encode(sents, ("cosine", "maxsim"))
        np.testing.assert_allclose(both.pooled[i], h.mean(0), atol=1e-5)
        np.testing.assert_allclose(both.tokens.vectors[lo:hi], want, atol=1e-5)


def test_scoring_settings_are_checked():
    with pytest.raises(ValueError, match=r"retrieval\.scoring"):
        RetrievalConfig(scoring="bm25")
    with pytest.raises(ValueError, match=r"retrieval\.hubness"):
        RetrievalConfig(hubness="margin")
    assert RetrievalConfig().plain and not RetrievalConfig(hubness="csls").plain


def _sklearn_char_sims(src, trg):
    sk = pytest.importorskip("sklearn.feature_extraction.text")
    v = sk.TfidfVectorizer(analyzer="char", ngram_range=(1, 3)).fit(src + trg)
    return (v.transform(src) @ v.transform(trg).T).toarray()


def test_eval_run_with_maxsim_and_csls(tiny_encoder, tmp_path):
    from eval_xtreme.runner import EvalConfig, _settings, run_eval
    from xling.core.io import read_json

    rc = RetrievalConfig(scoring="maxsim", hubness="csls", hybrid=0.5, margin_k=3)
    out = tmp_path / "out"
    cfg = EvalConfig(model=str(tiny_encoder), tasks=["xwmt_en_kk"], out=str(out), threads=1,
                     max_eval_examples=60, retrieval=rc)
    run_eval(cfg)
    res = read_json(out / "results.json")
    rs, _ = load_split(get_task("xwmt_en_kk"), "test", "kk")
    rs = rs.first(60)
    gold = np.array(rs.gold)

    # the model: both sides' MaxSim from the loop reference, summed, then CSLS by hand (k = 3)
    enc = Encoder(str(tiny_encoder))
    s_st, t_st = enc.token_states(rs.source), enc.token_states(rs.target)

    def per(st):
        return [(st.vectors[a:b], st.ids[a:b]) for a, b in zip(st.offsets[:-1], st.offsets[1:], strict=True)]

    idf = token_idf(s_st, t_st)
    sims = _maxsim_reference(per(s_st), per(t_st), idf) + _maxsim_reference(per(t_st), per(s_st), idf).T

    def csls_ref(m, k):
        r_row = [np.mean(sorted(row)[-k:]) for row in m]
        r_col = [np.mean(sorted(col)[-k:]) for col in m.T]
        return np.array([[2 * m[i, j] - r_row[i] - r_col[j] for j in range(m.shape[1])] for i in range(m.shape[0])])

    model = csls_ref(sims, 3)
    assert res["tasks"]["xwmt_en_kk"]["kk"]["accuracy"] == pytest.approx(100 * np.mean(model.argmax(1) == gold))
    np.testing.assert_allclose(sentence_similarities(enc, rs.source, rs.target, rc), model, atol=1e-4)
    # the char-n-gram baseline gets the same hubness correction (scikit-learn's TF-IDF underneath)
    chars = csls_ref(_sklearn_char_sims(list(rs.source), list(rs.target)), 3)
    base = res["baselines"][CHAR_NGRAM]["xwmt_en_kk"]["kk"]
    assert base["accuracy"] == pytest.approx(100 * np.mean(chars.argmax(1) == gold))
    assert base["accuracy_en_xx"] == pytest.approx(100 * np.mean(chars.argmax(0) == np.argsort(gold)))

    # the hybrid fuses the two corrected matrices, z-scored per query
    def z(m):
        return (m - m.mean(1, keepdims=True)) / m.std(1, keepdims=True)

    fused = 0.5 * z(model) + 0.5 * z(chars)
    recs = [json.loads(line) for line in (out / "baselines" / "model+char-ngram" / "predictions" / "xwmt_en_kk"
                                          / "kk.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in recs] == [int(i) for i in fused.argmax(1)]
    assert res["baselines"][HYBRID]["xwmt_en_kk"]["kk"]["accuracy"] == pytest.approx(
        100 * np.mean(fused.argmax(1) == gold))
    # recorded only when switched on, so tasks finished before the settings existed stay finished
    plain = _settings(EvalConfig(model="m"), get_task("xwmt_en_kk"))
    assert "scoring" not in plain and "hubness" not in plain
    assert _settings(cfg, get_task("xwmt_en_kk"))["scoring"] == "maxsim"
    assert read_json(out / "tasks" / "xwmt_en_kk.json")["scoring"] == "maxsim"


def test_also_scoring_reports_the_model_searched_a_second_way(tiny_encoder, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from eval_xtreme.baselines import SCORED_PREFIX
    from eval_xtreme.retrieval import nearest_neighbours
    from eval_xtreme.runner import EvalConfig, run_eval
    from xling.core.io import read_json
    from xling.run_report import eval_section

    with pytest.raises(ValueError, match=r"retrieval\.also_scoring"):
        RetrievalConfig(scoring="maxsim", also_scoring="maxsim")
    out = tmp_path / "out"
    cfg = EvalConfig(model=str(tiny_encoder), tasks=["xwmt_en_kk"], out=str(out), threads=1, max_eval_examples=50,
                     retrieval=RetrievalConfig(scoring="maxsim", also_scoring="cosine"))
    passes = []
    forward = Encoder._batches
    monkeypatch.setattr(Encoder, "_batches", lambda self, sents, **kw: (passes.append(len(sents)), forward(self, sents, **kw))[1])
    run_eval(cfg)
    monkeypatch.undo()
    assert passes == [50, 50]  # one forward pass per side serves both searches
    res = read_json(out / "results.json")
    rs, _ = load_split(get_task("xwmt_en_kk"), "test", "kk")
    rs = rs.first(50)
    enc = Encoder(str(tiny_encoder))
    pooled = nearest_neighbours(enc(rs.source), enc(rs.target))  # XTREME's search, tested against its script
    got = res["baselines"][SCORED_PREFIX + "cosine"]["xwmt_en_kk"]["kk"]
    assert got["accuracy"] == pytest.approx(100 * np.mean(np.array(pooled) == np.array(rs.gold)))
    recs = [json.loads(line) for line in (out / "baselines" / "cosine" / "predictions" / "xwmt_en_kk"
                                          / "kk.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in recs] == pooled
    assert "`model:cosine`" in (out / "report.md").read_text(encoding="utf-8")
    # the run report shows it in its own table, one column per model, paired against the characters
    plan = SimpleNamespace(evals={"studied": SimpleNamespace(out=str(out))}, arms={"studied": None})
    (tmp_path / "fig").mkdir()
    text = "\n".join(eval_section(plan, tmp_path / "fig"))
    part = text[text.index("Each model under `cosine` scoring"):]
    row = next(line for line in part.splitlines() if line.startswith("| xwmt_en_kk | kk "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[3]) == pytest.approx(got["accuracy"], abs=0.01)
    assert "IDF-weighted token MaxSim" in text
