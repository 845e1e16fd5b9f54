"""The back-translation model over our SentencePiece vocabulary plus target-language tags.

Two shapes, one interface (`AutoModelForSeq2SeqLM` loads either folder):
- **warm-started** (`init_from` a pretrained XLM-R MLM folder, BERT2BERT, Rothe et al. 2020): an
  `EncoderDecoderModel` whose encoder AND decoder start from the pretrained encoder's weights; the
  decoder gets a causal mask and new cross-attention (random, or a copy of its pretrained
  self-attention: `cross_attention_init`), its output layer is the MLM head. With a few thousand
  noisy pairs this is what makes the model translate at all: the random-init Marian model below
  answered every Kazakh sentence with «В» (docs/cross-lingual.md);
- **random init**: a `MarianMTModel` sized by `BTModelConfig` (encoder and decoder share one
  embedding matrix and the output projection), for when no pretrained encoder exists.

One model serves every direction: the source starts with a tag token `>>rus_Cyrl<<` naming the
language to produce (the Marian/OPUS-MT multilingual convention), and the decoder's first input
is the same tag (mBART's convention), so the language to write is in front of the decoder from
its first step. The tags are added to a copy of the pretraining tokenizer that is saved with the
model, so the folder loads offline with `AutoModelForSeq2SeqLM` + `AutoTokenizer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from xling.core.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

CrossAttentionInit = Literal["random", "self"]

# Marks a model trained with the target tag as the decoder's first input (`decoder_inputs`);
# folders without it (earlier Marian models) decode from the config's decoder_start_token_id.
TAG_START = "xling_decoder_start"

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


# Marks a machine-written source in tagged back-translation (`BTTrainConfig.bt_tag`); not a `>>L<<` tag,
# so `known_targets` does not list it.
BT_TAG = "<bt>"


def lang_tag(lang: str) -> str:
    return f">>{lang}<<"


def load_tokenizer_with_tags(tokenizer_dir: str | Path, langs: list[str], extra: Sequence[str] = ()) -> Any:
    """The pretraining tokenizer with one tag token per target language and the `extra` tokens (e.g.
    `BT_TAG`), each added only if missing."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    missing = [t for t in [*(lang_tag(lg) for lg in sorted(set(langs))), *extra] if t not in tok.get_vocab()]
    if missing:
        tok.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    return tok


def build_model(cfg: BTModelConfig, tokenizer: Any) -> PreTrainedModel:
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
    config.update({TAG_START: "tag"})
    return MarianMTModel(config)


