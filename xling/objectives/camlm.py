"""Cross-attention masked language modelling (ERNIE-M, Ouyang et al. 2021) on translation pairs.

Input and masking are TLM's (`<s> src </s> </s> tgt </s>`, both sides masked), but attention is
cross-only: every token of the source side attends only to the target side and every token of
the target side only to the source side (plus itself, which `attention_mask_for` adds so no row
is empty — a token seeing itself reveals nothing that MLM does not). A masked source word must
therefore be restored from the translation, not from its own sentence.

Choices ERNIE-M leaves open, and ours (docs/cross-lingual.md has the longer discussion):
- the visibility blocks cover whole sides, specials included (`<s>`/first `</s>` belong to the
  source, the separating `</s>` and the final `</s>` to the target), as in the paper's mask figure,
  rather than only the masked positions;
- with several layers, a source token still sees its own side indirectly (layer 2 attends to target
  states that attended to the source in layer 1). The paper accepts this; so do we;
- positions restart on the target side by default (`restart_positions`), as in TLM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from xling.core.errors import InputError
from xling.objectives.base import OBJECTIVES, Objective, PairExample, masked_lm_loss
from xling.objectives.tlm import (
    PairMaskingConfig,
    check_lang_embeddings,
    frame_pairs,
    mask_pairs,
    pair_metrics,
)

if TYPE_CHECKING:
    from transformers import XLMRobertaForMaskedLM

CAMLMConfig = PairMaskingConfig


def cross_attention_mask(segment: torch.Tensor) -> torch.Tensor:
    """(batch, seq, seq) visibility: query q sees key k iff both are real tokens on different sides.

    `segment` is 0 (source side), 1 (target side) or -1 (padding), as `frame_pairs` builds it.
    """
    q = segment[:, :, None]
    k = segment[:, None, :]
    return ((q != k) & (q >= 0) & (k >= 0)).long()


@OBJECTIVES.register("camlm")
class CAMLM(Objective):
    """TLM input and masking; each side attends only to the other side."""

    name = "camlm"
    data = "parallel"
    Config = CAMLMConfig

    def collate(self, examples: list[PairExample], generator: torch.Generator) -> dict[str, torch.Tensor]:
        if not examples:
            raise InputError("camlm.collate got an empty list of examples")
        cfg: PairMaskingConfig = self.cfg
        framed = frame_pairs([list(e.src) for e in examples], [list(e.tgt) for e in examples],
                             [(e.src_lang, e.tgt_lang) for e in examples], self.special, self.max_len,
                             cfg.restart_positions, self.lang_ids if cfg.lang_embeddings else None)
        masked, labels = mask_pairs(framed, cfg, self.special, generator)
        batch = {"input_ids": masked, "attention_mask": cross_attention_mask(framed.segment), "labels": labels,
                 "position_ids": framed.position_ids, "segment": framed.segment}
        if framed.token_type_ids is not None:
            batch["token_type_ids"] = framed.token_type_ids
        return batch

    def loss(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        check_lang_embeddings(model, batch.get("token_type_ids"))
        loss, n_correct, n_masked = masked_lm_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"],
                                                   position_ids=batch["position_ids"],
                                                   token_type_ids=batch.get("token_type_ids"))
        return loss, pair_metrics("camlm", loss, n_correct, n_masked)

    def n_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return int((batch["segment"] >= 0).sum())
