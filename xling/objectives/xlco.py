"""Sentence-level cross-lingual contrast: InfoXLM's XLCo and LaBSE's additive-margin translation ranking.

Each side of a translation pair is encoded on its own (`<s> src </s>` and `<s> tgt </s>`, no
cross-attention) and pooled into one vector (mean over real tokens, or the `<s>` state). With
L2-normalised vectors s_i, t_j, temperature τ and margin m the source → target loss of pair i is

    -log  exp((s_i·t_i − m)/τ) / ( exp((s_i·t_i − m)/τ) + Σ_{j≠i} exp(s_i·t_j/τ) + Σ_q exp(s_i·q/τ) )

over the in-batch targets j and the queued targets q of earlier batches (InfoNCE with negatives
from a queue, as XLCo; m > 0 is LaBSE's additive margin, m = 0 plain InfoNCE). `symmetric` adds the
target → source direction (LaBSE's bidirectional loss) and averages the two.

`similarity: maxsim` contrasts the pair's token states instead of one pooled vector per side (late
interaction, as ColBERT and BERTScore): with unit token states of each side's real tokens (`<s>`/`</s>`
left out) at hidden layer `layer`,

    S(x, y) = ½ ( mean_a max_b x_a·y_b + mean_b max_a x_a·y_b )

replaces s_i·t_j above (in [−1, 1] like a cosine, so τ and m mean the same). It is the similarity that
`eval_xtreme`'s `retrieval.scoring: maxsim` searches with (there IDF-weighted over the evaluation set and
summed, which ranks alike up to the weights), so the objective trains the search the evaluation runs.
It keeps no queue (the negatives are the batch's own sentences).

Queued keys come, as in InfoXLM (and MoCo), from a momentum encoder: an EMA copy of the encoder,
θ_k ← μ θ_k + (1 − μ) θ, updated at every XLCo micro-batch (`momentum` μ, default 0.999). With
`momentum: 0` the queue holds detached vectors of the online encoder instead (a memory bank: no second
model, but keys from an encoder that has moved on; measured to hurt at CPU scale, see
docs/experiments.md). The in-batch keys are always the online encoder's, with gradients on both sides.
The queue and the momentum encoder's weights are part of every checkpoint (`state_dict`), so a resumed
run with `queue_size > 0` equals an uninterrupted one, as in-batch-only runs do. A checkpoint written
before they were saved resumes with an empty queue and a fresh momentum copy (the trainer warns). The
momentum encoder is a plain copy, so it is not for FSDP-sharded runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from eval_xtreme.retrieval import hidden_state_index
from xling.objectives.base import OBJECTIVES, Objective, PairExample, attention_mask_for

if TYPE_CHECKING:
    from transformers import XLMRobertaForMaskedLM


@dataclass
class XLCoConfig:
    temperature: float = 0.1  # τ; LaBSE's scale s is 1/τ
    margin: float = 0.0  # additive margin on the positive's cosine (LaBSE uses 0.3)
    queue_size: int = 0  # negatives kept from earlier batches (per direction); 0: in-batch only
    symmetric: bool = True  # also rank sources given each target
    pooling: Literal["mean", "cls"] = "mean"  # mean: what eval_xtreme's retrieval encoder uses
    momentum: float = 0.999  # EMA rate of the key encoder that fills the queue; 0: online encoder (memory bank)
    similarity: Literal["pooled", "maxsim"] = "pooled"  # one vector per side, or token late interaction
    layer: int = -1  # hidden layer contrasted, numbered as eval_xtreme's retrieval `layer` (-1: the last)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.margin < 2.0:
            raise ValueError(f"margin must be in [0, 2) (a cosine margin), got {self.margin}")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be ≥ 0, got {self.queue_size}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        if self.similarity not in ("pooled", "maxsim"):
            raise ValueError(f"similarity must be 'pooled' or 'maxsim', got {self.similarity!r}")
        if self.similarity == "maxsim" and self.queue_size:
            raise ValueError("similarity 'maxsim' keeps no queue of negatives (token states of earlier batches "
                             "would be kept whole): set queue_size: 0")


def _frame(seqs: list[list[int]], bos: int, eos: int, pad: int, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [[bos, *s[:max_len - 2], eos] for s in seqs]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def info_nce(queries: torch.Tensor, keys: torch.Tensor, extra: torch.Tensor | None, temperature: float,
             margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean InfoNCE of row i of `queries` against key i (positive) among all `keys` and `extra`
    negatives; all inputs L2-normalised. Returns (loss, number of rows whose positive ranks first)."""
    extra_sims = queries @ extra.T if extra is not None and len(extra) else None
    return ranking_loss(queries @ keys.T, extra_sims, temperature, margin)


