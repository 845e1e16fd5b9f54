"""Temperature-sampled language rebalancing (XLM-R: p ∝ n^α, α = 0.3), with repetition caps.

This module is the single source of the sampling numbers: `xling corpora mix`, the vocabulary
trainer and the pretraining data loader all call `sampling_plan`, so a plan printed by one
stage is exactly what the next one samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from xling.core.errors import InputError


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


def check_alpha(alpha: float, key: str = "alpha") -> float:
    """The one range rule for a sampling temperature: α in [0, 1] (1 = natural shares, 0 = uniform).

    Every config that takes an α (mix, pretraining data, vocabulary sampling, parallel pairs) and every
    `AlphaSchedule` phase is checked here once, when it is built, so the error names its key."""
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise InputError(f"{key} must be within [0, 1], got {alpha}")
    return float(alpha)


def temperature_probs(sizes: Mapping[str, float], alpha: float) -> dict[str, float]:
    """p_i = n_i^α / Σ_j n_j^α (α = 1: natural shares; α → 0: uniform)."""
    if not sizes:
        raise InputError("no languages to sample from")
    bad = [k for k, n in sizes.items() if not n or n < 0 or not math.isfinite(n)]
    if bad:
        raise InputError(f"languages with no data (size 0 or invalid): {', '.join(sorted(bad))}")
    weights = {k: float(n) ** alpha for k, n in sizes.items()}
    z = sum(weights.values())
    return {k: w / z for k, w in sorted(weights.items())}


def exceeds_max_repeats(total: float, corpus: float, max_repeats: float | None) -> bool:
    """Whether drawing `total` units needs more than `max_repeats` passes over a corpus of `corpus` units
    (with float slack, so a plan of exactly R passes is allowed)."""
    return max_repeats is not None and total > max_repeats * corpus * (1 + 1e-12)


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
        raise InputError(f"total must be positive, got {total}")
    if max_repeats is not None:
        if max_repeats <= 0:
            raise InputError(f"max_repeats must be positive, got {max_repeats}")
        if exceeds_max_repeats(total, n_total, max_repeats):
            raise InputError(f"total {total:g} {unit} exceeds max_repeats × corpus size "
                             f"({max_repeats:g} × {n_total:g}); raise max_repeats or lower total")
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
            raise InputError("an alpha schedule needs at least one phase")
        starts = [s for s, _ in self.phases]
        if starts != sorted(starts) or starts[0] != 0.0 or starts[-1] > 1.0:
            raise InputError(f"phase starts must be sorted, begin at 0 and lie within [0, 1], got {starts}")
        for i, (_, alpha) in enumerate(self.phases):
            check_alpha(alpha, f"alpha of schedule phase {i}")

    def alpha_at(self, progress: float) -> float:
        """α at training progress in [0, 1] (step / total_steps)."""
        progress = min(max(progress, 0.0), 1.0)
        phases = list(self.phases)
        idx = max(i for i, (s, _) in enumerate(phases) if s <= progress)
        if not self.anneal or idx == len(phases) - 1:
            return phases[idx][1]
        (s0, a0), (s1, a1) = phases[idx], phases[idx + 1]
        return a0 + (a1 - a0) * (progress - s0) / (s1 - s0)


def plan_from_json(data: Mapping) -> SamplingPlan:
    """Inverse of `SamplingPlan.to_json()` (reads `MIX/plan.json`); extra keys are ignored."""
    try:
        langs = {k: LanguagePlan(size=float(v["size"]), p_natural=float(v["p_natural"]),
                                 p_sampled=float(v["p_sampled"]), repeats=float(v["repeats"]))
                 for k, v in data["languages"].items()}
        return SamplingPlan(alpha=float(data["alpha"]), total=float(data.get("total") or sum(
            v.size for v in langs.values())), languages=langs, unit=str(data.get("unit", "chars")),
            max_repeats=data.get("max_repeats"))
    except (KeyError, TypeError) as e:
        raise InputError(f"not a sampling plan: missing or bad field {e}") from None


def scheduled_plan(sizes: Mapping[str, float], schedule: AlphaSchedule, progress: float,
                   total: float | None = None, max_repeats: float | None = None,
                   unit: str = "chars") -> SamplingPlan:
    """The sampling plan at training `progress` in [0, 1] under an α schedule."""
    return sampling_plan(sizes, schedule.alpha_at(progress), total=total, max_repeats=max_repeats, unit=unit)


_BLOCK = 4096  # draws per independently seeded block: a slice of the stream costs O(its length)


def sample_languages(probs: Mapping[str, float], n: int, seed: int, start: int = 0) -> list[str]:
    """Draws `start … start+n-1` of a deterministic i.i.d. language stream with the given probabilities.

    The same (probs, seed) always gives the same stream, and any slice equals the same positions
    of a longer draw — so a resumed job continues exactly where it stopped:
    `sample_languages(p, 10, 0) == sample_languages(p, 4, 0) + sample_languages(p, 6, 0, start=4)`.
    Languages are ordered by name before the inverse-CDF lookup, so dict order does not matter.
    """
    if n < 0 or start < 0:
        raise InputError(f"n and start must be ≥ 0, got n={n}, start={start}")
    langs = sorted(probs)
    if not langs:
        raise InputError("no languages to sample from")
    p = np.array([float(probs[k]) for k in langs])
    if (p < 0).any() or not p.sum() > 0:
        raise InputError(f"probabilities must be ≥ 0 with a positive sum, got {dict(zip(langs, p, strict=True))}")
    cdf = np.cumsum(p / p.sum())
    out: list[str] = []
    first, last = start // _BLOCK, (start + n - 1) // _BLOCK
    for block in range(first, last + 1) if n else ():
        u = np.random.Generator(np.random.PCG64([seed, block])).random(_BLOCK)
        lo = max(start - block * _BLOCK, 0)
        hi = min(start + n - block * _BLOCK, _BLOCK)
        idx = np.minimum(np.searchsorted(cdf, u[lo:hi], side="right"), len(langs) - 1)
        out.extend(langs[i] for i in idx.tolist())
    return out


@dataclass
class LanguageSampler:
    """Language of every example of every step of a training run, with an α schedule.

    `languages(step, batch_size)` is a pure function of (sizes, schedule, seed, step): a resumed
    run draws the same languages, and the probabilities at a step are those of
    `scheduled_plan(sizes, schedule, step / total_steps, ...)` — what `xling corpora mix` prints.
    """

    sizes: Mapping[str, float]
    total_steps: int
    schedule: AlphaSchedule = field(default_factory=AlphaSchedule)
    seed: int = 0
    max_repeats: float | None = None
    total: float | None = None

    def probabilities(self, step: int) -> dict[str, float]:
        progress = step / max(self.total_steps, 1)
        return scheduled_plan(self.sizes, self.schedule, progress, self.total, self.max_repeats).probabilities()

    def languages(self, step: int, batch_size: int) -> list[str]:
        return sample_languages(self.probabilities(step), batch_size, self.seed, start=step * batch_size)
