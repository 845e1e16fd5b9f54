"""CAMLM: the cross-only attention mask, element by element, and that it really blocks a side."""

from __future__ import annotations

import pytest
import torch
from xobj_helpers import LANG_IDS, MASK, SPECIAL, tiny_model

from xling.objectives import OBJECTIVES, PairExample
from xling.objectives.base import IGNORE_INDEX, masked_lm_loss
from xling.objectives.camlm import CAMLM, cross_attention_mask
from xling.objectives.tlm import PairMaskingConfig

EXAMPLES = [PairExample([5, 6], [7], "kaz_Cyrl", "rus_Cyrl"), PairExample([8], [9], "rus_Cyrl", "kaz_Cyrl")]


def test_registered():
    assert OBJECTIVES.get("camlm") is CAMLM and CAMLM.data == "parallel"


def test_mask_element_by_element():
    batch = CAMLM(PairMaskingConfig(), SPECIAL, 32, LANG_IDS).collate(EXAMPLES, torch.Generator().manual_seed(0))
    # row 0: <s> 5 6 </s> | </s> 7 </s>      row 1: <s> 8 </s> | </s> 9 </s> <pad>
    s, t = 1, 0
    expected0 = [[t, t, t, t, s, s, s]] * 4 + [[s, s, s, s, t, t, t]] * 3
    expected1 = [[t, t, t, s, s, s, t]] * 3 + [[s, s, s, t, t, t, t]] * 3 + [[t] * 7]
    assert batch["attention_mask"].tolist() == [expected0, expected1]
    assert batch["attention_mask"].shape == (2, 7, 7)


def test_mask_function_on_segments():
    seg = torch.tensor([[0, 0, 1, -1]])
    assert cross_attention_mask(seg).tolist() == [[[0, 0, 1, 0], [0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]]]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_masked_source_token_cannot_see_its_own_side(attn):
    """With one layer, the prediction at a masked source position must not change when another source
    token changes (it sees only the target side and itself), but must change when a target token does."""
    model = tiny_model(attn, layers=1)
    obj = CAMLM(PairMaskingConfig(), SPECIAL, 32, LANG_IDS)
    batch = obj.collate([PairExample([5, 6, 7], [8, 9], "kaz_Cyrl", "rus_Cyrl")], torch.Generator().manual_seed(0))
    ids = batch["input_ids"].clone()
    ids[0, 1:6] = torch.tensor([5, MASK, 7, 2, 2])  # position 2 (source) is the masked query
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 2] = 6

    def logits(x):
        from xling.objectives.base import _encode, attention_mask_for

        mask = attention_mask_for(model, batch["attention_mask"], torch.float32)
        return model.lm_head(_encode(model, x, mask, batch["position_ids"], None))[0, 2]

    base = logits(ids)
    same_side = ids.clone()
    same_side[0, 1] = 30
    other_side = ids.clone()
    other_side[0, 6] = 30
    assert torch.allclose(base, logits(same_side), atol=1e-6)
    assert not torch.allclose(base, logits(other_side), atol=1e-4)
    loss, _, n = masked_lm_loss(model, ids, batch["attention_mask"], labels, position_ids=batch["position_ids"])
    assert int(n) == 1 and torch.isfinite(loss)


def test_sdpa_and_eager_agree():
    obj = CAMLM(PairMaskingConfig(select_prob=0.5), SPECIAL, 32, LANG_IDS)
    batch = obj.collate(EXAMPLES, torch.Generator().manual_seed(3))
    a, _ = obj.loss(tiny_model("sdpa"), batch)
    b, metrics = obj.loss(tiny_model("eager"), batch)
    assert torch.allclose(a, b, atol=1e-5)
    assert set(metrics) >= {"camlm_loss", "camlm_acc", "n_masked"}
    b.backward()
