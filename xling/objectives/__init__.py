"""Pretraining objectives. Each module registers its class in `OBJECTIVES` when imported here."""

from xling.objectives import mlm  # noqa: F401  (registers "mlm")
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
