"""Model configs: typed presets (tiny/debug, base, large) that build Hugging Face `XLMRobertaForMaskedLM`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from xling.core.errors import InputError

if TYPE_CHECKING:
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from xling.objectives.base import SpecialIds

log = logging.getLogger(__name__)

# (layers, hidden, heads, ffn). base/large are XLM-R's published shapes.
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 64, 2, 128),
    "debug": (4, 256, 4, 1024),
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
}


@dataclass
class ModelConfig:
    """An XLM-R encoder. `size` picks a preset; any shape field set here overrides it.

    `init_from` continues from an existing Hugging Face checkpoint folder instead (e.g. a local
    copy of xlm-roberta-base for continued pretraining on Kazakh/Uyghur); its vocabulary must
    match the tokenizer.
    """

    size: Literal["tiny", "debug", "base", "large"] = "debug"
    num_layers: int | None = None
    hidden_size: int | None = None
    num_heads: int | None = None
    intermediate_size: int | None = None
    dropout: float = 0.1
    attention_dropout: float = 0.1
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"
    # XLM-R uses 1; language embeddings (tlm/camlm `lang_embeddings: true`) reuse token types and
    # need 1 + number of languages.
    type_vocab_size: int = 1
    # Position slots for sequences this long, when longer than `data.max_len`: a base trained on short
    # blocks (fast off the unigram plateau) keeps room for arms that continue it on longer ones.
    max_positions: int | None = None
    init_from: str | None = None

    def __post_init__(self) -> None:
        layers, hidden, heads, ffn = self.shape()
        if hidden % heads:
            raise InputError(f"hidden_size {hidden} is not divisible by num_heads {heads}")
        if self.type_vocab_size < 1:
            raise InputError(f"type_vocab_size must be ≥ 1, got {self.type_vocab_size}")
        if self.max_positions is not None and self.max_positions < 1:
            raise InputError(f"model.max_positions must be ≥ 1, got {self.max_positions}")
        if min(layers, hidden, heads, ffn) <= 0:
            raise InputError(f"model shape must be positive, got layers={layers} hidden={hidden} heads={heads} ffn={ffn}")

    def shape(self) -> tuple[int, int, int, int]:
        layers, hidden, heads, ffn = PRESETS[self.size]
        return (self.num_layers or layers, self.hidden_size or hidden, self.num_heads or heads,
                self.intermediate_size or ffn)

    def hf_config(self, special: SpecialIds, max_len: int) -> XLMRobertaConfig:
        from transformers import XLMRobertaConfig

        layers, hidden, heads, ffn = self.shape()
        # XLM-R numbers positions from pad+1, so max_len tokens need max_len + pad + 1 slots.
        max_len = max(max_len, self.max_positions or 0)
        return XLMRobertaConfig(
            vocab_size=special.vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
            intermediate_size=ffn, max_position_embeddings=max_len + special.pad + 1,
            hidden_dropout_prob=self.dropout, attention_probs_dropout_prob=self.attention_dropout,
            pad_token_id=special.pad, bos_token_id=special.bos, eos_token_id=special.eos,
            type_vocab_size=self.type_vocab_size, attn_implementation=self.attn_implementation,
            architectures=["XLMRobertaForMaskedLM"],
        )


def build_model(cfg: ModelConfig, special: SpecialIds, max_len: int) -> XLMRobertaForMaskedLM:
    """A freshly initialised model (uses the torch RNG: seed before calling), or `init_from`."""
    from transformers import XLMRobertaForMaskedLM

    if cfg.init_from:
        path = Path(cfg.init_from)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model.init_from: {path} has no config.json (expected a Hugging Face model folder)")
        model = XLMRobertaForMaskedLM.from_pretrained(str(path), attn_implementation=cfg.attn_implementation)
        check_vocab(model.config.vocab_size, special.vocab_size, f"model.init_from {path}")
        needed = max_len + special.pad + 1
        if model.config.max_position_embeddings < needed:
            raise InputError(f"model.init_from {path}: max_position_embeddings={model.config.max_position_embeddings} "
                             f"is too small for max_len={max_len} (needs {needed}); lower data.max_len, or give the model it "
                             f"continues `model.max_positions: {max_len}`")
        return model
    return XLMRobertaForMaskedLM(cfg.hf_config(special, max_len))


def check_vocab(model_vocab: int, tokenizer_vocab: int, where: str) -> None:
    if model_vocab != tokenizer_vocab:
        raise InputError(f"{where}: vocabulary mismatch — the model has {model_vocab} embeddings but the tokenizer has "
                         f"{tokenizer_vocab} pieces. Use the tokenizer this model was trained with, or start a new run.")


def count_parameters(model: XLMRobertaForMaskedLM) -> int:
    """Unique parameters (the tied output layer counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
