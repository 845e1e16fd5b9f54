"""Translation language modelling (XLM, Conneau & Lample 2019) on translation pairs.

A pair is framed as XLM-R frames two segments, `<s> src </s> </s> tgt </s>`, both sides are
masked with the shared 80/10/10 rule, and every token attends to both sides, so a masked word
can be restored from its own sentence or from the translation.

This module also owns the pair framing that CAMLM and BTMLM reuse (`frame_pairs`):
- position restart (`restart_positions`): XLM restarts positions at the second sentence so the
  two sides share position embeddings; XLM-R numbers positions from `pad + 1`, so the target
  side's first token (its opening `</s>`) gets `pad + 1`, exactly like `<s>`;
- language ids (`lang_embeddings`): XLM-R has `type_vocab_size=1` and no language embedding.
  We reuse its token-type embedding as XLM's language embedding: token type `1 + lang_ids[lang]`
  for each side, keeping type 0 for "no language" (what monolingual MLM batches use). The model
  therefore needs `type_vocab_size ≥ 1 + len(lang_ids)`; `check_lang_embeddings` says so clearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from xling.core.errors import InputError
from xling.objectives.base import OBJECTIVES, Objective, PairExample, SpecialIds, mask_tokens, masked_lm_loss

if TYPE_CHECKING:
    from transformers import XLMRobertaForMaskedLM


@dataclass
class PairMaskingConfig:
    """Options shared by the pair objectives (TLM, CAMLM)."""

    select_prob: float = 0.15
    mask_prob: float = 0.8
    random_prob: float = 0.1
    whole_word: bool = False
    restart_positions: bool = True  # the target side's positions start again at pad + 1 (XLM)
    lang_embeddings: bool = False  # token_type_ids = 1 + language id per side (needs type_vocab_size)

    def __post_init__(self) -> None:
        if not 0.0 < self.select_prob <= 1.0:
            raise InputError(f"select_prob must be in (0, 1], got {self.select_prob}")
        if self.mask_prob < 0 or self.random_prob < 0 or self.mask_prob + self.random_prob > 1.0:
            raise InputError(f"need mask_prob, random_prob ≥ 0 and mask_prob + random_prob ≤ 1, "
                             f"got {self.mask_prob} + {self.random_prob}")


TLMConfig = PairMaskingConfig


def fit_pair(n_src: int, n_tgt: int, budget: int) -> tuple[int, int]:
    """Lengths to keep so both sides fit `budget` tokens: the longer side is cut first, and
    neither side is cut below half the budget while the other still fits."""
    if n_src + n_tgt <= budget:
        return n_src, n_tgt
    half = budget // 2
    if n_src <= half:
        return n_src, budget - n_src
    if n_tgt <= half:
        return budget - n_tgt, n_tgt
    return half, budget - half


@dataclass
class FramedPairs:
    """A batch of framed pairs. `segment` is 0 on the source side (`<s> src </s>`), 1 on the target
    side (`</s> tgt </s>`) and -1 on padding; `content` marks the src/tgt tokens themselves."""

    input_ids: torch.Tensor
    segment: torch.Tensor
    content: torch.Tensor
    position_ids: torch.Tensor
    token_type_ids: torch.Tensor | None

    @property
    def padding_mask(self) -> torch.Tensor:
        return (self.segment >= 0).long()


def frame_pairs(srcs: list[list[int]], tgts: list[list[int]], langs: list[tuple[str, str]], special: SpecialIds,
                max_len: int, restart_positions: bool, lang_ids: dict[str, int] | None) -> FramedPairs:
    """`<s> src </s> </s> tgt </s>` per pair, right-padded to the longest; sides truncated to fit
    `max_len` with `fit_pair`. `lang_ids` (or None) gives per-side token types `1 + lang_ids[lang]`."""
    if max_len < 6:
        raise InputError(f"max_len={max_len} leaves no room for a pair (4 special tokens + both sides)")
    kept = [fit_pair(len(s), len(t), max_len - 4) for s, t in zip(srcs, tgts, strict=True)]
    width = max(a + b for a, b in kept) + 4
    n = len(srcs)
    input_ids = torch.full((n, width), special.pad, dtype=torch.long)
    segment = torch.full((n, width), -1, dtype=torch.long)
    content = torch.zeros((n, width), dtype=torch.bool)
    position_ids = torch.full((n, width), special.pad, dtype=torch.long)
    token_type_ids = torch.zeros((n, width), dtype=torch.long) if lang_ids is not None else None
    for i, (s, t) in enumerate(zip(srcs, tgts, strict=True)):
        a, b = kept[i]
        row = [special.bos, *s[:a], special.eos, special.eos, *t[:b], special.eos]
        input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        segment[i, :a + 2] = 0
        segment[i, a + 2:len(row)] = 1
        content[i, 1:a + 1] = True
        content[i, a + 3:a + 3 + b] = True
        first = special.pad + 1
        if restart_positions:
            position_ids[i, :a + 2] = torch.arange(first, first + a + 2)
            position_ids[i, a + 2:len(row)] = torch.arange(first, first + b + 2)
        else:
            position_ids[i, :len(row)] = torch.arange(first, first + len(row))
        if token_type_ids is not None:
            src_lang, tgt_lang = langs[i]
            token_type_ids[i, :a + 2] = 1 + _lang_id(lang_ids, src_lang)
            token_type_ids[i, a + 2:len(row)] = 1 + _lang_id(lang_ids, tgt_lang)
    return FramedPairs(input_ids, segment, content, position_ids, token_type_ids)


def _lang_id(lang_ids: dict[str, int], lang: str) -> int:
    if lang not in lang_ids:
        raise InputError(f"lang_embeddings: language {lang!r} has no id; known: {sorted(lang_ids)} "
                         "(add it to the run's languages)")
    return lang_ids[lang]


def check_lang_embeddings(model: XLMRobertaForMaskedLM, token_type_ids: torch.Tensor | None) -> None:
    """Clear error when language ids exceed the model's token-type vocabulary."""
    if token_type_ids is None:
        return
    inner = getattr(model, "module", model)
    size = int(inner.config.type_vocab_size)
    needed = int(token_type_ids.max()) + 1
    if needed > size:
        raise InputError(f"lang_embeddings needs type_vocab_size ≥ {needed} (1 + number of languages) but the "
                         f"model has {size}; build the model with a larger type_vocab_size or set "
                         "lang_embeddings: false")


