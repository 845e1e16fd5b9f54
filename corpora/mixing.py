"""Temperature-sampled language rebalancing (XLM-R: p ∝ n^α, α = 0.3), with repetition caps.

This module is the single source of the sampling numbers: `xling corpora mix`, the vocabulary
trainer and the pretraining data loader all call `sampling_plan`, so a plan printed by one
stage is exactly what the next one samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LanguagePlan:
    size: float  # units available (chars, docs or tokens)
    p_natural: float  # size / total size
    p_sampled: float  # share of the sampled mix
    repeats: float  # expected passes over this language's data for the given total


@dataclass(frozen=True)
class SamplingPlan:
    alpha: float
    total: float  # units drawn in all
    languages: dict[str, LanguagePlan]
    unit: str = "chars"
    max_repeats: float | None = None

    def probabilities(self) -> dict[str, float]:
        return {k: v.p_sampled for k, v in self.languages.items()}

    def to_json(self) -> dict:
        return {
            "alpha": self.alpha,
            "unit": self.unit,
            "total": self.total,
            "max_repeats": self.max_repeats,
            "languages": {k: vars(v) | {} for k, v in self.languages.items()},
        }


def temperature_probs(sizes: Mapping[str, float], alpha: float) -> dict[str, float]:
    """p_i = n_i^α / Σ_j n_j^α (α = 1: natural shares; α → 0: uniform)."""
    if not sizes:
        raise ValueError("no languages to sample from")
    bad = [k for k, n in sizes.items() if not n or n < 0 or not math.isfinite(n)]
    if bad:
        raise ValueError(f"languages with no data (size 0 or invalid): {', '.join(sorted(bad))}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    weights = {k: float(n) ** alpha for k, n in sizes.items()}
    z = sum(weights.values())
    return {k: w / z for k, w in sorted(weights.items())}


def sampling_plan(sizes: Mapping[str, float], alpha: float = 0.3, total: float | None = None,
                  max_repeats: float | None = None, unit: str = "chars") -> SamplingPlan:
    """Plan how much of each language to draw.

    `total` defaults to the corpus size (Σn). With `max_repeats` R, no language may be drawn
    more than R times its size; the mass a capped language cannot take is redistributed over
    the uncapped ones in proportion to their n^α (water-filling, repeated until no cap binds).
    """
    probs = temperature_probs(sizes, alpha)
    n_total = float(sum(sizes.values()))
    total = n_total if total is None else float(total)
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if max_repeats is not None:
        if max_repeats <= 0:
            raise ValueError(f"max_repeats must be positive, got {max_repeats}")
        if total > max_repeats * n_total * (1 + 1e-12):
            raise ValueError(f"total {total:g} {unit} exceeds max_repeats × corpus size "
                             f"({max_repeats:g} × {n_total:g}); raise --max-repeats or lower --total")
        capped: dict[str, float] = {}
        while True:
            free = {k: p for k, p in probs.items() if k not in capped}
            free_mass = 1.0 - sum(capped.values())
            z = sum(free.values())
            scaled = {k: p / z * free_mass for k, p in free.items()}
            newly = {k: max_repeats * sizes[k] / total for k, p in scaled.items()
                     if p * total > max_repeats * sizes[k] * (1 + 1e-12)}
            if not newly:
                probs = {**capped, **scaled}
                break
            capped.update(newly)
    langs = {
        k: LanguagePlan(size=float(sizes[k]), p_natural=float(sizes[k]) / n_total, p_sampled=probs[k],
                        repeats=probs[k] * total / float(sizes[k]))
        for k in sorted(sizes)
    }
    return SamplingPlan(alpha=alpha, total=total, languages=langs, unit=unit, max_repeats=max_repeats)


@dataclass(frozen=True)
class AlphaSchedule:
    """α over training phases. `phases` is a list of (start_fraction, alpha), sorted by start.

    `anneal=False`: piecewise constant (α of the last phase started). `anneal=True`: linear
    interpolation between phase starts, e.g. [(0, 0.7), (1, 0.3)] anneals 0.7 → 0.3.
    """

    phases: Sequence[tuple[float, float]] = field(default_factory=lambda: [(0.0, 0.3)])
    anneal: bool = False

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("an alpha schedule needs at least one phase")
        starts = [s for s, _ in self.phases]
        if starts != sorted(starts) or starts[0] != 0.0:
            raise ValueError(f"phase starts must be sorted and begin at 0, got {starts}")

    def alpha_at(self, progress: float) -> float:
        """α at training progress in [0, 1] (step / total_steps)."""
        progress = min(max(progress, 0.0), 1.0)
        phases = list(self.phases)
        idx = max(i for i, (s, _) in enumerate(phases) if s <= progress)
        if not self.anneal or idx == len(phases) - 1:
            return phases[idx][1]
        (s0, a0), (s1, a1) = phases[idx], phases[idx + 1]
        return a0 + (a1 - a0) * (progress - s0) / (s1 - s0)
