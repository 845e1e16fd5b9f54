"""Experiment trackers: `report_to: [tensorboard, wandb, mlflow]` for every training loop.

Pretraining, back-translation training and evaluation fine-tuning hand their metric rows to
`xling.core.train_loop.MetricsLog`, which writes `metrics.jsonl` (always, the record the reports are
built from) and passes each row to a `Tracker` built here. Every tracker writes inside the run folder,
so a run stays one self-contained folder and nothing needs a network:

- `tensorboard` → `OUT/tensorboard/` (`tensorboard --logdir OUT`);
- `wandb` → `OUT/wandb/offline-run-*` in offline mode (`WANDB_MODE=offline` unless you set
  `WANDB_MODE` yourself); upload later with `wandb sync OUT/wandb/offline-run-*`;
- `mlflow` → a file store `file:OUT/mlruns` (`mlflow ui --backend-store-uri OUT/mlruns`), unless
  `MLFLOW_TRACKING_URI` names another store (a server, `sqlite:///…`). MLflow 3 keeps the file store in
  maintenance mode and refuses it unless `MLFLOW_ALLOW_FILE_STORE=true`, which is set here when unset.

W&B and MLflow are optional (`pip install 'xling[tracking]'`) and imported only when asked for. A
resumed run reuses its W&B run id and MLflow run (kept in `OUT/tracking.json`); TensorBoard drops the
events after the resumed step, as `metrics.jsonl` does. W&B gets a new offline segment per process,
which `wandb sync` appends to the same run; MLflow keeps both values of a step that was logged before
a kill and replayed after the resume.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from xling.core.errors import ConfigError
from xling.core.io import write_json_atomic

log = logging.getLogger(__name__)

Backend = Literal["tensorboard", "wandb", "mlflow"]
BACKENDS: tuple[str, ...] = get_args(Backend)
# What the trackers write under a run folder (a stage lists them among its outputs).
TRACKING_OUTPUTS = ("tensorboard", "wandb", "mlruns", "tracking.json")
PROJECT = "xling"  # W&B project / MLflow experiment unless WANDB_PROJECT / MLFLOW_EXPERIMENT_NAME say otherwise

# backend → (the module it needs, how to install it)
_NEEDS = {"tensorboard": ("tensorboard", "pip install tensorboard"),
          "wandb": ("wandb", "pip install 'xling[tracking]' (or: pip install wandb)"),
          "mlflow": ("mlflow", "pip install 'xling[tracking]' (or: pip install mlflow-skinny)")}


def check_report_to(report_to: Sequence[str], where: str = "report_to") -> None:
    """Known backend names, no repeats, and each one's package installed: found when the config is
    loaded (`xling run --check`), not after hours of pretraining."""
    for name in report_to:
        if name not in BACKENDS:
            raise ConfigError(f"{where}: unknown tracker {name!r}; choose from {list(BACKENDS)}")
    if len(set(report_to)) != len(report_to):
        raise ConfigError(f"{where}: {list(report_to)} names a tracker twice")
    for name in report_to:
        module, install = _NEEDS[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"{where}: {name} is not installed; {install}, or remove {name!r} from {where}")


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"loss": {"mlm": 1.0}}` → `{"loss/mlm": 1.0}`."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics row, flattened, without its `step`."""
    return {k: float(v) for k, v in flatten(row).items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class Tracker:
    """Sends metric rows to every backend in `report_to`. Only the main process makes one."""

    def __init__(self, out: Path, report_to: Sequence[str], run_name: str, config: dict[str, Any] | None = None,
                 resume_step: int = 0, kind: str = "train") -> None:
        check_report_to(report_to)
        self.out = Path(out)
        self.backends: list[_Backend] = []
        ids_path = self.out / "tracking.json"
        ids = json.loads(ids_path.read_text(encoding="utf-8")) if ids_path.is_file() else {}
        try:
            for name in report_to:
                backend = {"tensorboard": _TensorBoard, "wandb": _WandB, "mlflow": _MLflow}[name]
                self.backends.append(backend(self.out, run_name, config or {}, resume_step, kind, ids))
        except Exception:
            self.close()
            raise
        if ids:
            write_json_atomic(ids_path, ids)

    def log(self, row: dict[str, Any], step: int) -> None:
        values = scalars(row)
        for b in self.backends:
            b.log(values, step)

    def close(self) -> None:
        for b in self.backends:
            try:
                b.close()
            except Exception as e:  # a tracker failing at exit must not fail a finished training run
                log.warning("closing the %s tracker failed: %s", type(b).__name__.strip("_"), e)
        self.backends = []


class _Backend(Protocol):
    def log(self, values: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class _TensorBoard:
    def __init__(self, out: Path, run_name: str, config: dict[str, Any], resume_step: int, kind: str,
                 ids: dict[str, str]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events after the checkpoint we resume from are replayed by this run
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def log(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, out: Path, run_name: str, config: dict[str, Any], resume_step: int, kind: str,
                 ids: dict[str, str]) -> None:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        if "wandb" not in ids:
            ids["wandb"] = uuid.uuid4().hex[:12]
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", PROJECT), name=run_name, id=ids["wandb"],
                              dir=str(out), config=config, job_type=kind, resume="allow",
                              mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


_MLFLOW_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")  # the characters MLflow accepts in metric and param names


class _MLflow:
    def __init__(self, out: Path, run_name: str, config: dict[str, Any], resume_step: int, kind: str,
                 ids: dict[str, str]) -> None:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI") or (out / "mlruns").resolve().as_uri()
        self.client = MlflowClient(tracking_uri=uri)
        if "mlflow" in ids:
            try:
                self.client.update_run(ids["mlflow"], status="RUNNING")
                self.run_id = ids["mlflow"]
                return
            except Exception as e:  # the store was moved or deleted: start a new run there
                log.warning("MLflow run %s not found in %s (%s); starting a new run", ids["mlflow"], uri, e)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", PROJECT)
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.run_id = ids["mlflow"] = self.client.create_run(
            experiment_id, run_name=run_name, tags={"xling.kind": kind}).info.run_id
        params = [Param(_MLFLOW_KEY.sub("_", k)[:250], str(v)[:6000]) for k, v in flatten(config).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def log(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(_MLFLOW_KEY.sub("_", k), v, now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)
