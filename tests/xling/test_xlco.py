"""XLCo / translation ranking: the loss against a hand computation, gradients on both sides, the
queue of negatives, a pretraining run that mixes it with MLM, and exact resume with a queue."""

from __future__ import annotations

import json
import math

import pytest
import torch
from xobj_helpers import LANG_IDS, SPECIAL, tiny_model

from xling.objectives import OBJECTIVES, PairExample
from xling.objectives.xlco import XLCo, XLCoConfig

EXAMPLES = [PairExample([5, 6, 7], [8, 9], "kaz_Cyrl", "rus_Cyrl"),
            PairExample([10, 11], [12, 13, 14, 15], "kaz_Cyrl", "rus_Cyrl"),
            PairExample([16], [17, 18, 19], "kaz_Cyrl", "rus_Cyrl")]
MORE = [PairExample([20, 21], [22], "kaz_Cyrl", "rus_Cyrl"),
        PairExample([23, 24, 25], [26, 27], "kaz_Cyrl", "rus_Cyrl")]


def _vector(model, content: list[int]) -> list[float]:
    """One sentence alone (no padding): <s> content </s>, mean of its states, unit length."""
    ids = torch.tensor([[SPECIAL.bos, *content, SPECIAL.eos]])
    with torch.no_grad():
        h = model.roberta(ids).last_hidden_state[0].double()
    v = h.mean(0)
    return (v / v.norm()).tolist()


def _hand_loss(qs: list[list[float]], ks: list[list[float]], extra: list[list[float]], tau: float,
               margin: float) -> float:
    total = 0.0
    for i, q in enumerate(qs):
        logits = [(sum(a * b for a, b in zip(q, k, strict=True)) - (margin if j == i else 0.0)) / tau
                  for j, k in enumerate(ks + extra)]
        top = max(logits)
        total += -(logits[i] - top - math.log(sum(math.exp(x - top) for x in logits)))
    return total / len(qs)


def test_registered_and_options_checked():
    assert OBJECTIVES.get("xlco") is XLCo and XLCo.data == "parallel"
    for bad in ({"temperature": 0}, {"margin": -0.1}, {"queue_size": -1}, {"pooling": "max"}, {"momentum": 1.0},
                {"similarity": "dot"}, {"similarity": "maxsim", "queue_size": 4}):
        with pytest.raises(ValueError):
            XLCoConfig(**bad)


def _tokens(model, content: list[int], layer: int) -> list[list[float]]:
    """One sentence alone (no padding): the unit states of its content tokens at hidden layer `layer`
    (numbered as eval_xtreme's retrieval: −1 the last block, K ≥ 0 block K)."""
    ids = torch.tensor([[SPECIAL.bos, *content, SPECIAL.eos]])
    with torch.no_grad():
        states = model.roberta(ids, output_hidden_states=True).hidden_states
    h = states[layer + 1 if layer >= 0 else layer][0, 1:-1].double()
    return [(v / v.norm()).tolist() for v in h]


def _hand_maxsim(x: list[list[float]], y: list[list[float]]) -> float:
    def dot(a, b):
        return sum(p * q for p, q in zip(a, b, strict=True))

    precision = sum(max(dot(a, b) for b in y) for a in x) / len(x)
    recall = sum(max(dot(a, b) for a in x) for b in y) / len(y)
    return (precision + recall) / 2


def _hand_ranking(sims: list[list[float]], tau: float, margin: float) -> float:
    total = 0.0
    for i, row in enumerate(sims):
        logits = [(v - (margin if j == i else 0.0)) / tau for j, v in enumerate(row)]
        top = max(logits)
        total += -(logits[i] - top - math.log(sum(math.exp(x - top) for x in logits)))
    return total / len(sims)


