"""Masking statistics: selection rate, the 80/10/10 split as explicit parameters, no special tokens."""

from __future__ import annotations

import math

import pytest
import torch

from xling.objectives.base import IGNORE_INDEX, SpecialIds, attention_mask_for, mask_tokens, masked_lm_loss
from xling.objectives.mlm import MLM, MLMConfig

SPECIAL = SpecialIds(bos=0, pad=1, eos=2, unk=3, mask=99, vocab_size=100, all_special=(0, 1, 2, 3, 99))


def _within(observed: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    return abs(observed - p) <= sigmas * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.mark.parametrize(("select", "mask", "rand"), [(0.15, 0.8, 0.1), (0.3, 0.5, 0.3)])
def test_selection_and_replacement_rates(select, mask, rand):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 99, (400, 256), generator=g)
    out, labels = mask_tokens(ids, torch.ones_like(ids, dtype=torch.bool), SPECIAL, g, select, mask, rand)
    sel = labels != IGNORE_INDEX
    n, k = ids.numel(), int(sel.sum())
    assert _within(k / n, select, n)
    assert torch.equal(labels[sel], ids[sel])
    assert torch.equal(out[~sel], ids[~sel])  # unselected tokens untouched
    as_mask = (out[sel] == SPECIAL.mask).float().mean().item()
    changed = ((out[sel] != SPECIAL.mask) & (out[sel] != ids[sel])).float().mean().item()
    # a random replacement equals the original with probability 1/95; account for it exactly
    p_changed = rand * (1 - 1 / 95)
    assert _within(as_mask, mask, k)
    assert _within(changed, p_changed, k)
    assert _within(1 - as_mask - changed, 1 - mask - p_changed, k)


def test_special_tokens_never_selected_and_random_tokens_never_special():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 100, (300, 128), generator=g)  # ~5% specials everywhere
    out, labels = mask_tokens(ids, torch.ones_like(ids, dtype=torch.bool), SPECIAL, g, 0.9, 0.0, 1.0)
    is_special = SPECIAL.special_mask(ids)
    assert is_special.any()
    assert (labels[is_special] == IGNORE_INDEX).all()
    assert torch.equal(out[is_special], ids[is_special])
    replaced = labels != IGNORE_INDEX
    assert not SPECIAL.special_mask(out[replaced]).any()


def test_maskable_restricts_selection_and_generator_makes_it_deterministic():
    ids = torch.randint(4, 99, (8, 64), generator=torch.Generator().manual_seed(2))
    maskable = torch.zeros_like(ids, dtype=torch.bool)
    maskable[:, :10] = True
    a = mask_tokens(ids, maskable, SPECIAL, torch.Generator().manual_seed(3))
    b = mask_tokens(ids, maskable, SPECIAL, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert (a[1][:, 10:] == IGNORE_INDEX).all()


def test_bad_probabilities_are_rejected():
    ids = torch.ones(2, 4, dtype=torch.long) * 5
    with pytest.raises(ValueError, match="mask \\+ random"):
        mask_tokens(ids, ids > 0, SPECIAL, torch.Generator(), 0.15, 0.8, 0.3)
    with pytest.raises(ValueError, match="mask_prob"):
        MLMConfig(mask_prob=0.9, random_prob=0.2)


def test_whole_word_masking_selects_words_as_units():
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(4, 99, (200, 120), generator=g)
    starts = torch.rand(ids.shape, generator=g) < 0.4  # words of ~2.5 pieces
    starts[:, 0] = True
    _, labels = mask_tokens(ids, torch.ones_like(starts), SPECIAL, g, 0.15, 0.8, 0.1, whole_word_starts=starts)
    sel = labels != IGNORE_INDEX
    word = torch.cumsum(starts.reshape(-1).long(), 0)
    flat = sel.reshape(-1)
    n_words = int(word[-1])
    sel_per_word = torch.zeros(n_words + 1).index_add_(0, word, flat.float())
    len_per_word = torch.zeros(n_words + 1).index_add_(0, word, torch.ones_like(flat, dtype=torch.float))
    chosen = sel_per_word[1:] > 0
    assert torch.equal(sel_per_word[1:][chosen], len_per_word[1:][chosen])  # all pieces of a chosen word
    assert _within(chosen.float().mean().item(), 0.15, n_words)


def test_mlm_collate_frames_and_never_masks_bos_eos_pad(tiny_spm):
    from transformers import AutoTokenizer

    from xling.objectives.base import MonoExample

    special = SpecialIds.from_tokenizer(AutoTokenizer.from_pretrained(str(tiny_spm)))
    assert (special.bos, special.pad, special.eos, special.unk) == (0, 1, 2, 3)
    assert special.mask == special.vocab_size - 1
    mlm = MLM(MLMConfig(select_prob=1.0, whole_word=True), special, 16, {})
    batch = mlm.collate([MonoExample([10, 11, 12], "kaz_Cyrl"), MonoExample(list(range(20, 34)), "uig_Arab")],
                        torch.Generator().manual_seed(0))
    ids, attn, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert ids.shape == (2, 16)
    assert labels[0, :5].tolist() == [IGNORE_INDEX, 10, 11, 12, IGNORE_INDEX]
    assert attn[0].tolist() == [1] * 5 + [0] * 11
    assert (labels[0, 5:] == IGNORE_INDEX).all() and (ids[0, 5:] == special.pad).all()
    assert ids[1, 0] == special.bos and ids[1, 15] == special.eos
    with pytest.raises(ValueError, match="does not fit"):
        mlm.collate([MonoExample(list(range(4, 30)), "kaz_Cyrl")], torch.Generator())


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_3d_visibility_masks_work_with_xlmr(impl):
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=40, attn_implementation=impl)
    model = XLMRobertaForMaskedLM(cfg).eval()
    ids = torch.randint(5, 99, (2, 10))
    ids[:, 0] = 0
    full2d = masked_lm_loss(model, ids, torch.ones(2, 10, dtype=torch.long), ids)[0]
    full3d = masked_lm_loss(model, ids, torch.ones(2, 10, 10, dtype=torch.bool), ids)[0]
    torch.testing.assert_close(full2d, full3d)
    # block-diagonal visibility: the first half cannot see the second, so it scores like running alone
    vis = torch.zeros(2, 10, 10, dtype=torch.bool)
    vis[:, :5, :5] = True
    vis[:, 5:, 5:] = True
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, :5] = ids[:, :5]
    blocked = masked_lm_loss(model, ids, vis, labels)[0]
    alone = masked_lm_loss(model, ids[:, :5], torch.ones(2, 5, dtype=torch.long), ids[:, :5])[0]
    torch.testing.assert_close(blocked, alone, rtol=1e-5, atol=1e-5)
    m4 = attention_mask_for(model, vis, torch.float32)
    assert m4.shape == (2, 1, 10, 10)


def test_loss_only_at_masked_positions_matches_full_head():
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=40)
    model = XLMRobertaForMaskedLM(cfg).eval()
    ids = torch.randint(5, 99, (3, 12))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, 3] = ids[:, 3]
    labels[1, 7] = 42
    attn = torch.ones_like(ids)
    ours, n_correct, n_masked = masked_lm_loss(model, ids, attn, labels)
    ref = model(input_ids=ids, attention_mask=attn, labels=labels).loss
    torch.testing.assert_close(ours, ref)
    assert int(n_masked) == 4 and 0 <= int(n_correct) <= 4
    zero, _, none = masked_lm_loss(model, ids, attn, torch.full_like(ids, IGNORE_INDEX))
    assert int(none) == 0 and float(zero.detach()) == 0.0 and zero.requires_grad
