"""Shared tiny pieces for the cross-lingual objective tests (not a test module)."""

from __future__ import annotations

import torch

from xling.objectives.base import SpecialIds

PAD, BOS, EOS, UNK, MASK, VOCAB = 1, 0, 2, 3, 49, 50
SPECIAL = SpecialIds(bos=BOS, eos=EOS, pad=PAD, unk=UNK, mask=MASK, vocab_size=VOCAB,
                     all_special=(BOS, PAD, EOS, UNK, MASK))
LANG_IDS = {"kaz_Cyrl": 0, "rus_Cyrl": 1, "uig_Arab": 2}


def tiny_model(attn: str = "sdpa", type_vocab_size: int = 1, layers: int = 2, seed: int = 0):
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    torch.manual_seed(seed)
    cfg = XLMRobertaConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=40, pad_token_id=PAD, bos_token_id=BOS,
                           eos_token_id=EOS, type_vocab_size=type_vocab_size, attn_implementation=attn,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return XLMRobertaForMaskedLM(cfg).eval()
