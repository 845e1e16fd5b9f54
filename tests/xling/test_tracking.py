"""`report_to`: TensorBoard, W&B (offline) and MLflow (file store) receive the metric rows, read back with each
library's own reader (TensorBoard's EventAccumulator, `wandb leet inspect --json`, MlflowClient)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xling.core.config import load_config
from xling.core.errors import ConfigError
from xling.core.io import read_jsonl
from xling.core.tracking import check_report_to
from xling.core.train_loop import MetricsLog


@pytest.fixture(autouse=True)
def local_stores(monkeypatch, tmp_path):
    """Whatever the caller's shell says, the tests write only into tmp_path."""
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "WANDB_MODE", "WANDB_PROJECT", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def mlflow_runs(out: Path) -> list[dict]:
    """Every run of the `xling` experiment in OUT/mlruns: name, tags, params, and each metric's history."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("xling")
    runs = []
    for run in client.search_runs([experiment.experiment_id]):
        history = {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
                   for key in run.data.metrics}
        runs.append({"name": run.info.run_name, "status": run.info.status, "tags": run.data.tags,
                     "params": run.data.params, "history": history})
    return runs


def wandb_history(out: Path) -> list[tuple[str, list[dict]]]:
    """("run id, name, project", history rows) of each offline run segment under OUT/wandb, in start order."""
    wandb_cli = Path(sys.executable).parent / "wandb"
    segments = []
    for f in sorted((out / "wandb").glob("offline-run-*/run-*.wandb")):
        lines = subprocess.run([str(wandb_cli), "leet", "inspect", "--json", str(f)], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        records = [json.loads(ln) for ln in lines if ln.startswith("{")]
        run = next(r["run"] for r in records if r.get("type") == "run")
        segments.append((f'{run["run_id"]} {run["display_name"]} {run["project"]}',
                         [r["history"]["item"] for r in records if r.get("type") == "history"]))
    return segments


def test_report_to_is_checked_when_the_config_loads(monkeypatch):
    from xling.trainer import TrainConfig

    with pytest.raises(ConfigError, match=r"report_to\[0\]: expected one of \['tensorboard', 'wandb', 'mlflow'\]"):
        load_config(TrainConfig, flags={"report_to": ["wandbb"]})
    with pytest.raises(ConfigError, match="names a tracker twice"):
        check_report_to(["mlflow", "mlflow"])
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigError, match=r"wandb is not installed; pip install 'xling\[tracking\]'"):
        load_config(TrainConfig, flags={"report_to": ["tensorboard", "wandb"]})
    assert load_config(TrainConfig).report_to == ["tensorboard"]  # pretraining's default, as before


def test_every_tracker_gets_the_rows_and_a_resume_continues_them(tmp_path):
    rows = [{"step": s, "loss": {"mlm": 10.0 / s, "tlm": 20.0 / s}, "lr": 1e-3 * s, "note": "text"} for s in (1, 2, 3, 4)]
    log = MetricsLog(tmp_path, 0, report_to=["tensorboard", "wandb", "mlflow"], run_name="arm-a",
                     config={"train": {"lr": 1e-3}, "seed": 0}, kind="pretrain")
    for row in rows:
        log.write(row)
    log.close()
    # killed after step 4 with its checkpoint at step 2: steps 3-4 are replayed with other values, then 5
    again = [{"step": s, "loss": {"mlm": 1.0 / s, "tlm": 2.0 / s}, "lr": 1e-3 * s} for s in (3, 4, 5)]
    log = MetricsLog(tmp_path, 2, report_to=["tensorboard", "wandb", "mlflow"], run_name="arm-a",
                     config={"train": {"lr": 1e-3}, "seed": 0}, kind="pretrain")
    for row in again:
        log.write(row)
    log.close()
    final = rows[:2] + again
    assert list(read_jsonl(tmp_path / "metrics.jsonl")) == final

    tb = tensorboard_scalars(tmp_path / "tensorboard")
    assert set(tb) == {"loss/mlm", "loss/tlm", "lr"}
    assert tb["loss/mlm"] == [(r["step"], pytest.approx(r["loss"]["mlm"])) for r in final]  # replayed events purged

    (run,) = mlflow_runs(tmp_path)  # the resume continued the same run
    assert run["name"] == "arm-a" and run["status"] == "FINISHED" and run["tags"]["xling.kind"] == "pretrain"
    assert run["params"] == {"train/lr": "0.001", "seed": "0"}
    assert set(run["history"]) == {"loss/mlm", "loss/tlm", "lr"}
    # MLflow cannot drop history: the replayed steps 3 and 4 hold both values
    assert sorted((s, round(v, 9)) for s, v in run["history"]["loss/tlm"]) == sorted(
        (r["step"], round(r["loss"]["tlm"], 9)) for r in rows + again)

    segments = wandb_history(tmp_path)
    assert len(segments) == 2 and segments[0][0] == segments[1][0]  # one run id, one offline segment per process
    assert segments[0][0].endswith(" arm-a xling")
    logged = [(item["_step"], item["loss/mlm"], item["lr"]) for _, items in segments for item in items]
    assert logged == [(r["step"], pytest.approx(r["loss"]["mlm"]), pytest.approx(r["lr"])) for r in rows + again]
    assert all("note" not in item for _, items in segments for item in items)  # numbers only


@pytest.mark.slow  # a real (tiny) pretraining run plus a W&B service start: ~15 s of CPU
def test_pretraining_reports_to_wandb_and_mlflow(tiny_pretrain, tmp_path):
    from xling.pretrain import pretrain

    cfg = tiny_pretrain("train.report_to=[wandb, mlflow]", "train.max_steps=3", "train.save_every=3")
    pretrain(cfg, tmp_path / "arm")
    expected = [(r["step"], pytest.approx(r["loss"])) for r in read_jsonl(tmp_path / "arm" / "metrics.jsonl")
                if "loss" in r]
    assert [s for s, _ in expected] == [1, 2, 3]
    (run,) = mlflow_runs(tmp_path / "arm")
    assert run["name"] == "arm" and run["tags"]["xling.kind"] == "pretrain" and run["params"]["train/max_steps"] == "3"
    assert run["history"]["loss"] == expected
    ((_, items),) = wandb_history(tmp_path / "arm")
    assert [(i["_step"], i["loss"]) for i in items if "loss" in i] == expected
    assert not (tmp_path / "arm" / "tensorboard").exists()  # only what report_to names


@pytest.mark.slow  # a 2-step fine-tuning run on real data
def test_finetuning_reports_its_loss_and_dev_scores(tiny_encoder, data_root, tmp_path):
    from eval_xtreme.finetune import FinetuneConfig, finetune
    from eval_xtreme.loaders import load_split
    from eval_xtreme.tasks import get_task

    task = get_task("xnli")
    train, _ = load_split(task, "train", "en", data_root)
    dev, _ = load_split(task, "dev", "en", data_root)
    cfg = FinetuneConfig(max_steps=2, batch_size=4, eval_batch_size=16, max_train_examples=16, max_dev_examples=8,
                         learning_rate=1e-3, report_to=["tensorboard", "mlflow"])
    finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", cfg)
    rows = list(read_jsonl(tmp_path / "run" / "metrics.jsonl"))
    losses = [(r["step"], pytest.approx(r["loss"])) for r in rows if "loss" in r]
    assert [s for s, _ in losses] == [1, 2] and any("dev_en" in r for r in rows)
    assert tensorboard_scalars(tmp_path / "run" / "tensorboard")["loss"] == losses
    (run,) = mlflow_runs(tmp_path / "run")
    assert run["name"] == "xnli/run" and run["tags"]["xling.kind"] == "finetune" and run["params"]["task"] == "xnli"
    assert run["history"]["loss"] == losses
    dev_keys = [k for k in run["history"] if k.startswith("dev_en/")]
    assert dev_keys and all(run["history"][k][0][0] == 2 for k in dev_keys)
