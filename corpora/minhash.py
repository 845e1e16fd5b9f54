"""Compact MinHash-LSH near-duplicate detection with numpy (one language at a time).

Same scheme as datatrove's multi-stage minhash (word 5-grams, 14 bands × 8 rows by default),
computed in memory per language: signatures for a batch of documents are one vectorised
(shingles × hashes) min-reduction, bands are grouped by sorting, candidate pairs are optionally
verified by their estimated Jaccard similarity, and clusters come from union-find. A language
with N documents needs N × bands × rows × 8 bytes for signatures (1M docs × 112 → 0.9 GB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xxhash

from corpora.stage_io import batch_hasher, batch_ngrams
from corpora.textkey import normalized_words
from xling.core.errors import InputError

_MIX = np.uint64(0xBF58476D1CE4E5B9)


@dataclass
class MinHashConfig:
    ngram: int = 5  # words per shingle
    num_bands: int = 14
    rows_per_band: int = 8
    seed: int = 1
    # Candidates sharing a band count as duplicates only if their estimated Jaccard similarity
    # (fraction of equal signature values) reaches this; null accepts every LSH candidate.
    threshold: float | None = 0.7
    keep: Literal["first", "longest"] = "first"  # which member of a cluster survives
    batch_shingles: int = 50_000  # words per vectorised signature batch (memory ≈ × hashes × 8 B)

    def __post_init__(self) -> None:
        for name in ("ngram", "num_bands", "rows_per_band", "batch_shingles"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise InputError(f"threshold must be in (0, 1], got {self.threshold}")

    @property
    def num_hashes(self) -> int:
        return self.num_bands * self.rows_per_band


class MinHasher:
    """Signatures (num_hashes uint64 values per document) for batches of shingle sets."""

    def __init__(self, config: MinHashConfig) -> None:
        self.config = config
        rng = np.random.Generator(np.random.PCG64(config.seed))
        self.a = rng.integers(0, 2**64 - 1, size=config.num_hashes, dtype=np.uint64, endpoint=True)
        self.b = rng.integers(0, 2**64 - 1, size=config.num_hashes, dtype=np.uint64, endpoint=True) | np.uint64(1)

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts), num_hashes) signatures, all texts hashed in one vectorised pass."""
        word_lists = [normalized_words(t) for t in texts]
        hasher, offsets = batch_hasher(word_lists)
        x, doc = batch_ngrams(hasher, offsets, self.config.ngram, short_whole=True)
        empty = [i for i, w in enumerate(word_lists) if not w]
        if empty:  # pure punctuation/symbols: only exact copies can match
            raw = np.array([xxhash.xxh64_intdigest(texts[i].strip().encode()) for i in empty], dtype=np.uint64)
            x = np.concatenate([x, raw])
            doc = np.concatenate([doc, np.array(empty, dtype=doc.dtype)])
            order = np.argsort(doc, kind="stable")
            x, doc = x[order], doc[order]
        with np.errstate(over="ignore"):
            # xor-multiply-xorshift: one cheap independent-looking permutation of 64-bit hashes per column
            h = (x[:, None] ^ self.a[None, :]) * self.b[None, :]
            h ^= h >> np.uint64(31)
            h *= _MIX
        starts = np.flatnonzero(np.concatenate([[True], doc[1:] != doc[:-1]]))
        return np.minimum.reduceat(h, starts, axis=0)

    def signatures_of(self, texts: Iterable[str]) -> Iterator[np.ndarray]:
        """Yield signature blocks for `texts` in order, batching about `batch_shingles` words."""
        batch: list[str] = []
        size = 0
        for text in texts:
            batch.append(text)
            size += text.count(" ") + 1
            if size >= self.config.batch_shingles:
                yield self.signatures(batch)
                batch, size = [], 0
        if batch:
            yield self.signatures(batch)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        p = self.parent
        root = i
        while p[root] != root:
            root = p[root]
        while p[i] != root:
            p[i], i = root, p[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:  # the smaller index becomes the root: clusters are rooted at their first document
            self.parent[max(ri, rj)] = min(ri, rj)


def find_clusters(sigs: np.ndarray, config: MinHashConfig) -> np.ndarray:
    """Cluster root (index of the cluster's first document) for each row of `sigs`."""
    n = len(sigs)
    uf = _UnionFind(n)
    r = config.rows_per_band
    for b in range(config.num_bands):
        band = sigs[:, b * r:(b + 1) * r]
        key = np.zeros(n, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for c in range(r):
                key = (key ^ band[:, c]) * _MIX
        order = np.lexsort((np.arange(n), key))  # by key, then by document index
        k = key[order]
        same = np.flatnonzero(k[1:] == k[:-1]) + 1  # positions continuing a group
        if not len(same):
            continue
        group_start = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
        first = order[group_start[np.searchsorted(group_start, same, side="right") - 1]]
        other = order[same]
        # 64-bit key collisions are possible in principle; require the whole band to be equal.
        ok = (sigs[first, b * r:(b + 1) * r] == sigs[other, b * r:(b + 1) * r]).all(axis=1)
        if config.threshold is not None:
            ok &= (sigs[first] == sigs[other]).mean(axis=1) >= config.threshold
        for i, j in zip(first[ok].tolist(), other[ok].tolist(), strict=True):
            uf.union(i, j)
    return np.array([uf.find(i) for i in range(n)], dtype=np.int64)


def choose_representatives(roots: np.ndarray, lengths: np.ndarray, keep: str) -> tuple[np.ndarray, np.ndarray]:
    """(kept_index per document, cluster size per document); deterministic for equal inputs."""
    n = len(roots)
    sizes = np.bincount(roots, minlength=n)[roots]
    if keep == "first":
        return roots.copy(), sizes
    if keep != "longest":
        raise InputError(f"keep must be 'first' or 'longest', got {keep!r}")
    # Longest text wins; ties go to the earlier document.
    order = np.lexsort((np.arange(n), -lengths, roots))
    first_of_root = np.flatnonzero(np.concatenate([[True], roots[order][1:] != roots[order][:-1]]))
    winner = dict(zip(roots[order][first_of_root].tolist(), order[first_of_root].tolist(), strict=True))
    return np.array([winner[r] for r in roots.tolist()], dtype=np.int64), sizes


def near_duplicate_clusters(texts: list[str], config: MinHashConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """In-memory API: (kept_index, cluster_size) for each text; text i survives iff kept_index[i] == i."""
    config = config or MinHashConfig()
    if not texts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    hasher = MinHasher(config)
    sigs = np.concatenate(list(hasher.signatures_of(texts)))
    roots = find_clusters(sigs, config)
    return choose_representatives(roots, np.array([len(t) for t in texts]), config.keep)