@pytest.mark.parametrize("layer,margin,symmetric", [(-1, 0.0, False), (-2, 0.2, True), (0, 0.0, True)])
def test_maxsim_loss_equals_hand_computation(layer, margin, symmetric):
    """Token late interaction: each pair's similarity is the mean of both directions' mean best token
    cosine, computed here sentence by sentence without padding or batching."""
    model = tiny_model(layers=3)
    obj = XLCo(XLCoConfig(temperature=0.5, margin=margin, symmetric=symmetric, similarity="maxsim", layer=layer),
               SPECIAL, 32, LANG_IDS)
    loss, metrics = obj.loss(model, obj.collate(EXAMPLES, torch.Generator()))
    s = [_tokens(model, e.src, layer) for e in EXAMPLES]
    t = [_tokens(model, e.tgt, layer) for e in EXAMPLES]
    sims = [[_hand_maxsim(a, b) for b in t] for a in s]
    expected = _hand_ranking(sims, 0.5, margin)
    if symmetric:
        expected = (expected + _hand_ranking([list(c) for c in zip(*sims, strict=True)], 0.5, margin)) / 2
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-4)
    correct = sum(max(range(3), key=lambda j, i=i: sims[i][j] - (margin if j == i else 0.0)) == i for i in range(3))
    assert metrics["xlco_acc"] == pytest.approx(correct / 3) and metrics["n_pairs"] == 3


def test_maxsim_on_an_empty_sentence_follows_the_evaluation_search():
    """A sentence with no real token scores 0 as the query and −1 as the key, as eval_xtreme's MaxSim."""
    from xling.objectives.xlco import maxsim_matrix

    src = torch.nn.functional.normalize(torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    tgt = torch.nn.functional.normalize(torch.randn(2, 2, 4, generator=torch.Generator().manual_seed(1)), dim=-1)
    src_mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    tgt_mask = torch.tensor([[1, 1], [1, 0]])
    sims = maxsim_matrix(src, src_mask, tgt, tgt_mask)
    x = src[0, :2].double().tolist()
    assert float(sims[0, 0]) == pytest.approx(_hand_maxsim(x, tgt[0].double().tolist()), rel=1e-5)
    assert float(sims[0, 1]) == pytest.approx(_hand_maxsim(x, tgt[1, :1].double().tolist()), rel=1e-5)
    assert float(sims[1, 0]) == pytest.approx((0.0 + -1.0) / 2)


def test_maxsim_gradients_reach_both_sides_and_the_layer_above_gets_none():
    model = tiny_model(layers=3)
    obj = XLCo(XLCoConfig(symmetric=False, similarity="maxsim", layer=-2), SPECIAL, 32, LANG_IDS)
    loss, _ = obj.loss(model, obj.collate(EXAMPLES, torch.Generator()))
    loss.backward()
    grad = model.roberta.embeddings.word_embeddings.weight.grad
    assert all(grad[t].abs().sum() > 0 for e in EXAMPLES for t in [*e.src, *e.tgt])
    assert grad[30].abs().sum() == 0
    # the contrast reads the second-to-last block's output: the last block is not trained by it
    last = model.roberta.encoder.layer[-1]
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in last.parameters())
    with pytest.raises(ValueError, match="out of range"):
        XLCo(XLCoConfig(similarity="maxsim", layer=-4), SPECIAL, 32, LANG_IDS).loss(
            model, obj.collate(EXAMPLES, torch.Generator()))


@pytest.mark.parametrize("margin,symmetric", [(0.0, False), (0.3, True)])
def test_loss_equals_hand_computation(margin, symmetric):
    model = tiny_model()
    obj = XLCo(XLCoConfig(temperature=0.5, margin=margin, symmetric=symmetric), SPECIAL, 32, LANG_IDS)
    loss, metrics = obj.loss(model, obj.collate(EXAMPLES, torch.Generator()))
    s = [_vector(model, e.src) for e in EXAMPLES]
    t = [_vector(model, e.tgt) for e in EXAMPLES]
    expected = _hand_loss(s, t, [], 0.5, margin)
    if symmetric:
        expected = (expected + _hand_loss(t, s, [], 0.5, margin)) / 2
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-4)
    assert metrics["n_pairs"] == 3 and 0.0 <= metrics["xlco_acc"] <= 1.0


