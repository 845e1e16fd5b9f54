"""TLM: pair framing, alignment of both sides in a batch, position restart, language ids."""

from __future__ import annotations

import pytest
import torch
from xobj_helpers import BOS, EOS, LANG_IDS, MASK, PAD, SPECIAL, tiny_model

from xling.objectives import OBJECTIVES, PairExample
from xling.objectives.base import IGNORE_INDEX
from xling.objectives.tlm import TLM, PairMaskingConfig, fit_pair, frame_pairs

EXAMPLES = [PairExample([5, 6, 7], [8, 9], "kaz_Cyrl", "rus_Cyrl"),
            PairExample([10, 11], [12, 13, 14, 15], "rus_Cyrl", "kaz_Cyrl"),
            PairExample([16], [17], "uig_Arab", "rus_Cyrl")]


def test_registered():
    assert OBJECTIVES.get("tlm") is TLM and TLM.data == "parallel"


def test_framing_positions_and_types():
    f = frame_pairs([e.src for e in EXAMPLES], [e.tgt for e in EXAMPLES],
                    [(e.src_lang, e.tgt_lang) for e in EXAMPLES], SPECIAL, 32, True, LANG_IDS)
    assert f.input_ids.tolist() == [
        [BOS, 5, 6, 7, EOS, EOS, 8, 9, EOS, PAD],
        [BOS, 10, 11, EOS, EOS, 12, 13, 14, 15, EOS],
        [BOS, 16, EOS, EOS, 17, EOS, PAD, PAD, PAD, PAD]]
    assert f.segment[0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, -1]
    # XLM-R positions start at pad + 1 = 2 and restart on the target side; padding gets pad.
    assert f.position_ids[0].tolist() == [2, 3, 4, 5, 6, 2, 3, 4, 5, PAD]
    assert f.token_type_ids[0].tolist() == [1] * 5 + [2] * 4 + [0]  # 1 + lang id; 0 on padding
    assert f.token_type_ids[1].tolist() == [2] * 4 + [1] * 6
    g = frame_pairs([EXAMPLES[0].src], [EXAMPLES[0].tgt], [("kaz_Cyrl", "rus_Cyrl")], SPECIAL, 32, False, None)
    assert g.position_ids[0].tolist() == list(range(2, 11)) and g.token_type_ids is None


def test_batches_keep_pairs_aligned():
    """Un-masking the labels gives back exactly each example's src and tgt, in its own row."""
    obj = TLM(PairMaskingConfig(select_prob=0.5), SPECIAL, 32, LANG_IDS)
    batch = obj.collate(EXAMPLES, torch.Generator().manual_seed(0))
    restored = torch.where(batch["labels"] != IGNORE_INDEX, batch["labels"], batch["input_ids"])
    for row, ex in zip(restored.tolist(), EXAMPLES, strict=True):
        seg = batch["segment"][EXAMPLES.index(ex)].tolist()
        src = [t for t, s in zip(row, seg, strict=True) if s == 0][1:-1]
        tgt = [t for t, s in zip(row, seg, strict=True) if s == 1][1:-1]
        assert (src, tgt) == (ex.src, ex.tgt)
    # both sides get masked, never the specials
    labelled = batch["labels"] != IGNORE_INDEX
    assert labelled[batch["segment"] == 0].any() and labelled[batch["segment"] == 1].any()
    specials = torch.isin(restored, torch.tensor([BOS, EOS, PAD]))
    assert not (labelled & specials).any()
    assert (batch["input_ids"][labelled] == MASK).any()


def test_many_pairs_stay_aligned_statistically():
    g = torch.Generator().manual_seed(1)
    rng = torch.Generator().manual_seed(2)
    exs = [PairExample(torch.randint(5, 40, (int(torch.randint(1, 9, (1,), generator=rng)),), generator=rng).tolist(),
                       torch.randint(5, 40, (int(torch.randint(1, 9, (1,), generator=rng)),), generator=rng).tolist(),
                       "kaz_Cyrl", "rus_Cyrl") for _ in range(64)]
    batch = TLM(PairMaskingConfig(), SPECIAL, 32, LANG_IDS).collate(exs, g)
    restored = torch.where(batch["labels"] != IGNORE_INDEX, batch["labels"], batch["input_ids"])
    for i, ex in enumerate(exs):
        n = 4 + len(ex.src) + len(ex.tgt)
        assert restored[i, :n].tolist() == [BOS, *ex.src, EOS, EOS, *ex.tgt, EOS]
    share = (batch["labels"] != IGNORE_INDEX).sum() / sum(len(e.src) + len(e.tgt) for e in exs)
    assert 0.08 < float(share) < 0.22


def test_truncation_fits_max_len():
    assert fit_pair(3, 4, 10) == (3, 4)
    assert fit_pair(20, 3, 10) == (7, 3)
    assert fit_pair(3, 20, 10) == (3, 7)
    assert fit_pair(20, 20, 11) == (5, 6)
    f = frame_pairs([list(range(5, 35))], [list(range(5, 25))], [("kaz_Cyrl", "rus_Cyrl")], SPECIAL, 16, True, None)
    assert f.input_ids.shape[1] == 16 and int((f.segment == 0).sum()) == 6 + 2 and int((f.segment == 1).sum()) == 6 + 2


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_loss_backward_and_lang_embedding_check(attn):
    obj = TLM(PairMaskingConfig(select_prob=0.5, lang_embeddings=True), SPECIAL, 32, LANG_IDS)
    batch = obj.collate(EXAMPLES, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="type_vocab_size ≥ 4"):
        obj.loss(tiny_model(attn), batch)
    model = tiny_model(attn, type_vocab_size=4)
    loss, metrics = obj.loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and metrics["n_masked"] == int((batch["labels"] != IGNORE_INDEX).sum())
    assert set(metrics) >= {"tlm_loss", "tlm_acc", "n_masked"}
    with pytest.raises(ValueError, match="has no id"):
        obj.collate([PairExample([5], [6], "eng_Latn", "rus_Cyrl")], torch.Generator())
