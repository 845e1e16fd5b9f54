"""`xling pretrain`: the typed config tree and the `pretrain(config, out)` entry point.

A recipe is a YAML file of this tree; `--set key=value` changes single fields. The whole config
is checked (unknown keys, wrong types, objective options, parallel section) when it is loaded,
before any data is read, and saved as `OUT/config.yaml`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.config import ConfigError, from_dict, load_config
from xling.data import DataConfig
from xling.model import ModelConfig
from xling.parallel import ParallelConfig
from xling.trainer import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class ObjectiveSpec:
    """A resolved `objectives:` entry: the class, its weight and its typed options."""

    name: str
    cls: type
    weight: float
    options: Any


@dataclass
class PretrainConfig:
    """`tokenizer`: a Hugging Face tokenizer folder (e.g. `xling vocab train` output).

    `objectives`: list of `{name: mlm, weight: 1.0, <that objective's options>}`; each objective's
    options are checked against its `Config` dataclass. `parallel`: translation pairs for the
    objectives whose `data` is "parallel" (tlm, camlm, btmlm).
    """

    tokenizer: str
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    objectives: list[dict[str, Any]] = field(default_factory=lambda: [{"name": "mlm", "weight": 1.0}])
    parallel: ParallelConfig | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        specs = self.objective_specs()
        if any(s.cls.data == "parallel" for s in specs) and self.parallel is None:
            names = [s.name for s in specs if s.cls.data == "parallel"]
            raise ConfigError(f"objectives {', '.join(names)} read translation pairs: add a `parallel:` section "
                              "with sources")

    def objective_specs(self) -> list[ObjectiveSpec]:
        from xling.objectives import OBJECTIVES

        if not self.objectives:
            raise ConfigError("objectives: empty; use e.g. [{name: mlm}]")
        out = []
        for i, item in enumerate(self.objectives):
            where = f"objectives[{i}]"
            if not isinstance(item, dict) or "name" not in item:
                raise ConfigError(f"{where}: expected a mapping with a `name`, got {item!r}")
            options = dict(item)
            name = options.pop("name")
            weight = options.pop("weight", 1.0)
            try:
                cls = OBJECTIVES.get(str(name))
            except KeyError as e:
                raise ConfigError(f"{where}.name: {e}") from None
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
                raise ConfigError(f"{where}.weight: expected a positive number, got {weight!r}")
            out.append(ObjectiveSpec(str(name), cls, float(weight), from_dict(cls.Config, options, where)))
        names = [s.name for s in out]
        if len(set(names)) != len(names):
            raise ConfigError(f"objectives: {names} lists an objective twice")
        return out


def load_pretrain_config(path: str | Path | None, overrides: list[str] | None = None) -> PretrainConfig:
    return load_config(PretrainConfig, path, overrides)


def pretrain(config: PretrainConfig, out: str | Path) -> Path:
    """Train (or resume) into `out`; returns `out/final` (or `out` when stopped early by
    `train.max_steps_this_run`). Safe to call again with the same arguments: it resumes."""
    from xling.trainer import train

    return train(config, Path(out))