def test_gradients_reach_both_sides():
    model = tiny_model()
    obj = XLCo(XLCoConfig(symmetric=False), SPECIAL, 32, LANG_IDS)
    loss, _ = obj.loss(model, obj.collate(EXAMPLES, torch.Generator()))
    loss.backward()
    grad = model.roberta.embeddings.word_embeddings.weight.grad
    src_only = [t for e in EXAMPLES for t in e.src]
    tgt_only = [t for e in EXAMPLES for t in e.tgt]
    # Even the one-directional loss trains the source and the target encoder pass.
    assert all(grad[t].abs().sum() > 0 for t in src_only)
    assert all(grad[t].abs().sum() > 0 for t in tgt_only)
    assert grad[30].abs().sum() == 0  # a token in no sentence gets nothing


@pytest.mark.parametrize("momentum", [0.0, 0.999])
def test_queue_adds_the_previous_batch_as_negatives(momentum):
    model = tiny_model()
    obj = XLCo(XLCoConfig(temperature=0.5, queue_size=2, symmetric=False, momentum=momentum), SPECIAL, 32,
               LANG_IDS)
    obj.loss(model, obj.collate(EXAMPLES, torch.Generator()))
    assert obj.queues["tgt"].shape == (2, 32)  # 3 targets seen, the 2 newest kept
    loss, _ = obj.loss(model, obj.collate(MORE, torch.Generator()))
    s = [_vector(model, e.src) for e in MORE]
    t = [_vector(model, e.tgt) for e in MORE]
    queued = [_vector(model, e.tgt) for e in EXAMPLES[:2]]  # padding-free vectors equal the batched ones
    assert float(loss.detach()) == pytest.approx(_hand_loss(s, t, queued, 0.5, 0.0), rel=1e-4)


def test_momentum_encoder_is_an_ema_of_the_model_and_fills_the_queue():
    import copy

    model = tiny_model()
    obj = XLCo(XLCoConfig(queue_size=8, momentum=0.9, symmetric=False), SPECIAL, 32, LANG_IDS)
    obj.loss(model, obj.collate(EXAMPLES, torch.Generator()))
    w0 = model.roberta.embeddings.word_embeddings.weight.detach().clone()
    step = torch.randn(w0.shape, generator=torch.Generator().manual_seed(0))  # stands in for an optimizer step
    with torch.no_grad():
        model.roberta.embeddings.word_embeddings.weight.add_(step)
    obj.loss(model, obj.collate(MORE, torch.Generator()))
    key_w = obj.key_encoder.embeddings.word_embeddings.weight
    torch.testing.assert_close(key_w, 0.9 * w0 + 0.1 * (w0 + step))
    assert not key_w.requires_grad
    # The newest queued targets are the key encoder's vectors of MORE's targets, not the online model's.
    key_model = copy.deepcopy(model)
    key_model.roberta = obj.key_encoder
    expected = [_vector(key_model, e.tgt) for e in MORE]
    torch.testing.assert_close(obj.queues["tgt"][:2].double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-4, atol=1e-5)
    online = [_vector(model, e.tgt) for e in MORE]
    assert not torch.allclose(obj.queues["tgt"][:2].double(), torch.tensor(online, dtype=torch.float64), atol=1e-3)


def test_queue_and_momentum_encoder_round_trip_through_the_checkpoint_format():
    from xling.core.checkpoint import decode_state, encode_state

    model = tiny_model()
    cfg = XLCoConfig(temperature=0.5, queue_size=4, momentum=0.5)
    assert XLCo(XLCoConfig(), SPECIAL, 32, LANG_IDS).state_dict() == {}  # in-batch only: nothing to keep
    before = XLCo(cfg, SPECIAL, 32, LANG_IDS)
    before.loss(model, before.collate(EXAMPLES, torch.Generator()))
    tensors: dict = {}
    tree = json.loads(json.dumps(encode_state(before.state_dict(), tensors)))  # state.json + state.safetensors
    after = XLCo(cfg, SPECIAL, 32, LANG_IDS)
    after.load_state_dict(decode_state(tree, tensors))
    with torch.no_grad():  # an optimizer step between the checkpoint and the next micro-batch
        model.roberta.embeddings.word_embeddings.weight.add_(0.1)
    loss_before, _ = before.loss(model, before.collate(MORE, torch.Generator()))
    loss_after, _ = after.loss(model, after.collate(MORE, torch.Generator()))
    assert torch.equal(loss_before, loss_after)
    for side in ("tgt", "src"):
        assert torch.equal(before.queues[side], after.queues[side])
    for k, v in before.key_encoder.state_dict().items():
        assert torch.equal(v, after.key_encoder.state_dict()[k]), k


