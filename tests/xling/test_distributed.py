"""`torchrun --nproc_per_node=2` on CPU (gloo), DDP and FSDP, reproduces a 1-process run with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from xling.core.io import read_json, read_jsonl


def _losses(out: Path) -> list[float]:
    rows = list(read_jsonl(out / "metrics.jsonl"))
    return [r["loss"] for r in rows if "loss" in r]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_process_run_matches_one_process_run(tiny_pretrain, tmp_path, mode):
    from safetensors.torch import load_file

    from xling.core.config import to_dict

    # dropout stays on: it is seeded per global micro-batch, so it must match too
    cfg = to_dict(tiny_pretrain("train.max_steps=3", "train.save_every=3", f"train.distributed={mode}"))
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    # 1 process: micro-batch 2 × accumulation 2; 2 processes: micro-batch 2 × 2 ranks — global batch 4 both
    subprocess.run([sys.executable, "-m", "xling.pretrain_cli", str(recipe), "--out", str(one)], env=env, check=True,
                   timeout=300)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
              "-m", "xling.pretrain_cli", str(recipe), "--out", str(two)]
    if mode == "fsdp":  # also interrupt and resume the sharded run (full optimizer state re-sharded on load)
        subprocess.run([*launch, "--set", "train.max_steps_this_run=2"], env=env, check=True, timeout=300)
        assert (two / "checkpoints" / "step-000002" / "meta.json").is_file()
    subprocess.run(launch, env=env, check=True, timeout=300)
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == 3
    assert a == pytest.approx(b, rel=1e-5)
    wa, wb = load_file(str(one / "final" / "model.safetensors")), load_file(str(two / "final" / "model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-6)
    meta = read_json(two / "checkpoints" / "step-000003" / "meta.json")
    assert meta["world_size"] == 2
