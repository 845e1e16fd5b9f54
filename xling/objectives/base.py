"""The objective contract: how a pretraining objective builds batches and computes its loss.

An objective is a small class with a typed `Config` dataclass. The trainer picks objectives per
micro-batch by weight, feeds each from the stream its `data` names ("mono": packed monolingual
sequences, "parallel": translation pairs), calls `collate` on the CPU side (deterministic given
the generator it receives) and `loss` inside the training step.

Shared helpers live here so every objective masks and scores the same way:
`mask_tokens` (the 80/10/10 rule with explicit probabilities, never touching special tokens,
optional whole-word masking) and `masked_lm_loss` (projects only the masked positions through
the vocabulary-sized output layer, which dominates CPU cost).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch

from xling.core.errors import InputError
from xling.core.registry import Registry

if TYPE_CHECKING:
    from transformers import XLMRobertaForMaskedLM

IGNORE_INDEX = -100

OBJECTIVES: Registry[type[Objective]] = Registry("objective")


@dataclass
class SpecialIds:
    """Special token ids of a tokenizer (XLM-R layout: <s>=0 <pad>=1 </s>=2 <unk>=3, <mask> last).

    `word_start[i]` is True when vocabulary piece i begins a word (SentencePiece `▁` prefix);
    whole-word masking needs it. It is None when the tokenizer was not inspected for it.
    """

    bos: int
    eos: int
    pad: int
    unk: int
    mask: int
    vocab_size: int
    all_special: tuple[int, ...]
    word_start: torch.Tensor | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> SpecialIds:
        """From a Hugging Face tokenizer (`AutoTokenizer.from_pretrained(folder)`)."""
        ids = {name: getattr(tokenizer, f"{name}_token_id", None) for name in ("bos", "eos", "pad", "unk", "mask")}
        missing = [k for k, v in ids.items() if v is None]
        if missing:
            raise InputError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no "
                             f"{', '.join(missing)} token; XLM-R style pretraining needs <s> </s> <pad> <unk> <mask>")
        vocab_size = len(tokenizer)
        pieces = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
        specials = tuple(sorted(set(tokenizer.all_special_ids) | set(ids.values())))
        word_start = torch.tensor([p is not None and p.startswith("▁") for p in pieces], dtype=torch.bool)
        word_start[list(specials)] = True  # a special token always ends the word before it
        return cls(bos=ids["bos"], eos=ids["eos"], pad=ids["pad"], unk=ids["unk"], mask=ids["mask"],
                   vocab_size=vocab_size, all_special=specials, word_start=word_start)

    def special_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """True where `input_ids` holds a special token."""
        return torch.isin(input_ids, torch.tensor(self.all_special, dtype=input_ids.dtype, device=input_ids.device))

    def word_starts(self, input_ids: torch.Tensor) -> torch.Tensor:
        """True where a token begins a word (needs `word_start`; see `from_tokenizer`)."""
        if self.word_start is None:
            raise InputError("whole-word masking needs SpecialIds.word_start (build SpecialIds.from_tokenizer)")
        return self.word_start.to(input_ids.device)[input_ids]


@dataclass
class MonoExample:
    """One packed monolingual sequence.

    `ids` holds content tokens only: no leading <s> and no trailing </s> (the objective adds the
    framing), at most `max_len - 2` of them. Document boundaries inside a packed sequence are
    marked by </s> (eos), as in fairseq/XLM-R packing.
    """

    ids: list[int] | np.ndarray
    lang: str


@dataclass
class PairExample:
    """One translation pair; `src`/`tgt` are content tokens without <s>/</s>."""

    src: list[int]
    tgt: list[int]
    src_lang: str
    tgt_lang: str


@dataclass
class NoOptions:
    """Config of an objective that takes no options."""


class Objective(ABC):
    """Base class: subclasses set `name`, `data` and `Config`, and implement `collate` and `loss`.

    Register with `@OBJECTIVES.register("name")` and import the module in `xling/objectives/__init__.py`.
    """

    name: ClassVar[str]
    data: ClassVar[Literal["mono", "parallel"]]
    Config: ClassVar[type] = NoOptions

    def __init__(self, cfg: Any, special: SpecialIds, max_len: int, lang_ids: dict[str, int]) -> None:
        self.cfg = cfg
        self.special = special
        self.max_len = max_len
        self.lang_ids = lang_ids

    @abstractmethod
    def collate(self, examples: list, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Build one CPU batch (masking etc.) from examples; deterministic given `generator`."""

    @abstractmethod
    def loss(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Forward + loss; returns (scalar loss, metrics such as {"mlm_acc": ..., "n_masked": ...})."""

    def state_dict(self) -> dict[str, Any]:
        """What the objective carries from one micro-batch to the next (XLCo's queue of negatives and
        momentum encoder). The trainer saves it in every checkpoint (`xling.core.checkpoint`: tensors
        to safetensors, the rest as JSON, so only tensors, numbers, strings, None, lists and dicts)
        and hands it back on resume, which is what makes a resumed run equal an uninterrupted one.
        Empty (the default): nothing outlives a micro-batch."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what `state_dict` returned, its tensors already on the training device."""
        if state:
            raise ValueError(f"objective {self.name} keeps no state, but was given {sorted(state)}")

    def check_log_row(self, row: dict[str, Any], step: int) -> None:
        """Called by the trainer with every metrics.jsonl row after optimizer step `step`; raise a
        `TrainingError` to stop a run that cannot recover (BTMLM's collapse guard). Default: nothing."""
        return None

    def n_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        """Real (non-padding) tokens in a batch, for tokens/s."""
        if "attention_mask" in batch and batch["attention_mask"].dim() == 2:
            return int(batch["attention_mask"].sum())
        return int((batch["input_ids"] != self.special.pad).sum())


def mask_tokens(input_ids: torch.Tensor, maskable: torch.Tensor, special: SpecialIds, generator: torch.Generator,
                select_prob: float = 0.15, mask_prob: float = 0.8, random_prob: float = 0.1,
                whole_word_starts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking. Returns (masked input_ids, labels) with labels = -100 where not selected.

    Each maskable token (word, with `whole_word_starts`) is selected with `select_prob`; a selected
    token becomes <mask> with `mask_prob`, a random non-special token with `random_prob`, and stays
    unchanged otherwise. Special tokens are never selected, whatever `maskable` says.
    With `whole_word_starts` (True at tokens that begin a word), a word is selected as a unit and
    all of its maskable tokens are predicted; the 80/10/10 choice is still made per token.
    """
    if not 0.0 <= select_prob <= 1.0 or mask_prob < 0 or random_prob < 0 or mask_prob + random_prob > 1.0 + 1e-9:
        raise InputError(f"bad masking probabilities: select={select_prob}, mask={mask_prob}, random={random_prob} "
                         "(need 0 ≤ select ≤ 1 and mask + random ≤ 1)")
    maskable = maskable & ~special.special_mask(input_ids)
    shape = input_ids.shape
    if whole_word_starts is None:
        selected = (torch.rand(shape, generator=generator) < select_prob) & maskable
    else:
        # word id of each token = number of word starts up to it; draw one uniform per word.
        starts = whole_word_starts | ~maskable
        word_id = torch.cumsum(starts.reshape(-1).long(), 0) - 1
        word_u = torch.rand(int(word_id[-1]) + 1 if word_id.numel() else 0, generator=generator)
        selected = (word_u[word_id.clamp(min=0)].reshape(shape) < select_prob) & maskable
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    u = torch.rand(shape, generator=generator)
    to_mask = selected & (u < mask_prob)
    to_random = selected & (u >= mask_prob) & (u < mask_prob + random_prob)
    out = input_ids.clone()
    out[to_mask] = special.mask
    n_random = int(to_random.sum())
    if n_random:
        out[to_random] = _random_non_special(n_random, special, generator).to(out.dtype)
    return out, labels


def _random_non_special(n: int, special: SpecialIds, generator: torch.Generator) -> torch.Tensor:
    """n token ids drawn uniformly from the non-special vocabulary."""
    allowed = torch.ones(special.vocab_size, dtype=torch.bool)
    allowed[list(special.all_special)] = False
    pool = allowed.nonzero().squeeze(1)
    return pool[torch.randint(len(pool), (n,), generator=generator)]


def attention_mask_for(model: XLMRobertaForMaskedLM, attention_mask: torch.Tensor | None,
                       dtype: torch.dtype) -> torch.Tensor | None:
    """Pass 2-D padding masks through; turn a 3-D (batch, query, key) visibility mask into the 4-D
    mask transformers 5 uses as-is: boolean for SDPA/flex, additive float for eager attention.

    Every query is made to see itself so no attention row is empty (an empty row gives NaN).
    """
    if attention_mask is None or attention_mask.dim() == 2:
        return attention_mask
    if attention_mask.dim() != 3:
        raise InputError(f"attention_mask must be 2-D (batch, seq) or 3-D (batch, seq, seq), got {tuple(attention_mask.shape)}")
    _, q, k = attention_mask.shape
    if q != k:
        raise InputError(f"3-D attention_mask must be square per example, got {tuple(attention_mask.shape)}")
    visible = attention_mask.bool() | torch.eye(q, dtype=torch.bool, device=attention_mask.device)
    visible = visible[:, None, :, :]
    if getattr(model.config, "_attn_implementation", "sdpa") == "eager":
        return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill(
            ~visible, torch.finfo(dtype).min)
    return visible


def masked_lm_loss(model: XLMRobertaForMaskedLM, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                   labels: torch.Tensor, position_ids: torch.Tensor | None = None,
                   token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-entropy over masked positions only. Returns (mean loss, n_correct, n_masked).

    Runs the encoder (`model.roberta`) once, then sends ONLY the positions with a label through
    `model.lm_head`: the full-vocabulary projection is most of the compute on CPU, and MLM scores
    ~15% of positions. `attention_mask` may be 2-D padding or 3-D per-query visibility (see
    `attention_mask_for`). With no masked position the loss is a zero that still has a graph
    (keeps DDP's gradient hooks firing on every rank).

    `model` is always the plain `XLMRobertaForMaskedLM`: the trainer synchronises gradients itself
    (see `xling.trainer`), so objectives may call any of its submodules directly.
    """
    emb_dtype = model.roberta.embeddings.word_embeddings.weight.dtype
    mask = attention_mask_for(model, attention_mask, emb_dtype)
    hidden = _encode(model, input_ids, mask, position_ids, token_type_ids)
    sel = labels != IGNORE_INDEX
    n_masked = sel.sum()
    if int(n_masked) == 0:
        zero = hidden.sum() * 0.0
        return zero, torch.zeros((), dtype=torch.long), n_masked
    logits = model.lm_head(hidden[sel])
    target = labels[sel]
    loss = torch.nn.functional.cross_entropy(logits.float(), target)
    n_correct = (logits.detach().argmax(-1) == target).sum()
    return loss, n_correct, n_masked


def _encode(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
            position_ids: torch.Tensor | None, token_type_ids: torch.Tensor | None) -> torch.Tensor:
    return model.roberta(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         token_type_ids=token_type_ids).last_hidden_state
