"""BTMLM: step-1 and step-2 attention masks element by element, pseudo-token generation, loss."""

from __future__ import annotations

import pytest
import torch
from xobj_helpers import BOS, EOS, LANG_IDS, MASK, PAD, SPECIAL, VOCAB, tiny_model

from xling.core.errors import TrainingError
from xling.objectives import OBJECTIVES, MonoExample
from xling.objectives.base import IGNORE_INDEX
from xling.objectives.btmlm import BTMLM, BTMLMConfig, generation_mask


def collate(cfg=None, examples=None, max_len=12):
    obj = BTMLM(cfg or BTMLMConfig(select_prob=0.5), SPECIAL, max_len, LANG_IDS)
    exs = examples or [MonoExample([5, 6], "kaz_Cyrl"), MonoExample([7], "uig_Arab")]
    return obj, obj.collate(exs, torch.Generator().manual_seed(0))


def test_registered():
    assert OBJECTIVES.get("btmlm") is BTMLM and BTMLM.data == "mono"


def test_layout_and_placeholders():
    _, b = collate()
    # <s> src </s> </s> <mask>×k </s>, k = len(src) with placeholder_ratio 1
    assert b["step1_input_ids"].tolist() == [[BOS, 5, 6, EOS, EOS, MASK, MASK, EOS],
                                             [BOS, 7, EOS, EOS, MASK, EOS, PAD, PAD]]
    assert b["placeholder"].tolist() == [[0, 0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 0, 0, 0]]
    assert b["position_ids"].tolist() == [[2, 3, 4, 5, 2, 3, 4, 5], [2, 3, 4, 2, 3, 4, PAD, PAD]]
    # only source tokens carry labels
    assert ((b["labels"] != IGNORE_INDEX) <= (b["segment"] == 0)).all()


def test_step1_mask_element_by_element():
    _, b = collate()
    s, t = 1, 0
    row0 = [s, s, s, s, t, t, t, t]  # every real query sees exactly the source side <s> 5 6 </s>
    row1 = [s, s, s, t, t, t, t, t]
    assert b["step1_attention_mask"].tolist() == [[row0] * 8, [row1] * 6 + [[t] * 8] * 2]
    assert generation_mask(torch.tensor([[0, 1, -1]])).tolist() == [[[1, 0, 0], [1, 0, 0], [0, 0, 0]]]


def test_step2_mask_element_by_element():
    _, b = collate()
    s, t = 1, 0
    src0, tgt0 = [t, t, t, t, s, s, s, s], [s, s, s, s, t, t, t, t]
    src1, tgt1 = [t, t, t, s, s, s, t, t], [s, s, s, t, t, t, t, t]
    assert b["attention_mask"].tolist() == [[src0] * 4 + [tgt0] * 4, [src1] * 3 + [tgt1] * 3 + [[t] * 8] * 2]
    _, full = collate(BTMLMConfig(step2_attention="full"))
    assert full["attention_mask"].tolist() == [[1] * 8, [1] * 6 + [0, 0]]


def test_source_truncation_and_ratio():
    _, b = collate(BTMLMConfig(placeholder_ratio=0.5), [MonoExample(list(range(5, 30)), "kaz_Cyrl")], max_len=16)
    # source capped at (16 - 4) // 2 = 6 tokens, ceil(0.5 × 6) = 3 placeholders
    assert int((b["segment"] == 0).sum()) == 6 + 2 and int(b["placeholder"].sum()) == 3


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_pseudo_tokens_and_loss(attn):
    model = tiny_model(attn)
    model.train()
    obj, b = collate()
    torch.manual_seed(0)
    pseudo = obj.generate_pseudo(model, b)
    assert model.training  # restored after the no-grad eval-mode pass
    assert pseudo.shape == (int(b["placeholder"].sum()),) and not pseudo.requires_grad
    assert not torch.isin(pseudo, torch.tensor(SPECIAL.all_special)).any()
    # pseudo tokens depend only on the source (and the placeholder itself) and the seed: changing
    # the other tokens of the placeholder side changes nothing
    other = dict(b)
    other["step1_input_ids"] = b["step1_input_ids"].masked_fill((b["segment"] == 1) & ~b["placeholder"], 30)
    torch.manual_seed(0)
    assert torch.equal(pseudo, obj.generate_pseudo(model, other))
    loss, metrics = obj.loss(model, b)
    loss.backward()
    assert torch.isfinite(loss) and metrics["n_masked"] == int((b["labels"] != IGNORE_INDEX).sum())
    assert 0 < metrics["btmlm_pseudo_distinct"] <= 1


def test_lang_embeddings_need_target_langs():
    obj = BTMLM(BTMLMConfig(lang_embeddings=True), SPECIAL, 12, LANG_IDS)
    with pytest.raises(ValueError, match="target_langs has no entry for 'kaz_Cyrl'"):
        obj.collate([MonoExample([5, 6], "kaz_Cyrl")], torch.Generator())
    obj = BTMLM(BTMLMConfig(lang_embeddings=True, target_langs={"kaz_Cyrl": "rus_Cyrl"}), SPECIAL, 12, LANG_IDS)
    b = obj.collate([MonoExample([5, 6], "kaz_Cyrl")], torch.Generator())
    assert b["token_type_ids"].tolist() == [[1, 1, 1, 1, 2, 2, 2, 2]]  # placeholders carry the target language
    loss, _ = obj.loss(tiny_model(type_vocab_size=4), b)
    assert torch.isfinite(loss)


def _rows(n_rows=4, k=6):
    """A batch layout for `pick`: n_rows sources [5, 6, 7] with k placeholders each."""
    obj = BTMLM(BTMLMConfig(), SPECIAL, 4 + 3 + k, LANG_IDS)
    b = obj.collate([MonoExample([5, 6, 7], "kaz_Cyrl")] * n_rows, torch.Generator().manual_seed(0))
    assert int(b["placeholder"].sum()) == n_rows * 3  # placeholder_ratio 1 → k = 3 per row
    return b


