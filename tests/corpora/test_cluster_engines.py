"""The CC-100 corpus recipe, scaled down, on real engines: a single-node Slurm cluster
(`scripts/local-cluster.sh up`) and a local Ray cluster (`ray start --head` on 127.0.0.1).

Each run's data files must equal a local-executor run's byte for byte. Marked `cluster`: skipped
unless XLING_CLUSTER_TESTS=1 (`.ci/run` sets it when the script brought Slurm up)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpora.build import build_corpus, load_recipe
from corpora.executors import StagesPending
from xling.core.io import read_json

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "corpus-cc100-slurm.yaml"
KK = "mono/kk/common_voice/sentence-collector.txt.xz"
UG = "mono/ug/common_voice/sentence-collector.txt.xz"
# what the stages write as data (documents, signatures); reports, stats and configs hold paths and timings
DATA_SUFFIXES = (".jsonl.gz", ".sig")


def _recipe(data_root: Path, *extra: str):
    # 3 tasks over 2 files: task 2 reads nothing but is still an array element with its own marker
    return load_recipe(RECIPE, [
        f"clean.inputs=[kaz_Cyrl={data_root / KK}, uig_Arab={data_root / UG}]", "clean.format=lines",
        "clean.tasks=3", "clean.limit=150", *extra])


def _data_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name.endswith(DATA_SUFFIXES) and "logs" not in p.relative_to(out).parts}


def _assert_same_data(out: Path, reference: Path) -> None:
    got, want = _data_files(out), _data_files(reference)
    assert sorted(got) == sorted(want)
    assert any(k.startswith("mix/") for k in want) and any(k.startswith("decontam/") for k in want)
    different = [k for k in want if got[k] != want[k]]
    assert not different, f"differ from the local executor's output: {different}"


@pytest.fixture(scope="module")
def local_reference(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "build"
    build_corpus(_recipe(data_root, "clean.executor.kind=local"), out, progress=False)
    return out


# ------------------------------------------------------------------------------------------ Slurm

def _queued(job_ids: list[str]) -> list[str]:
    """Those of `job_ids` (array ids) that squeue still lists, pending or running."""
    listed = subprocess.run(["squeue", "-h", "-r", "-o", "%F"], capture_output=True, text=True, check=True)
    queued = set(listed.stdout.split())
    return [j for j in job_ids if j in queued]


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def _show_job(job_id: str) -> str:
    return subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True,
                          check=True).stdout


def _job_user_ids(job_name_prefix: str) -> list[str]:
    """Array ids of every queued job whose name starts with the prefix (stage arrays and datatrove's
    merge-stats jobs)."""
    listed = subprocess.run(["squeue", "-h", "-r", "-o", "%F %j"], capture_output=True, text=True, check=True)
    return sorted({ln.split()[0] for ln in listed.stdout.splitlines() if ln.split()[1].startswith(job_name_prefix)})


def test_slurm_recipe_arrays_scancel_resubmit_then_equal_to_local(data_root, tmp_path, slurm_partition,
                                                                  local_reference):
    name = f"xling-t{os.getpid()}"
    # one array element at a time (%1) so that a cancel mid-array leaves finished and unfinished ranks;
    # 1 CPU and 1 GB everywhere so the stages fit a 2-CPU node (stage 2 would otherwise ask for 4 CPUs)
    recipe = _recipe(data_root, "clean.executor.kind=slurm", f"clean.executor.slurm.partition={slurm_partition}",
                     f"clean.executor.slurm.job_name={name}", "clean.executor.slurm.max_concurrent=1",
                     "clean.executor.slurm.mem_per_cpu_gb=1", "clean.executor.slurm.dedup_mem_per_cpu_gb=1",
                     "clean.executor.slurm.dedup_cpus_per_task=1", "clean.executor.slurm.time=00:20:00")
    out = tmp_path / "build"
    logs = out / "clean" / "logs"
    try:
        with pytest.raises(StagesPending) as info:
            build_corpus(recipe, out, progress=False)
        s1, s2, s3 = info.value.result.job_ids
        # the chain as slurmctld holds it: real arrays, each stage afterok the one before
        assert f"JobName={name}-stage1" in _show_job(s1) and "ArrayTaskThrottle=1" in _show_job(s1)
        assert f"Dependency=afterok:{s1}_*" in _show_job(s2)
        assert f"Dependency=afterok:{s2}_*" in _show_job(s3)

        # kill stage 1 mid-array: as soon as rank 0 finished
        _wait(lambda: (logs / "stage1" / "completions" / "00000").is_file(), 300, "stage 1 rank 0")
        subprocess.run(["scancel", s1], check=True)
        # kill_invalid_depend (local-cluster.sh) cancels the stages that can never start; elsewhere cancel them here
        try:
            _wait(lambda: not _job_user_ids(name), 30, "the dependent jobs to be cancelled")
        except AssertionError:
            subprocess.run(["scancel", *_job_user_ids(name)], check=True)
            _wait(lambda: not _job_user_ids(name), 30, "the cancelled jobs to leave the queue")
        done = {int(p.name) for p in (logs / "stage1" / "completions").iterdir()}
        unfinished = sorted(set(range(3)) - done)
        assert 0 in done and unfinished, f"stage 1 finished ranks {sorted(done)}: the cancel came too late"

        # the same build again: stage 1's unfinished ranks only, stages 2 and 3 whole
        with pytest.raises(StagesPending) as info:
            build_corpus(recipe, out, progress=False)
        outcomes = {s.key: s for s in info.value.result.stages}
        assert [outcomes[k].action for k in ("stage1", "stage2", "stage3")] == ["submitted"] * 3
        assert outcomes["stage1"].incomplete == len(unfinished)
        assert read_json(logs / "stage1" / "ranks_to_run.json") == unfinished
        script = (logs / "stage1" / "launch_script.slurm").read_text()
        assert f"#SBATCH --array=0-{len(unfinished) - 1}%1" in script
        resubmitted = info.value.result.job_ids
        _wait(lambda: not _job_user_ids(name), 600, f"jobs {resubmitted} to finish")
        assert all((logs / k / "completions").is_dir() for k in ("stage1", "stage2", "stage3"))
        assert len(list((logs / "stage3" / "completions").iterdir())) == 3

        # and once more: nothing to submit, clean's report, then dedup → decontaminate → mix here
        build_corpus(recipe, out, progress=False)
    finally:
        left = _job_user_ids(name)
        if left:
            subprocess.run(["scancel", *left], check=False)
    for stage in ("clean", "dedup", "decontam", "mix"):
        assert (out / stage / "stats.json").is_file()
    _assert_same_data(out, local_reference)


# -------------------------------------------------------------------------------------------- Ray

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """`ray start --head --block` with 2 CPUs on this machine; stopped by signalling that process group
    (its GCS, raylet, agents and workers), never by `ray stop`, which stops every Ray on the machine.

    No --node-ip-address=127.0.0.1: Ray's client rewrites a loopback address to the machine's own IP
    (`resolve_ip_for_localhost`), so a head bound to loopback only is unreachable by its own driver.
    The agents' ports are fixed: with port 0 the raylet waits a fixed time for each agent to write its
    port file, which a loaded machine can exceed."""
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.is_file():
        pytest.skip(f"no `ray` command next to {sys.executable}")
    port, *agents = (_free_port() for _ in range(5))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    log_path = tmp_path / "ray-head.log"
    log = log_path.open("w")
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats",
                             f"--dashboard-agent-grpc-port={agents[0]}", f"--dashboard-agent-listen-port={agents[1]}",
                             f"--runtime-env-agent-port={agents[2]}", f"--metrics-export-port={agents[3]}"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait(lambda: head.poll() is not None or "Ray runtime started" in log_path.read_text(), 240,
              "the Ray head to come up")
        if head.poll() is not None:
            text = log_path.read_text()
            reason = next((ln for ln in reversed(text.splitlines()) if ln.startswith("Exception")), text[-500:])
            pytest.skip(f"the local Ray head did not start on this machine (`ray start --head` exited "
                        f"{head.returncode}: {reason.strip()}; load average {os.getloadavg()[0]:.1f})")
        yield f"127.0.0.1:{port}"
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
        log.close()


def test_ray_recipe_equal_to_local(data_root, tmp_path, ray_head, local_reference):
    recipe = _recipe(data_root, "clean.executor.kind=ray", f"clean.executor.ray.address={ray_head}",
                     "clean.executor.ray.mem_per_cpu_gb=0.5")
    out = tmp_path / "build"
    build_corpus(recipe, out, progress=False)  # blocks until each stage's Ray tasks are done
    for stage in ("stage1", "stage2", "stage3"):
        tasks = 1 if stage == "stage2" else 3
        assert len(list((out / "clean" / "logs" / stage / "completions").iterdir())) == tasks
    _assert_same_data(out, local_reference)
    # a re-run finds every rank complete and redoes nothing
    build_corpus(recipe, out, progress=False)
    _assert_same_data(out, local_reference)
