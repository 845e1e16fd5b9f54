"""Masked language modelling on packed monolingual sequences (XLM-R's objective)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from xling.core.errors import InputError
from xling.objectives.base import OBJECTIVES, MonoExample, Objective, SpecialIds, mask_tokens, masked_lm_loss

if TYPE_CHECKING:
    from transformers import XLMRobertaForMaskedLM


@dataclass
class MLMConfig:
    select_prob: float = 0.15  # share of (non-special) tokens the model must predict
    mask_prob: float = 0.8  # of the selected: replaced by <mask>
    random_prob: float = 0.1  # of the selected: replaced by a random token (the rest stay unchanged)
    whole_word: bool = False  # select whole SentencePiece words (▁-initial pieces start a word)

    def __post_init__(self) -> None:
        if not 0.0 < self.select_prob <= 1.0:
            raise InputError(f"select_prob must be in (0, 1], got {self.select_prob}")
        if self.mask_prob < 0 or self.random_prob < 0 or self.mask_prob + self.random_prob > 1.0:
            raise InputError(f"need mask_prob, random_prob ≥ 0 and mask_prob + random_prob ≤ 1, "
                             f"got {self.mask_prob} + {self.random_prob}")


def frame_sequences(seqs: list[list[int] | np.ndarray], special: SpecialIds, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`<s> ids </s>` per sequence, right-padded to the longest; returns (input_ids, attention_mask)."""
    width = max(len(s) for s in seqs) + 2
    if width > max_len:
        raise InputError(f"a sequence of {width - 2} tokens does not fit max_len={max_len} with <s> and </s>")
    input_ids = torch.full((len(seqs), width), special.pad, dtype=torch.long)
    attn = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        n = len(s)
        input_ids[i, 0] = special.bos
        input_ids[i, 1:n + 1] = torch.as_tensor(np.asarray(s, dtype=np.int64))
        input_ids[i, n + 1] = special.eos
        attn[i, :n + 2] = 1
    return input_ids, attn


@OBJECTIVES.register("mlm")
class MLM(Objective):
    """15% of tokens selected, 80/10/10 <mask>/random/kept, loss at selected positions only."""

    name = "mlm"
    data = "mono"
    Config = MLMConfig

    def collate(self, examples: list[MonoExample], generator: torch.Generator) -> dict[str, torch.Tensor]:
        if not examples:
            raise InputError("mlm.collate got an empty list of examples")
        input_ids, attn = frame_sequences([e.ids for e in examples], self.special, self.max_len)
        cfg: MLMConfig = self.cfg
        starts = self.special.word_starts(input_ids) if cfg.whole_word else None
        masked, labels = mask_tokens(input_ids, attn.bool(), self.special, generator, cfg.select_prob,
                                     cfg.mask_prob, cfg.random_prob, whole_word_starts=starts)
        return {"input_ids": masked, "attention_mask": attn, "labels": labels}

    def loss(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        loss, n_correct, n_masked = masked_lm_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        n = int(n_masked)
        return loss, {"mlm_loss": float(loss.detach()), "mlm_acc": int(n_correct) / max(n, 1), "n_masked": n}
