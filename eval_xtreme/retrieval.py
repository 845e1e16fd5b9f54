"""Sentence retrieval without fine-tuning: Tatoeba-style nearest neighbour and BUCC-style mining.

- Sentences are embedded by mean-pooling (over real tokens) the hidden states of one configurable
  layer of any `from_pretrained` encoder (`layer=-1` is the last; 0 the embedding output).
- Tatoeba, FLORES, X-WMT: cosine nearest neighbour from each source sentence to the English side
  (optionally also en → source, reported as a second accuracy).
- BUCC 2018: margin-based scoring (ratio margin over the k nearest neighbours in both directions,
  Artetxe & Schwenk 2019, as XTREME's `mine_bitext` with `retrieval=max`), one-to-one greedy
  selection, and the score threshold tuned for F1 on the dev ("sample") split.

Every search takes plain embedding matrices, so tests can plug in an oracle encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from xling.errors import InputError

from .loaders import BuccSet, RetrievalSet

log = logging.getLogger(__name__)

EncodeFn = Callable[[Sequence[str]], np.ndarray]


@dataclass
class RetrievalConfig:
    layer: int = -1  # hidden_states index: 0 = embeddings, -1 = last layer
    batch_size: int = 32
    max_length: int = 128
    both_directions: bool = False
    margin_k: int = 4  # neighbours for the BUCC ratio margin (XTREME uses 4)
    chunk_size: int = 1024  # rows per similarity block, bounds memory on large BUCC sets


class Encoder:
    """Mean-pooled hidden states of one layer of a Hugging Face encoder."""

    def __init__(self, model: str, layer: int = -1, max_length: int = 128, batch_size: int = 32,
                 device: str | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModel.from_pretrained(model)
        except (OSError, ValueError) as e:
            raise InputError(f"model {model}: cannot load an encoder and tokenizer with from_pretrained ({e})") \
                from None
        n_layers = int(getattr(self.model.config, "num_hidden_layers", 0))
        if not -(n_layers + 1) <= layer <= n_layers:
            raise InputError(f"model {model}: layer {layer} is out of range; it has {n_layers} layers "
                             f"(valid: 0..{n_layers} or -1..-{n_layers + 1})")
        _check_vocab(model, self.tokenizer, self.model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        from .finetune import usable_length

        # Retrieval only truncates, so a too-long setting is clamped to what the position table allows.
        limit = usable_length(self.model.config)
        self.max_length = min(max_length, limit) if limit else max_length
        self.layer, self.batch_size = layer, batch_size

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        import torch

        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out = np.zeros((len(sentences), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tokenizer([sentences[i] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**batch, output_hidden_states=True).hidden_states[self.layer]
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                out[idx] = pooled.float().cpu().numpy()
        return out


def _check_vocab(model: str, tokenizer, net) -> None:
    n_emb = net.get_input_embeddings().num_embeddings
    if len(tokenizer) > n_emb:
        raise InputError(f"model {model}: tokenizer has {len(tokenizer)} tokens but the model's embedding "
                         f"matrix only {n_emb}; save the tokenizer that belongs to this model")


def normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def topk_cosine(queries: np.ndarray, keys: np.ndarray, k: int, chunk_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices) of the k most cosine-similar keys per query, best first; blockwise."""
    q, kk = normalize(queries), normalize(keys)
    k = min(k, len(kk))
    sims = np.zeros((len(q), k), dtype=np.float32)
    idx = np.zeros((len(q), k), dtype=np.int64)
    for start in range(0, len(q), chunk_size):
        block = q[start:start + chunk_size] @ kk.T
        part = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < block.shape[1] else \
            np.tile(np.arange(block.shape[1]), (len(block), 1))
        vals = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        idx[start:start + len(block)] = np.take_along_axis(part, order, axis=1)
        sims[start:start + len(block)] = np.take_along_axis(vals, order, axis=1)
    return sims, idx


