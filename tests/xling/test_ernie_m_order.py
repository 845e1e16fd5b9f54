"""ERNIE-M's order as a recipe: CAMLM first, then BTMLM from that model; and BTMLM's collapse guard
stopping a real (tiny) pretraining run with a clear message."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from xling.core.errors import TrainingError
from xling.run import load_run_recipe, plan_run

REPO = Path(__file__).resolve().parents[2]
PAIRS = {"include": ["recipes/parallel-kk-ru-apertium.yaml"], "max_length_ratio": 2.5}


def _recipe(tmp_path: Path, arms: list[dict]) -> Path:
    data = yaml.safe_load((REPO / "recipes/kk-ug-demo.yaml").read_text(encoding="utf-8"))
    data["stages"] = ["corpus", "vocab", "pretrain"]
    data.pop("eval", None)
    data["pretrain"]["arms"] = arms
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def test_camlm_then_btmlm_as_arms(data_root, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(REPO)  # the recipe's include path is relative to the repository root
    arms = [
        {"name": "mlm", "objectives": [{"name": "mlm"}]},
        {"name": "camlm", "init_from": "mlm", "parallel": PAIRS,
         "objectives": [{"name": "mlm"}, {"name": "camlm", "weight": 1.0}]},
        {"name": "btmlm", "init_from": "camlm",
         "objectives": [{"name": "mlm"}, {"name": "btmlm", "weight": 1.0, "temperature": 1.0, "top_k": 50}]},
    ]
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="xling.run"):
        plan = plan_run(load_run_recipe(_recipe(tmp_path, arms)), out)
    assert list(plan.arms) == ["mlm", "camlm", "btmlm"]  # run order: the parent is trained first
    assert plan.arm_parent == {"camlm": "mlm", "btmlm": "camlm"}
    assert plan.arms["btmlm"].model.init_from == str(out / "pretrain" / "camlm" / "final")
    assert [s.name for s in plan.arms["btmlm"].objective_specs()] == ["mlm", "btmlm"]
    assert plan.arms["btmlm"].objective_specs()[1].options.top_k == 50
    assert "without camlm" not in caplog.text

    # btmlm straight from MLM is allowed but named in a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="xling.run"):
        plan_run(load_run_recipe(_recipe(tmp_path, [arms[0], {**arms[2], "init_from": "mlm"}])), out)
    assert "'btmlm' trains btmlm without camlm" in caplog.text


def test_collapse_guard_stops_pretraining(tiny_pretrain, tmp_path):
    from xling.pretrain import pretrain

    # argmax pseudo tokens from an untrained tiny model, against a threshold no generator meets
    cfg = tiny_pretrain(objectives=[{"name": "btmlm", "weight": 1.0, "decoding": "argmax", "min_distinct": 0.99,
                                     "guard_after_steps": 2}])
    with pytest.raises(TrainingError, match=r"btmlm generator collapsed at step 2: only 0\.\d+ of its pseudo tokens"):
        pretrain(cfg, tmp_path / "collapsed")
    rows = [r for r in map(yaml.safe_load, (tmp_path / "collapsed/metrics.jsonl").read_text().splitlines())
            if "btmlm_pseudo_distinct" in r]
    assert rows and all(0 < r["btmlm_pseudo_distinct"] < 0.99 for r in rows)  # logged per step before stopping
