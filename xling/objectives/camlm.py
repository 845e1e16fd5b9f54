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

import torch

from xling.objectives.base import OBJECTIVES
from xling.objectives.tlm import TLM, FramedPairs, PairMaskingConfig

CAMLMConfig = PairMaskingConfig


def cross_attention_mask(segment: torch.Tensor) -> torch.Tensor:
    """(batch, seq, seq) visibility: query q sees key k iff both are real tokens on different sides.

    `segment` is 0 (source side), 1 (target side) or -1 (padding), as `frame_pairs` builds it.
    """
    q = segment[:, :, None]
    k = segment[:, None, :]
    return ((q != k) & (q >= 0) & (k >= 0)).long()


@OBJECTIVES.register("camlm")
class CAMLM(TLM):
    """TLM input and masking; each side attends only to the other side."""

    name = "camlm"
    Config = CAMLMConfig

    def attention_mask(self, framed: FramedPairs) -> torch.Tensor:
        return cross_attention_mask(framed.segment)
