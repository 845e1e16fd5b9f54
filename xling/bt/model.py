"""The back-translation model: `MarianMTModel` over our SentencePiece vocabulary plus target-language tags.

One model serves every direction: the source starts with a tag token `>>rus_Cyrl<<` naming the
language to produce (the Marian/OPUS-MT multilingual convention). The tags are added to a copy of
the pretraining tokenizer that is saved with the model, so the model folder loads offline with
`MarianMTModel.from_pretrained` + `AutoTokenizer.from_pretrained`. Encoder and decoder share one
embedding matrix (and the output projection), which suits a joint kk/ru/ug vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from xling.core.errors import InputError

if TYPE_CHECKING:
    from transformers import MarianMTModel

# (layers per side, d_model, heads, ffn)
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 64, 2, 128),
    "small": (3, 256, 4, 1024),
    "base": (6, 512, 8, 2048),  # transformer-base, Marian/OPUS-MT's usual shape
}


@dataclass
class BTModelConfig:
    size: Literal["tiny", "small", "base"] = "small"
    layers: int | None = None
    d_model: int | None = None
    heads: int | None = None
    ffn: int | None = None
    dropout: float = 0.1
    max_len: int = 128  # tokens per side, tag and </s> included

    def shape(self) -> tuple[int, int, int, int]:
        layers, d, heads, ffn = PRESETS[self.size]
        return self.layers or layers, self.d_model or d, self.heads or heads, self.ffn or ffn

    def __post_init__(self) -> None:
        layers, d, heads, ffn = self.shape()
        if d % heads:
            raise InputError(f"d_model {d} is not divisible by heads {heads}")
        if min(layers, d, heads, ffn, self.max_len) <= 0:
            raise InputError("model shape and max_len must be positive")


def lang_tag(lang: str) -> str:
    return f">>{lang}<<"


def load_tokenizer_with_tags(tokenizer_dir: str | Path, langs: list[str]) -> Any:
    """The pretraining tokenizer with one tag token per target language (added only if missing)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    missing = [lang_tag(lg) for lg in sorted(set(langs)) if lang_tag(lg) not in tok.get_vocab()]
    if missing:
        tok.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    return tok


def build_model(cfg: BTModelConfig, tokenizer: Any) -> MarianMTModel:
    """A freshly initialised Marian model sized for `tokenizer` (seed torch before calling)."""
    from transformers import MarianConfig, MarianMTModel

    layers, d, heads, ffn = cfg.shape()
    config = MarianConfig(
        vocab_size=len(tokenizer), decoder_vocab_size=len(tokenizer), d_model=d,
        encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, dropout=cfg.dropout, max_position_embeddings=cfg.max_len + 2,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        # Marian starts decoding from <pad>; forcing </s> at max length keeps outputs well formed.
        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
        scale_embedding=True,
    )
    return MarianMTModel(config)


def encode_sources(tokenizer: Any, texts: list[str], tgt_lang: str, max_len: int) -> list[list[int]]:
    """`>>tgt<< pieces </s>` per text, truncated to `max_len` tokens."""
    tag = tokenizer.convert_tokens_to_ids(lang_tag(tgt_lang))
    if tag is None or tag == tokenizer.unk_token_id:
        raise InputError(f"the model has no tag for target language {tgt_lang!r}; it was trained for "
                         f"{known_targets(tokenizer)}")
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[tag, *x[:max_len - 2], tokenizer.eos_token_id] for x in ids]


def encode_targets(tokenizer: Any, texts: list[str], max_len: int) -> list[list[int]]:
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[*x[:max_len - 1], tokenizer.eos_token_id] for x in ids]


def known_targets(tokenizer: Any) -> list[str]:
    return sorted(t[2:-2] for t in tokenizer.get_vocab() if t.startswith(">>") and t.endswith("<<"))


def load_model(model_dir: str | Path) -> tuple[MarianMTModel, Any]:
    """A trained BT model folder (`xling bt train` writes OUT/model)."""
    from transformers import AutoTokenizer, MarianMTModel

    p = Path(model_dir)
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"{p} is not a BT model folder (no config.json); pass OUT/model of `xling bt train`")
    return MarianMTModel.from_pretrained(str(p)), AutoTokenizer.from_pretrained(str(p))
