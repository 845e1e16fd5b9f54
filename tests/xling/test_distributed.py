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


# ------------------------------------------------------------- two "nodes" on loopback, and Slurm
# Tolerance: the 2-process run sums the two micro-batches' gradients in a gloo all-reduce where the
# 1-process run accumulates them in .grad; fp32 addition of the same two terms in another order and a
# division placed elsewhere differ by a few ulps (~1e-7 relative), and three AdamW steps carry that into
# the loss at well under 1e-5. A wrong batch split, a missing all-reduce or unseeded dropout moves the
# loss by > 1e-3 (the losses of consecutive steps differ by ~1e-2), so rel=1e-5 separates the two.
LOSS_RTOL = 1e-5


def _three_step_recipe(tiny_pretrain, tmp_path: Path, mode: str) -> Path:
    from xling.core.config import to_dict

    cfg = to_dict(tiny_pretrain("train.max_steps=3", "train.save_every=3", f"train.distributed={mode}"))
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return recipe


def _assert_same_run(one: Path, two: Path) -> None:
    from safetensors.torch import load_file

    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == 3
    assert a == pytest.approx(b, rel=LOSS_RTOL)
    wa, wb = load_file(str(one / "final" / "model.safetensors")), load_file(str(two / "final" / "model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-6)
    assert read_json(two / "checkpoints" / "step-000003" / "meta.json")["world_size"] == 2


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_loopback_nodes_match_one_process(tiny_pretrain, tmp_path, mode):
    """`torchrun --nnodes 2` twice (one process each), c10d rendezvous on 127.0.0.1: what two machines
    run, with loopback as the network (gloo bound to `lo`)."""
    recipe = _three_step_recipe(tiny_pretrain, tmp_path, mode)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "GLOO_SOCKET_IFNAME": "lo"}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "xling.pretrain_cli", str(recipe), "--out", str(one)], env=env, check=True,
                   timeout=900)
    port = _free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
                               "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", f"--rdzv_id=xling-{port}",
                               "--local_addr=127.0.0.1", "-m", "xling.pretrain_cli", str(recipe), "--out", str(two)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    try:
        outputs = [n.communicate(timeout=900)[0] for n in nodes]  # minutes on a loaded 2-core machine
    finally:
        for n in nodes:
            if n.poll() is None:
                n.kill()
    assert [n.returncode for n in nodes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    _assert_same_run(one, two)


@pytest.mark.cluster
def test_pretrain_under_sbatch_srun_torchrun_matches_one_process(tiny_pretrain, tmp_path, slurm_partition):
    """`sbatch` a job whose step is `srun torchrun --nproc_per_node=2` (gloo): the Slurm path of the GPU
    recipes, on CPU. Same loss curve and weights as one process."""
    recipe = _three_step_recipe(tiny_pretrain, tmp_path, "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "xling.pretrain_cli", str(recipe), "--out", str(one)], env=env, check=True,
                   timeout=900)
    script = tmp_path / "pretrain.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        f"#SBATCH --job-name=xling-pretrain-test\n#SBATCH --partition={slurm_partition}\n"
        "#SBATCH --nodes=1\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=2\n#SBATCH --mem=2G\n#SBATCH --time=00:20:00\n"
        f"#SBATCH --output={tmp_path}/slurm-%j.out\n"
        "set -euo pipefail\n"
        f"srun {sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 "
        f"-m xling.pretrain_cli {recipe} --out {two}\n", encoding="utf-8")
    # --wait: sbatch returns when the job ends, with its exit code; the job inherits this environment
    done = subprocess.run(["sbatch", "--wait", "--parsable", str(script)], env=env, capture_output=True, text=True,
                          timeout=900)
    logs = "\n".join(p.read_text()[-3000:] for p in tmp_path.glob("slurm-*.out"))
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{logs}"
    _assert_same_run(one, two)
