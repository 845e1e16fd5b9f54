"""Back-translation masked language modelling (ERNIE-M, Ouyang et al. 2021) on monolingual text.

Step 1 (no gradient, model in eval mode): the sentence is followed by k placeholder `<mask>`
tokens, `<s> src </s> </s> <mask>×k </s>`. Source tokens attend to the source; placeholders attend
only to the source (not to each other), the CAMLM pattern, so the current model fills them in
one parallel pass with pseudo tokens "in the other language", drawn from the model's
distribution (temperature, top-k) over the tokens that are neither special nor in the source.

Step 2 (trained): the same layout with the source masked by the 80/10/10 rule and the placeholders
replaced by the pseudo tokens, `<s> src_masked </s> </s> pseudo </s>`. With the default
`step2_attention: cross` each side attends only to the other (CAMLM's mask), so a masked source
word is restored from the pseudo-translation; the loss covers the source side only.

Choices ERNIE-M leaves open, and ours:
- k = ceil(`placeholder_ratio` × source length), capped by `max_len` (ERNIE-M does not state k);
- the source is the first `src_max_tokens` tokens of the packed monolingual sequence (default:
  half of what fits), so step 2 has room for the pseudo side;
- pseudo tokens are sampled (`decoding: sample`, temperature 1, top-k 50), not the argmax: every
  placeholder of a sentence sees the same inputs except its position, so the argmax filled nearly
  all of them with one token (distinct ratio 0.003 in the demo); sampling with the source's own
  tokens excluded (`exclude_source`: a copy of the source teaches nothing cross-lingual) keeps the
  pseudo side varied; with `no_repeat` a row never holds one pseudo token twice (the token-repetition
  failure of one-pass non-autoregressive decoding, Gu et al. 2018). The draw uses torch's global
  generator, which the trainer seeds per micro-batch (`seed_micro_batch`), so a resumed run draws
  the same tokens;
- the share of distinct pseudo tokens per batch is logged (`btmlm_pseudo_distinct` in
  metrics.jsonl); a window-mean below `min_distinct` after `guard_after_steps` steps stops the run
  with a `TrainingError` (`check_log_row`), as a collapsed generator only teaches noise;
- the target language is signalled only through language embeddings (`lang_embeddings` with
  `target_langs`: mono lang → pseudo lang); without them the placeholders carry no language id
  and the model fills them from what CAMLM taught it;
- positions of the placeholder side restart at pad + 1 (`restart_positions`), like the target side
  of a TLM/CAMLM pair, so step 2 looks like a CAMLM pair to the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch

from xling.core.errors import InputError, TrainingError
from xling.objectives.base import (
    OBJECTIVES,
    MonoExample,
    Objective,
    attention_mask_for,
    mask_tokens,
    masked_lm_loss,
)
from xling.objectives.camlm import cross_attention_mask
from xling.objectives.tlm import check_lang_embeddings, frame_pairs, pair_metrics

if TYPE_CHECKING:
    from transformers import XLMRobertaForMaskedLM


@dataclass
class BTMLMConfig:
    select_prob: float = 0.15
    mask_prob: float = 0.8
    random_prob: float = 0.1
    whole_word: bool = False
    src_max_tokens: int = 0  # 0: (max_len - 4) // 2
    placeholder_ratio: float = 1.0  # k = ceil(ratio × source tokens)
    restart_positions: bool = True
    lang_embeddings: bool = False
    target_langs: dict[str, str] = field(default_factory=dict)  # e.g. {kaz_Cyrl: rus_Cyrl, rus_Cyrl: kaz_Cyrl}
    step2_attention: Literal["cross", "full"] = "cross"
    decoding: Literal["sample", "argmax"] = "sample"
    temperature: float = 1.0
    top_k: int = 50  # 0: the whole (allowed) vocabulary
    exclude_source: bool = True  # a row's own source tokens are never its pseudo tokens
    # no token twice among one row's pseudo tokens: each placeholder draws (left to right) from the
    # tokens its row has not used yet — the token-repetition fix of one-pass parallel decoding
    no_repeat: bool = False
    min_distinct: float = 0.05  # collapse guard: 0 disables it
    guard_after_steps: int = 50  # optimizer steps before the guard looks (the generator warms up)

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise InputError(f"btmlm.temperature must be positive, got {self.temperature}")
        if self.top_k < 0:
            raise InputError(f"btmlm.top_k must be ≥ 0 (0: no cut), got {self.top_k}")
        if not 0.0 <= self.min_distinct <= 1.0:
            raise InputError(f"btmlm.min_distinct must be within [0, 1], got {self.min_distinct}")
        if self.guard_after_steps < 0:
            raise InputError(f"btmlm.guard_after_steps must be ≥ 0, got {self.guard_after_steps}")
        if not 0.0 < self.select_prob <= 1.0:
            raise InputError(f"select_prob must be in (0, 1], got {self.select_prob}")
        if self.mask_prob < 0 or self.random_prob < 0 or self.mask_prob + self.random_prob > 1.0:
            raise InputError(f"need mask_prob, random_prob ≥ 0 and mask_prob + random_prob ≤ 1, "
                             f"got {self.mask_prob} + {self.random_prob}")
        if self.placeholder_ratio <= 0:
            raise InputError(f"placeholder_ratio must be positive, got {self.placeholder_ratio}")
        if self.src_max_tokens < 0:
            raise InputError(f"src_max_tokens must be ≥ 0, got {self.src_max_tokens}")


def generation_mask(segment: torch.Tensor) -> torch.Tensor:
    """Step-1 visibility (batch, seq, seq): every real query sees the source side only."""
    q = segment[:, :, None]
    k = segment[:, None, :]
    return ((k == 0) & (q >= 0)).long()


@OBJECTIVES.register("btmlm")
class BTMLM(Objective):
    """Fill placeholders with pseudo tokens (no grad), then restore the masked source from them."""

    name = "btmlm"
    data = "mono"
    Config = BTMLMConfig

    def _target_lang(self, lang: str) -> str:
        cfg: BTMLMConfig = self.cfg
        if lang not in cfg.target_langs:
            raise InputError(f"btmlm.target_langs has no entry for {lang!r}; with lang_embeddings every "
                             f"monolingual language needs a pseudo-translation language, e.g. {{{lang}: rus_Cyrl}}")
        return cfg.target_langs[lang]

    def collate(self, examples: list[MonoExample], generator: torch.Generator) -> dict[str, torch.Tensor]:
        if not examples:
            raise InputError("btmlm.collate got an empty list of examples")
        cfg: BTMLMConfig = self.cfg
        room = self.max_len - 4
        src_max = cfg.src_max_tokens or room // 2
        if src_max >= room:
            raise InputError(f"btmlm.src_max_tokens={src_max} leaves no room for placeholders in max_len={self.max_len}")
        srcs = [[int(t) for t in e.ids[:src_max]] for e in examples]
        if any(not s for s in srcs):
            raise InputError("btmlm.collate got an empty monolingual sequence")
        ks = [min(max(1, math.ceil(cfg.placeholder_ratio * len(s))), room - len(s)) for s in srcs]
        placeholders = [[self.special.mask] * k for k in ks]
        langs = [(e.lang, self._target_lang(e.lang) if cfg.lang_embeddings else e.lang) for e in examples]
        framed = frame_pairs(srcs, placeholders, langs, self.special, self.max_len, cfg.restart_positions,
                             self.lang_ids if cfg.lang_embeddings else None)
        src_content = framed.content & (framed.segment == 0)
        starts = self.special.word_starts(framed.input_ids) if cfg.whole_word else None
        masked, labels = mask_tokens(framed.input_ids, src_content, self.special, generator, cfg.select_prob,
                                     cfg.mask_prob, cfg.random_prob, whole_word_starts=starts)
        step2_mask = cross_attention_mask(framed.segment) if cfg.step2_attention == "cross" else framed.padding_mask
        batch = {"input_ids": masked, "attention_mask": step2_mask, "labels": labels,
                 "position_ids": framed.position_ids, "segment": framed.segment,
                 "step1_input_ids": framed.input_ids, "step1_attention_mask": generation_mask(framed.segment),
                 "placeholder": framed.content & (framed.segment == 1)}
        if framed.token_type_ids is not None:
            batch["token_type_ids"] = framed.token_type_ids
        return batch

    @torch.no_grad()
    def generate_pseudo(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Step 1: pseudo token ids for the placeholder positions (flattened in row-major order)."""
        inner = getattr(model, "module", model)
        was_training = inner.training
        inner.eval()
        try:
            dtype = inner.roberta.embeddings.word_embeddings.weight.dtype
            mask = attention_mask_for(inner, batch["step1_attention_mask"], dtype)
            hidden = inner.roberta(batch["step1_input_ids"], attention_mask=mask, position_ids=batch["position_ids"],
                                   token_type_ids=batch.get("token_type_ids")).last_hidden_state
            logits = inner.lm_head(hidden[batch["placeholder"]]).float()
        finally:
            inner.train(was_training)
        return self.pick(logits, batch)

    def pick(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pseudo tokens from placeholder logits (n_placeholders, vocab): specials (and, with
        `exclude_source`, the row's source tokens) ruled out, then argmax or a tempered top-k draw."""
        cfg: BTMLMConfig = self.cfg
        logits = logits.float().clone()
        logits[:, list(self.special.all_special)] = float("-inf")
        if cfg.exclude_source:
            ids = batch["step1_input_ids"]
            in_source = torch.zeros(ids.size(0), logits.size(1), dtype=torch.bool, device=logits.device)
            in_source.scatter_(1, ids.masked_fill(batch["segment"] != 0, self.special.pad), True)
            rows = batch["placeholder"].nonzero()[:, 0]
            banned = in_source[rows]
            # a row whose source covers the whole allowed vocabulary keeps it rather than have nothing
            banned &= ~banned.logical_or(torch.isinf(logits)).all(1, keepdim=True)
            logits = logits.masked_fill(banned, float("-inf"))
        if not cfg.no_repeat:
            return self._draw(logits)
        return self._draw_without_repeats(logits, batch["placeholder"])

    def _draw(self, logits: torch.Tensor) -> torch.Tensor:
        cfg: BTMLMConfig = self.cfg
        if cfg.decoding == "argmax":
            return logits.argmax(-1)
        logits = logits / cfg.temperature
        if cfg.top_k and cfg.top_k < logits.size(1):
            top, idx = logits.topk(cfg.top_k, dim=1)
            return idx.gather(1, torch.multinomial(torch.softmax(top, 1), 1)).squeeze(1)
        return torch.multinomial(torch.softmax(logits, 1), 1).squeeze(1)

    def _draw_without_repeats(self, logits: torch.Tensor, placeholder: torch.Tensor) -> torch.Tensor:
        """`no_repeat`: the j-th placeholder of every row is drawn after the (j-1)-th, with the
        tokens its row already holds ruled out before the argmax / top-k cut (so top-k always offers
        k unused tokens). A row that has used every allowed token may repeat."""
        rows = placeholder.nonzero()[:, 0]
        order = placeholder.long().cumsum(1)[placeholder] - 1  # index of each placeholder within its row
        used = torch.zeros(placeholder.size(0), logits.size(1), dtype=torch.bool, device=logits.device)
        out = torch.empty(logits.size(0), dtype=torch.long, device=logits.device)
        for j in range(int(order.max()) + 1 if order.numel() else 0):
            at = (order == j).nonzero()[:, 0]
            banned = used[rows[at]]
            step = logits[at].masked_fill(banned, float("-inf"))
            exhausted = torch.isinf(step).all(1, keepdim=True)
            step = torch.where(exhausted, logits[at], step)
            picked = self._draw(step)
            out[at] = picked
            used[rows[at], picked] = True
        return out

    def check_log_row(self, row: dict[str, float], step: int) -> None:
        """The collapse guard, called by the trainer with each metrics.jsonl row."""
        cfg: BTMLMConfig = self.cfg
        ratio = row.get("btmlm_pseudo_distinct")
        if not cfg.min_distinct or ratio is None or step < cfg.guard_after_steps or ratio >= cfg.min_distinct:
            return
        raise TrainingError(
            f"btmlm generator collapsed at step {step}: only {ratio:.3f} of its pseudo tokens are distinct "
            f"(btmlm.min_distinct {cfg.min_distinct}); the masked source would be restored from noise. Start "
            "BTMLM from a model that CAMLM trained on translation pairs (ERNIE-M's order: an arm with "
            "`init_from` the CAMLM arm), keep `decoding: sample` with a higher temperature or top_k, or set "
            "btmlm.min_distinct: 0 to train on anyway")

    def loss(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        check_lang_embeddings(model, batch.get("token_type_ids"))
        pseudo = self.generate_pseudo(model, batch)
        input_ids = batch["input_ids"].clone()
        input_ids[batch["placeholder"]] = pseudo.to(input_ids.dtype)
        loss, n_correct, n_masked = masked_lm_loss(model, input_ids, batch["attention_mask"], batch["labels"],
                                                   position_ids=batch["position_ids"],
                                                   token_type_ids=batch.get("token_type_ids"))
        metrics = pair_metrics("btmlm", loss, n_correct, n_masked)
        metrics["btmlm_pseudo_distinct"] = int(pseudo.unique().numel()) / max(int(pseudo.numel()), 1)
        return loss, metrics

    def n_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return int((batch["segment"] >= 0).sum())