def mask_pairs(framed: FramedPairs, cfg: PairMaskingConfig, special: SpecialIds,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared 80/10/10 masking over the content tokens of both sides."""
    starts = special.word_starts(framed.input_ids) if cfg.whole_word else None
    return mask_tokens(framed.input_ids, framed.content, special, generator, cfg.select_prob, cfg.mask_prob,
                       cfg.random_prob, whole_word_starts=starts)


def pair_metrics(prefix: str, loss: torch.Tensor, n_correct: torch.Tensor, n_masked: torch.Tensor) -> dict[str, float]:
    n = int(n_masked)
    return {f"{prefix}_loss": float(loss.detach()), f"{prefix}_acc": int(n_correct) / max(n, 1), "n_masked": n}


@OBJECTIVES.register("tlm")
class TLM(Objective):
    """Both sides of a translation pair masked; full attention across the pair."""

    name = "tlm"
    data = "parallel"
    Config = TLMConfig

    def collate(self, examples: list[PairExample], generator: torch.Generator) -> dict[str, torch.Tensor]:
        if not examples:
            raise InputError("tlm.collate got an empty list of examples")
        cfg: PairMaskingConfig = self.cfg
        framed = frame_pairs([list(e.src) for e in examples], [list(e.tgt) for e in examples],
                             [(e.src_lang, e.tgt_lang) for e in examples], self.special, self.max_len,
                             cfg.restart_positions, self.lang_ids if cfg.lang_embeddings else None)
        masked, labels = mask_pairs(framed, cfg, self.special, generator)
        batch = {"input_ids": masked, "attention_mask": self.attention_mask(framed), "labels": labels,
                 "position_ids": framed.position_ids, "segment": framed.segment}
        if framed.token_type_ids is not None:
            batch["token_type_ids"] = framed.token_type_ids
        return batch

    def attention_mask(self, framed: FramedPairs) -> torch.Tensor:
        """Who sees whom: TLM attends across the whole pair (CAMLM overrides this and nothing else)."""
        return framed.padding_mask

    def loss(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        check_lang_embeddings(model, batch.get("token_type_ids"))
        loss, n_correct, n_masked = masked_lm_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"],
                                                   position_ids=batch["position_ids"],
                                                   token_type_ids=batch.get("token_type_ids"))
        return loss, pair_metrics(self.name, loss, n_correct, n_masked)

    def n_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return int((batch["segment"] >= 0).sum())  # also right where the attention mask is (batch, seq, seq)