def test_objective_state_needs_the_same_process_count_only_when_there_is_some():
    from pathlib import Path

    from xling.core.errors import InputError
    from xling.objectives.mlm import MLM, MLMConfig
    from xling.trainer import Dist, _restore_objectives

    mlm = MLM(MLMConfig(), SPECIAL, 32, LANG_IDS)
    _restore_objectives([mlm], [{}, {}], Dist(), Path("step-000002"))  # MLM alone: any process count resumes
    xlco = XLCo(XLCoConfig(queue_size=4), SPECIAL, 32, LANG_IDS)
    saved = {"xlco": {"queues": {"tgt": None, "src": None}, "key_encoder": None}}
    with pytest.raises(InputError, match="saved by 2 process"):
        _restore_objectives([mlm, xlco], [saved, saved], Dist(), Path("step-000002"))


def test_single_pair_without_queue_is_refused():
    obj = XLCo(XLCoConfig(), SPECIAL, 32, LANG_IDS)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        obj.collate(EXAMPLES[:1], torch.Generator())


@pytest.fixture
def kk_ru_pairs(tmp_path, data_root):
    from xling.core.io import read_lines

    base = data_root / "parallel" / "kk-ru" / "apertium_kaz_rus_CORPUS"
    kk, ru = tmp_path / "pairs.kk", tmp_path / "pairs.ru"
    kk.write_text("\n".join(read_lines(base / "afn-kaz-1550.xz")[:120]) + "\n", encoding="utf-8")
    ru.write_text("\n".join(read_lines(base / "afn-ru.xz")[:120]) + "\n", encoding="utf-8")
    return {"sources": [{"src": str(kk), "tgt": str(ru), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl"}]}


def test_long_recipe_checks_out_with_a_same_budget_control(data_root, tmp_path):
    from pathlib import Path

    from xling.run import load_run_recipe, plan_run

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "kk-ug-cpu-long.yaml"
    plan = plan_run(load_run_recipe(recipe), tmp_path / "run")  # every input file is looked up
    studied, control = plan.arms["xling"], plan.arms["mlm-continued"]
    assert [o["name"] for o in studied.objectives] == ["mlm", "tlm", "xlco"]
    assert [o["name"] for o in control.objectives] == ["mlm"]
    assert plan.arm_parent == {"mlm-continued": "mlm", "xling": "mlm"}
    for key in ("max_steps", "global_batch_size", "lr", "warmup_steps"):
        assert getattr(studied.train, key) == getattr(control.train, key), key
    assert studied.data.view == control.data.view == ["ug"] and plan.vocab.view == ["ug"]
    assert all(ev.view == ["ug"] and "udpos_turkic_tr" in ev.tasks for ev in plan.evals.values())


def test_in_batch_xlco_run_resumes_exactly(tiny_pretrain, tmp_path, kk_ru_pairs):
    from xling.pretrain import pretrain

    kw = {"objectives": [{"name": "mlm"}, {"name": "xlco", "weight": 1.0}], "parallel": kk_ru_pairs}
    full, part = tmp_path / "full", tmp_path / "part"
    pretrain(tiny_pretrain("data.max_len=48", **kw), full)
    pretrain(tiny_pretrain("data.max_len=48", "train.max_steps_this_run=2", **kw), part)
    pretrain(tiny_pretrain("data.max_len=48", **kw), part)

    def losses(out):
        return [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]

    assert len(losses(full)) == 4 and losses(full) == pytest.approx(losses(part), rel=1e-5)
    rows = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    assert any("loss_xlco" in r and math.isfinite(r["loss_xlco"]) for r in rows)  # mixed with mlm


def _queued(tiny_pretrain, pairs, *overrides: str):
    # xlco weighs 3 so that micro-batches before and after the interruption use the queue
    objectives = [{"name": "mlm"}, {"name": "xlco", "weight": 3.0, "queue_size": 4, "momentum": 0.5}]
    return tiny_pretrain("data.max_len=48", *overrides, objectives=objectives, parallel=pairs)


def _rows(out) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_queued_xlco_run_resumes_exactly(tiny_pretrain, tmp_path, kk_ru_pairs):
    """The queue and the momentum encoder are saved with every checkpoint: a run stopped after 2 of 4
    steps and resumed ends where an uninterrupted one does, to the byte."""
    from xling.pretrain import pretrain

    full, part = tmp_path / "full", tmp_path / "part"
    pretrain(_queued(tiny_pretrain, kk_ru_pairs), full)
    pretrain(_queued(tiny_pretrain, kk_ru_pairs, "train.max_steps_this_run=2"), part)
    saved = part / "checkpoints" / "step-000002"
    assert [k for k in json.loads((saved / "state.json").read_text())["objectives"][0]] == ["xlco"]
    pretrain(_queued(tiny_pretrain, kk_ru_pairs), part)

    rows = _rows(full)
    assert any(r["step"] <= 2 and "loss_xlco" in r for r in rows)  # the queue fills before the stop
    assert any(r["step"] > 2 and "loss_xlco" in r for r in rows)  # and is read after it
    assert [r.get("loss") for r in rows] == [r.get("loss") for r in _rows(part)]
    assert (full / "final" / "model.safetensors").read_bytes() == (part / "final" / "model.safetensors").read_bytes()
    # the last checkpoint's state (optimizer, RNG, queue, momentum encoder) is the same too
    last = "checkpoints/step-000004"
    for name in ("state.json", "state.safetensors"):
        assert (full / last / name).read_bytes() == (part / last / name).read_bytes(), name


def test_checkpoint_without_objective_state_resumes_with_an_empty_queue(tiny_pretrain, tmp_path, kk_ru_pairs,
                                                                          caplog):
    """A checkpoint written before objectives saved their state still resumes: the queue starts empty, the
    momentum encoder from the resumed model, and a warning says the run is no longer exact."""
    from safetensors.torch import save_file

    from xling.core.checkpoint import (
        META_FILE,
        STATE_JSON,
        STATE_TENSORS,
        Checkpoint,
        encode_state,
        load_state,
    )
    from xling.core.io import read_json, sha256_file, write_json_atomic
    from xling.pretrain import pretrain

    part = tmp_path / "part"
    pretrain(_queued(tiny_pretrain, kk_ru_pairs, "train.max_steps_this_run=2"), part)
    folder = part / "checkpoints" / "step-000002"
    meta = read_json(folder / META_FILE)
    state = load_state(Checkpoint(folder, meta))
    del state["objectives"]  # what the trainer wrote before objectives had state
    tensors: dict = {}
    tree = encode_state(state, tensors)
    save_file(tensors, str(folder / STATE_TENSORS))
    (folder / STATE_JSON).write_text(json.dumps(tree), encoding="utf-8")
    meta["files"].update({name: sha256_file(folder / name) for name in (STATE_TENSORS, STATE_JSON)})
    write_json_atomic(folder / META_FILE, meta)

    with caplog.at_level("WARNING", logger="xling.trainer"):
        pretrain(_queued(tiny_pretrain, kk_ru_pairs), part)
    assert (part / "final" / "model.safetensors").is_file()
    assert any("no state of objective xlco" in r.getMessage() for r in caplog.records)
    assert len([r for r in _rows(part) if "loss" in r]) == 4
    assert all(math.isfinite(r["loss"]) for r in _rows(part) if "loss" in r)
