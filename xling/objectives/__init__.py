"""Pretraining objectives. Each module registers its class in `OBJECTIVES` when imported here."""

from xling.objectives import (  # noqa: F401  (each import registers its objective)
    btmlm,
    camlm,
    mlm,
    tlm,
    xlco,
)
from xling.objectives.base import (
    IGNORE_INDEX,
    OBJECTIVES,
    MonoExample,
    Objective,
    PairExample,
    SpecialIds,
    mask_tokens,
    masked_lm_loss,
)

__all__ = ["IGNORE_INDEX", "OBJECTIVES", "MonoExample", "Objective", "PairExample", "SpecialIds", "mask_tokens",
           "masked_lm_loss"]