def test_pick_excludes_specials_and_source_and_samples():
    b = _rows()
    n = int(b["placeholder"].sum())
    # a degenerate generator: every placeholder's favourite is the source token 5, then <mask>, then 8
    logits = torch.full((n, VOCAB), -5.0)
    logits[:, 5], logits[:, MASK], logits[:, 8] = 10.0, 9.0, 8.0
    argmax = BTMLM(BTMLMConfig(decoding="argmax"), SPECIAL, 13, LANG_IDS)
    assert argmax.pick(logits, b).tolist() == [8] * n  # not 5 (in the source), not <mask> (special)
    keep = BTMLM(BTMLMConfig(decoding="argmax", exclude_source=False), SPECIAL, 13, LANG_IDS)
    assert keep.pick(logits, b).tolist() == [5] * n
    # sampling from flat logits over the allowed tokens: never a special or source token, and varied
    sampler = BTMLM(BTMLMConfig(top_k=0), SPECIAL, 13, LANG_IDS)
    torch.manual_seed(0)
    drawn = sampler.pick(torch.zeros(n, VOCAB), b)
    allowed = set(range(VOCAB)) - set(SPECIAL.all_special) - {5, 6, 7}
    assert set(drawn.tolist()) <= allowed and len(set(drawn.tolist())) >= n // 2
    # top-k 2 after exclusion: only the two best allowed tokens (8, then 9) can come out
    logits[:, 9] = 7.0
    top2 = BTMLM(BTMLMConfig(top_k=2, temperature=0.5), SPECIAL, 13, LANG_IDS)
    assert set(top2.pick(logits, b).tolist()) <= {8, 9}


def test_pick_no_repeat_within_a_row():
    b = _rows(n_rows=4)  # 4 rows × 3 placeholders, sources [5, 6, 7]
    n = int(b["placeholder"].sum())
    logits = torch.full((n, VOCAB), -5.0)
    logits[:, 5], logits[:, 8], logits[:, 9], logits[:, 10] = 10.0, 8.0, 7.0, 6.0
    # argmax walks down the row's preference list (5 is in the source): 8, 9, 10 in every row
    greedy = BTMLM(BTMLMConfig(decoding="argmax", no_repeat=True), SPECIAL, 13, LANG_IDS)
    assert greedy.pick(logits, b).tolist() == [8, 9, 10] * 4
    # only two allowed tokens for three placeholders: the third may repeat rather than have none
    few = torch.full((n, VOCAB), float("-inf"))
    few[:, 8], few[:, 9] = 1.0, 0.5
    assert greedy.pick(few, b).tolist() == [8, 9, 8] * 4
    # sampled, top-2 among the row's unused tokens: never a token twice in a row, never outside 8–11
    logits[:, 11] = 5.0
    sampler = BTMLM(BTMLMConfig(top_k=2, no_repeat=True), SPECIAL, 13, LANG_IDS)
    for seed in range(20):
        torch.manual_seed(seed)
        rows = sampler.pick(logits, b).view(4, 3).tolist()
        assert all(len(set(r)) == 3 and set(r) <= {8, 9, 10, 11} for r in rows)
        assert all(r[0] in (8, 9) for r in rows)


def test_collapse_guard():
    obj = BTMLM(BTMLMConfig(min_distinct=0.05, guard_after_steps=20), SPECIAL, 12, LANG_IDS)
    obj.check_log_row({"btmlm_pseudo_distinct": 0.003}, 10)  # still warming up
    obj.check_log_row({"btmlm_pseudo_distinct": 0.4}, 30)  # healthy
    obj.check_log_row({"loss": 1.0}, 30)  # a row without the metric
    with pytest.raises(TrainingError, match=r"collapsed at step 30: only 0\.003 .*min_distinct 0\.05"):
        obj.check_log_row({"btmlm_pseudo_distinct": 0.003}, 30)
    BTMLM(BTMLMConfig(min_distinct=0.0), SPECIAL, 12, LANG_IDS).check_log_row({"btmlm_pseudo_distinct": 0.0}, 99)


def test_generator_distinct_ratio_degenerate_vs_healthy():
    """The metric the guard reads, from loss(): a generator whose head always favours one token
    (argmax) collapses to one pseudo token; sampling from the same model does not."""
    model = tiny_model()
    with torch.no_grad():
        model.lm_head.bias.zero_()
        model.lm_head.bias[20] = 50.0  # every placeholder's argmax is token 20
    exs = [MonoExample(list(range(5 + i, 13 + i)), "kaz_Cyrl") for i in range(6)]
    ratios = {}
    for decoding, top_k, temperature in (("argmax", 0, 1.0), ("sample", 0, 1.0)):
        obj = BTMLM(BTMLMConfig(decoding=decoding, top_k=top_k, temperature=temperature), SPECIAL, 24, LANG_IDS)
        b = obj.collate(exs, torch.Generator().manual_seed(0))
        with torch.no_grad():
            model.lm_head.bias[20] = 50.0 if decoding == "argmax" else 0.0
        torch.manual_seed(0)
        _, metrics = obj.loss(model, b)
        ratios[decoding] = metrics["btmlm_pseudo_distinct"]
        rows = {"btmlm_pseudo_distinct": ratios[decoding]}
        if decoding == "argmax":
            with pytest.raises(TrainingError):
                obj.check_log_row(rows, 100)
        else:
            obj.check_log_row(rows, 100)
    n = 6 * 8
    assert ratios["argmax"] == pytest.approx(1 / n) and ratios["sample"] >= 0.3