def nearest_neighbours(source: np.ndarray, target: np.ndarray, chunk_size: int = 1024) -> list[int]:
    """Index of the cosine-nearest target for each source row (ties → lowest index)."""
    q, kk = normalize(source), normalize(target)
    out: list[int] = []
    for start in range(0, len(q), chunk_size):
        out.extend(int(i) for i in np.argmax(q[start:start + chunk_size] @ kk.T, axis=1))
    return out


@dataclass
class SearchResult:
    predictions: list[int]  # per source sentence: index into the target list
    reverse_predictions: list[int] | None  # per target sentence: index into the source list


def similarity_search(rs: RetrievalSet, encode: EncodeFn, both_directions: bool = False,
                      chunk_size: int = 1024) -> SearchResult:
    src, trg = encode(rs.source), encode(rs.target)
    fwd = nearest_neighbours(src, trg, chunk_size)
    bwd = nearest_neighbours(trg, src, chunk_size) if both_directions else None
    return SearchResult(fwd, bwd)


def reverse_gold(gold: Sequence[int], n_target: int) -> list[int]:
    """Gold source index for each target sentence (targets nobody points at get -1)."""
    out = [-1] * n_target
    for s, t in enumerate(gold):
        out[t] = s
    return out


# ---------------------------------------------------------------------------------------------------
# BUCC: margin-based mining
# ---------------------------------------------------------------------------------------------------

def margin_candidates(source: np.ndarray, target: np.ndarray, source_ids: Sequence[str],
                      target_ids: Sequence[str], k: int = 4, chunk_size: int = 1024) -> dict[tuple[str, str], float]:
    """Candidate pairs with their ratio-margin score, as XTREME's `mine_bitext(mode=mine, retrieval=max)`.

    margin(x, y) = cos(x, y) / ((mean cos of x's k NN + mean cos of y's k NN) / 2). Each source takes
    its best-margin target among its k NN and each target its best source; the union is visited in
    decreasing score and a pair is kept only if neither side was used yet (one-to-one).
    """
    x2y_sim, x2y_ind = topk_cosine(source, target, k, chunk_size)
    y2x_sim, y2x_ind = topk_cosine(target, source, k, chunk_size)
    x_mean, y_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)
    fwd_scores = x2y_sim / ((x_mean[:, None] + y_mean[x2y_ind]) / 2)
    bwd_scores = y2x_sim / ((y_mean[:, None] + x_mean[y2x_ind]) / 2)
    fwd_best = x2y_ind[np.arange(len(source)), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(target)), bwd_scores.argmax(axis=1)]
    pairs = np.concatenate([np.stack([np.arange(len(source)), fwd_best], 1),
                            np.stack([bwd_best, np.arange(len(target))], 1)])
    scores = np.concatenate([fwd_scores.max(axis=1), bwd_scores.max(axis=1)])
    seen_src: set[int] = set()
    seen_trg: set[int] = set()
    out: dict[tuple[str, str], float] = {}
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(pairs[i][0]), int(pairs[i][1])
        if s in seen_src or t in seen_trg:
            continue
        seen_src.add(s)
        seen_trg.add(t)
        out[(source_ids[s], target_ids[t])] = float(scores[i])
    return out


def bucc_candidates(bs: BuccSet, encode: EncodeFn, k: int = 4, chunk_size: int = 1024) -> dict[tuple[str, str], float]:
    sids, tids = list(bs.source), list(bs.target)
    src = encode([bs.source[i] for i in sids])
    trg = encode([bs.target[i] for i in tids])
    return margin_candidates(src, trg, sids, tids, k, chunk_size)


def select_pairs(candidates: dict[tuple[str, str], float], threshold: float) -> list[tuple[str, str]]:
    """Pairs scoring at least the threshold, best first (the order prediction files are written in)."""
    return [p for p, s in sorted(candidates.items(), key=lambda kv: -kv[1]) if s >= threshold]


def tune_threshold(candidates: dict[tuple[str, str], float], gold: set[tuple[str, str]]) -> float:
    """F1-optimal threshold on a split with gold pairs (delegates to the metric module's bucc_optimize)."""
    from .metrics import bucc_best_threshold

    return bucc_best_threshold(candidates, gold)