def warm_start_model(init_from: str | Path, tokenizer: Any, max_len: int,
                     cross_attention: CrossAttentionInit = "random") -> PreTrainedModel:
    """BERT2BERT: encoder and decoder both initialised from the XLM-R MLM folder `init_from`.

    The decoder is the same network loaded as `XLMRobertaForCausalLM` with `is_decoder` (causal
    self-attention) and `add_cross_attention` (new cross-attention blocks); every other decoder weight,
    the MLM head included, is a copy of the pretrained one. Encoder and decoder are not tied (Rothe et
    al.'s untied BERT2BERT; tying saves memory, not CPU time). Both embedding matrices grow by the
    language tags `tokenizer` has beyond the pretrained vocabulary.

    `cross_attention`: "random" initialises the new blocks from the seeded torch generator (Rothe et
    al.); "self" copies each layer's pretrained self-attention (projections, output and its LayerNorm)
    into that layer's cross-attention, so those blocks start the same whatever the seed (the new
    tag embeddings are still drawn from it).
    """
    from transformers import AutoConfig, EncoderDecoderModel

    path = Path(init_from)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"bt init_from: {path} is not a model folder (no config.json); pass the `final/` "
                                "folder of a pretraining run")
    enc_cfg = AutoConfig.from_pretrained(str(path))
    if enc_cfg.model_type not in ("xlm-roberta", "roberta", "bert"):
        raise InputError(f"bt init_from: {path} is a {enc_cfg.model_type!r} model; warm start needs an "
                         "XLM-R/BERT-style encoder (what `xling pretrain` writes)")
    longest = int(enc_cfg.max_position_embeddings) - (enc_cfg.pad_token_id or 0) - 1
    if max_len > longest:
        raise InputError(f"bt model.max_len {max_len} exceeds the {longest} positions of {path}; "
                         f"set model.max_len ≤ {longest}")
    n_pre = int(enc_cfg.vocab_size)
    if len(tokenizer) < n_pre:
        raise InputError(f"tokenizer has {len(tokenizer)} tokens but {path} was trained with {n_pre}; "
                         "use the pretraining run's tokenizer")
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load reports list the new cross-attention and the unused pooler
    try:
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(str(path), str(path))
    finally:
        hf_logging.set_verbosity(level)
    if cross_attention == "self":
        copy_self_into_cross_attention(model.decoder)
    elif cross_attention != "random":
        raise InputError(f"bt cross_attention_init: {cross_attention!r} is not one of 'random', 'self'")
    for part in (model.encoder, model.decoder):
        part.resize_token_embeddings(len(tokenizer))
    model.config.update({
        "decoder_start_token_id": tokenizer.bos_token_id, "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id, "vocab_size": len(tokenizer), TAG_START: "tag"})
    model.config.decoder.vocab_size = model.config.encoder.vocab_size = len(tokenizer)
    model.generation_config.update(decoder_start_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
                                   eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    return model


def copy_self_into_cross_attention(decoder: Any) -> None:
    """Copy every `….attention.…` tensor of `decoder` into its `….crossattention.…` twin (same layer,
    same shape)."""
    import torch

    state = decoder.state_dict()
    copied = {k: state[k.replace(".crossattention.", ".attention.")].clone()
              for k in state if ".crossattention." in k}
    if not copied:
        raise InputError("bt cross_attention_init 'self': the decoder has no cross-attention blocks")
    with torch.no_grad():
        decoder.load_state_dict(copied, strict=False)


def max_source_len(model: Any) -> int:
    """Tokens per side the model's position embeddings allow (tag and </s> included)."""
    cfg = getattr(model.config, "encoder", model.config)
    if getattr(cfg, "model_type", "") == "marian":
        return int(cfg.max_position_embeddings) - 2
    return int(cfg.max_position_embeddings) - int(cfg.pad_token_id or 0) - 1


def tag_start(model: Any) -> bool:
    return getattr(model.config, TAG_START, "") == "tag"


def decoder_prefix(model: Any, tokenizer: Any, tgt_lang: str) -> list[int]:
    """What the decoder reads before its first output token: the start token, then (for models
    trained so) the target tag. `generate` prepends the start token itself when a given prefix
    does not begin with it, so training uses the same two-token prefix."""
    start = int(model.config.decoder_start_token_id)
    return [start, tag_id(tokenizer, tgt_lang)] if tag_start(model) else [start]


def teacher_forcing(prefix: list[int], target: list[int]) -> tuple[list[int], list[int]]:
    """(decoder inputs, labels) for one target: position i reads inputs[i] and predicts labels[i];
    the positions reading the prefix before its last token predict nothing (-100)."""
    return [*prefix, *target[:-1]], [-100] * (len(prefix) - 1) + list(target)


def encode_sources(tokenizer: Any, texts: list[str], tgt_lang: str, max_len: int,
                   marks: Sequence[int] = ()) -> list[list[int]]:
    """`>>tgt<< [marks] pieces </s>` per text (`marks`: e.g. the id of `BT_TAG`), truncated to `max_len` tokens."""
    head = [tag_id(tokenizer, tgt_lang), *marks]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[*head, *x[:max_len - 1 - len(head)], tokenizer.eos_token_id] for x in ids]


def tag_id(tokenizer: Any, tgt_lang: str) -> int:
    tag = tokenizer.convert_tokens_to_ids(lang_tag(tgt_lang))
    if tag is None or tag == tokenizer.unk_token_id:
        raise InputError(f"the model has no tag for target language {tgt_lang!r}; it was trained for "
                         f"{known_targets(tokenizer)}")
    return int(tag)


def encode_targets(tokenizer: Any, texts: list[str], max_len: int) -> list[list[int]]:
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[*x[:max_len - 1], tokenizer.eos_token_id] for x in ids]


def known_targets(tokenizer: Any) -> list[str]:
    return sorted(t[2:-2] for t in tokenizer.get_vocab() if t.startswith(">>") and t.endswith("<<"))


def load_model(model_dir: str | Path) -> tuple[PreTrainedModel, Any]:
    """A trained BT model folder (`xling bt train` writes OUT/model): Marian or warm-started."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    p = Path(model_dir)
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"{p} is not a BT model folder (no config.json); pass OUT/model of `xling bt train`")
    return AutoModelForSeq2SeqLM.from_pretrained(str(p)), AutoTokenizer.from_pretrained(str(p))
