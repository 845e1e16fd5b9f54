"""The pretraining dry run's memory estimate against the peak memory a real CPU run reaches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The training run reports its own peak resident set size (VmHWM, counted by the kernel) on its last line.
_RUN_AND_REPORT_PEAK = """
import sys
from xling.cli import main
rc = main(sys.argv[1:])
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(f"PEAK_KIB {peak}")
sys.exit(rc)
"""


@pytest.mark.slow
def test_cpu_estimate_is_within_20_percent_of_the_measured_peak(tiny_pretrain, tmp_path):
    from xling.core.config import save_config
    from xling.core.io import read_json

    # the debug shape with a batch whose activations are a real share of the total, not only the runtime
    cfg = tiny_pretrain("model.size=debug", "data.max_len=128", "train.micro_batch_size=16",
                        "train.global_batch_size=16", "train.max_steps=3", "train.save_every=100")
    recipe = tmp_path / "pretrain.yaml"
    save_config(cfg, recipe)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    subprocess.run([sys.executable, "-m", "xling.cli", "pretrain", str(recipe), "--out", str(tmp_path / "plan"),
                    "--dry-run"], cwd=REPO, env=env, check=True, capture_output=True)
    mem = read_json(tmp_path / "plan" / "dry_run.json")["memory_gib_per_process"]
    assert mem["device"] == "cpu" and mem["runtime"] > 0

    run = subprocess.run([sys.executable, "-c", _RUN_AND_REPORT_PEAK, "pretrain", str(recipe), "--out",
                          str(tmp_path / "run")], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    peak_gib = int(run.stdout.split("PEAK_KIB")[-1].split()[0]) / 1024 ** 2
    assert mem["total_estimate"] == pytest.approx(peak_gib, rel=0.2), (mem, peak_gib)