def ranking_loss(sims: torch.Tensor, extra_sims: torch.Tensor | None, temperature: float,
                 margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE over a (queries, keys) similarity matrix whose diagonal holds the positives, with
    more negatives' similarities in `extra_sims`. Returns (loss, rows whose positive ranks first)."""
    if margin:
        sims = sims - margin * torch.eye(len(sims), dtype=sims.dtype, device=sims.device)
    if extra_sims is not None:
        sims = torch.cat([sims, extra_sims], dim=1)
    target = torch.arange(len(sims), device=sims.device)
    loss = torch.nn.functional.cross_entropy(sims.float() / temperature, target)
    return loss, (sims.detach().argmax(1) == target).sum()


def maxsim_matrix(src: torch.Tensor, src_mask: torch.Tensor, tgt: torch.Tensor,
                  tgt_mask: torch.Tensor) -> torch.Tensor:
    """(sources, targets) late-interaction similarities: the mean of both directions' mean best
    cosine per token. `src`/`tgt`: unit token states (batch, width, hidden); masks: 1 on the tokens
    that count. As in eval_xtreme's MaxSim, a sentence without such tokens scores 0 in the direction
    where it is the query and −1 (the cosine floor) where it is the key."""
    dots = torch.einsum("iah,jbh->ijab", src, tgt)  # (src sentence, tgt sentence, src token, tgt token)
    sm = src_mask.bool()[:, None, :, None]
    tm = tgt_mask.bool()[None, :, None, :]
    floor = torch.finfo(dots.dtype).min
    best_t = dots.masked_fill(~tm, floor).amax(3)  # each source token's best target token
    best_s = dots.masked_fill(~sm, floor).amax(2)  # each target token's best source token
    s_w = src_mask.to(dots.dtype)[:, None, :]
    t_w = tgt_mask.to(dots.dtype)[None, :, :]
    precision = (best_t.clamp(min=-1.0) * s_w).sum(2) / s_w.sum(2).clamp(min=1.0)
    recall = (best_s.clamp(min=-1.0) * t_w).sum(2) / t_w.sum(2).clamp(min=1.0)
    return (precision + recall) / 2


@OBJECTIVES.register("xlco")
class XLCo(Objective):
    """InfoNCE over translation pairs, in-batch and queued negatives; optional additive margin."""

    name = "xlco"
    data = "parallel"
    Config = XLCoConfig

    def __init__(self, cfg: XLCoConfig, special, max_len: int, lang_ids: dict[str, int]) -> None:
        super().__init__(cfg, special, max_len, lang_ids)
        self.queues: dict[str, torch.Tensor | None] = {"tgt": None, "src": None}
        self.key_encoder: torch.nn.Module | None = None
        # momentum-encoder weights from a checkpoint, loaded into a copy of the model at the next XLCo
        # micro-batch (only then is the model at hand to copy the architecture from)
        self._resumed_key: dict[str, torch.Tensor] | None = None

    def state_dict(self) -> dict[str, Any]:
        if not self.cfg.queue_size:
            return {}  # in-batch negatives only: nothing outlives a micro-batch
        key = self.key_encoder.state_dict() if self.key_encoder is not None else self._resumed_key
        return {"queues": dict(self.queues), "key_encoder": key}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not self.cfg.queue_size:
            return
        if not isinstance(state.get("queues"), dict) or set(state["queues"]) != {"tgt", "src"}:
            raise ValueError(f"xlco state: expected queues for 'tgt' and 'src', got {sorted(state)}")
        self.queues = {side: q if q is None else q[:self.cfg.queue_size] for side, q in state["queues"].items()}
        self.key_encoder = None
        self._resumed_key = state.get("key_encoder")

    def collate(self, examples: list[PairExample], generator: torch.Generator) -> dict[str, torch.Tensor]:
        if len(examples) < 2 and self.cfg.queue_size == 0:
            raise ValueError("xlco needs at least 2 pairs per micro-batch (in-batch negatives) or queue_size > 0")
        sp = self.special
        src_ids, src_mask = _frame([list(e.src) for e in examples], sp.bos, sp.eos, sp.pad, self.max_len)
        tgt_ids, tgt_mask = _frame([list(e.tgt) for e in examples], sp.bos, sp.eos, sp.pad, self.max_len)
        return {"src_ids": src_ids, "src_mask": src_mask, "tgt_ids": tgt_ids, "tgt_mask": tgt_mask}

    def n_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["src_mask"].sum() + batch["tgt_mask"].sum())

    def hidden(self, model: XLMRobertaForMaskedLM, ids: torch.Tensor, mask: torch.Tensor,
               encoder: torch.nn.Module | None = None) -> torch.Tensor:
        """The states of hidden layer `layer` (eval_xtreme's numbering: K ≥ 0 → block K, −1 the last)."""
        emb_dtype = model.roberta.embeddings.word_embeddings.weight.dtype
        enc = encoder if encoder is not None else model.roberta
        attention = attention_mask_for(model, mask, emb_dtype)
        if self.cfg.layer == -1:  # the last block's output alone: no need to keep every layer's
            return enc(ids, attention_mask=attention).last_hidden_state
        index = hidden_state_index(self.cfg.layer, model.config.num_hidden_layers, "being pretrained", "xlco layer")
        return enc(ids, attention_mask=attention, output_hidden_states=True).hidden_states[index]

    def embed(self, model: XLMRobertaForMaskedLM, ids: torch.Tensor, mask: torch.Tensor,
              encoder: torch.nn.Module | None = None) -> torch.Tensor:
        hidden = self.hidden(model, ids, mask, encoder)
        return torch.nn.functional.normalize(pool(hidden, mask, self.cfg.pooling).float(), dim=-1)

    def token_states(self, model: XLMRobertaForMaskedLM, ids: torch.Tensor,
                     mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit states of each sentence's real tokens, and the mask of those tokens (`<s>`, `</s>`
        and padding left out, as eval_xtreme's MaxSim does)."""
        hidden = torch.nn.functional.normalize(self.hidden(model, ids, mask).float(), dim=-1)
        return hidden, mask.bool() & ~self.special.special_mask(ids)

    @torch.no_grad()
    def _momentum_update(self, model: XLMRobertaForMaskedLM) -> torch.nn.Module:
        if self.key_encoder is None:
            self.key_encoder = copy.deepcopy(model.roberta).requires_grad_(False)
            if self._resumed_key is None:  # the first XLCo micro-batch: the key encoder starts as the model
                self.key_encoder.train(model.training)
                return self.key_encoder
            # resumed: the EMA weights the checkpoint saved, then this micro-batch's update, as without a resume
            self.key_encoder.load_state_dict(self._resumed_key)
            self._resumed_key = None
        mu = self.cfg.momentum
        for k, q in zip(self.key_encoder.parameters(), model.roberta.parameters(), strict=True):
            k.mul_(mu).add_(q.detach(), alpha=1.0 - mu)
        self.key_encoder.train(model.training)
        return self.key_encoder

    def loss(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg: XLCoConfig = self.cfg
        if cfg.similarity == "maxsim":
            return self._maxsim_loss(model, batch)
        s = self.embed(model, batch["src_ids"], batch["src_mask"])
        t = self.embed(model, batch["tgt_ids"], batch["tgt_mask"])
        loss, correct = info_nce(s, t, self.queues["tgt"], cfg.temperature, cfg.margin)
        if cfg.symmetric:
            back, _ = info_nce(t, s, self.queues["src"], cfg.temperature, cfg.margin)
            loss = (loss + back) / 2
        if cfg.queue_size:
            if cfg.momentum > 0:
                key = self._momentum_update(model)
                with torch.no_grad():
                    t_key = self.embed(model, batch["tgt_ids"], batch["tgt_mask"], key)
                    s_key = self.embed(model, batch["src_ids"], batch["src_mask"], key)
            else:
                t_key, s_key = t, s
            self._enqueue("tgt", t_key)
            self._enqueue("src", s_key)
        return loss, {"xlco_loss": float(loss.detach()), "xlco_acc": int(correct) / len(s), "n_pairs": len(s)}

    def _maxsim_loss(self, model: XLMRobertaForMaskedLM,
                     batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg: XLCoConfig = self.cfg
        s, s_mask = self.token_states(model, batch["src_ids"], batch["src_mask"])
        t, t_mask = self.token_states(model, batch["tgt_ids"], batch["tgt_mask"])
        sims = maxsim_matrix(s, s_mask, t, t_mask)
        loss, correct = ranking_loss(sims, None, cfg.temperature, cfg.margin)
        if cfg.symmetric:
            back, _ = ranking_loss(sims.T, None, cfg.temperature, cfg.margin)
            loss = (loss + back) / 2
        return loss, {"xlco_loss": float(loss.detach()), "xlco_acc": int(correct) / len(sims), "n_pairs": len(sims)}

    def _enqueue(self, side: str, vectors: torch.Tensor) -> None:
        old = self.queues[side]
        new = vectors.detach() if old is None else torch.cat([vectors.detach(), old])
        self.queues[side] = new[:self.cfg.queue_size]  # newest first; the oldest fall off
