"""The CC-100 corpus recipe, scaled down, on real engines: a single-node Slurm cluster
(`scripts/local-cluster.sh up`) and a local Ray head (`scripts/local-cluster.sh up ray`, which the
Ray tests start and stop themselves).

Each run's data files must equal a local-executor run's byte for byte. Marked `cluster`: skipped
unless XLING_CLUSTER_TESTS=1 (`.ci/run` sets it)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from corpora.build import build_corpus, load_recipe
from corpora.executors import StagesPending
from xling.core.io import read_json

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "corpus-cc100-slurm.yaml"
SCRIPT = REPO / "scripts" / "local-cluster.sh"
KK = "mono/kk/common_voice/sentence-collector.txt.xz"
UG = "mono/ug/common_voice/sentence-collector.txt.xz"
# what the stages write as data (documents, signatures); reports, stats and configs hold paths and timings
DATA_SUFFIXES = (".jsonl.gz", ".sig")


def _sets(data_root: Path, *extra: str) -> list[str]:
    # 3 tasks over 2 files: task 2 reads nothing but is still an array element with its own marker
    return [f"clean.inputs=[kaz_Cyrl={data_root / KK}, uig_Arab={data_root / UG}]", "clean.format=lines",
            "clean.tasks=3", "clean.limit=150", *extra]


def _recipe(data_root: Path, *extra: str):
    return load_recipe(RECIPE, _sets(data_root, *extra))


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


def _wait(predicate, timeout: float, what: str, every: float = 0.5) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


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

def _free_port_base(n: int) -> int:
    """A port p with p … p+n-1 free on 127.0.0.1 and the host's address (the head's GCS, agents and
    client server), below Ray's worker ports (10002-19999) and the ephemeral range."""
    for _ in range(50):
        base = random.randrange(20000, 30000 - n)
        try:
            for port in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("", port))
        except OSError:
            continue
        return base
    raise AssertionError("no 6 consecutive free ports in 20000-30000")


def _ray_env(**extra: str) -> dict[str, str]:
    # the head's workers unpickle xling's pipeline steps: they import corpora from this checkout
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0", **extra}


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head of this module's own (`scripts/local-cluster.sh up ray`: nice 15, 2 CPUs, its own
    ports and temp dir), stopped with `down ray`, never `ray stop` (which stops every Ray on the
    machine). When it cannot start, the tests skip with the script's reason: ray start's error and
    the last error line of the raylet/GCS/agent logs."""
    ray = pytest.importorskip("ray")
    base = _free_port_base(6)
    tmp = Path(tempfile.mkdtemp(prefix="xling-ray-", dir="/tmp"))  # short: Ray's unix sockets live under it
    env = _ray_env(XLING_RAY_PORT=str(base), XLING_RAY_TMP=str(tmp), XLING_RAY_CPUS="2", XLING_PYTHON=sys.executable)
    try:
        up = subprocess.run([str(SCRIPT), "up", "ray"], env=env, capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            pytest.skip(f"the local Ray head did not start on this machine: {(up.stderr or up.stdout).strip()}")
        print(up.stdout.strip())  # start-up time and load average
        yield f"127.0.0.1:{base}"
    finally:
        if ray.is_initialized():
            ray.shutdown()  # disconnect this process's driver before its head goes
        subprocess.run([str(SCRIPT), "down", "ray"], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)


def _ray_sets(data_root: Path, address: str, *extra: str) -> list[str]:
    return _sets(data_root, "clean.executor.kind=ray", f"clean.executor.ray.address={address}",
                 "clean.executor.ray.mem_per_cpu_gb=0.5", *extra)


def test_ray_recipe_equal_to_local(data_root, tmp_path, ray_head, local_reference):
    recipe = load_recipe(RECIPE, _ray_sets(data_root, ray_head))
    out = tmp_path / "build"
    build_corpus(recipe, out, progress=False)  # blocks until each stage's Ray tasks are done
    for stage in ("stage1", "stage2", "stage3"):
        tasks = 1 if stage == "stage2" else 3
        assert len(list((out / "clean" / "logs" / stage / "completions").iterdir())) == tasks
    _assert_same_data(out, local_reference)
    # a re-run finds every rank complete and redoes nothing
    build_corpus(recipe, out, progress=False)
    _assert_same_data(out, local_reference)


def test_ray_driver_killed_mid_stage_reruns_unfinished_ranks_only(data_root, tmp_path, ray_head, local_reference):
    out = tmp_path / "build"
    # one task at a time, so that killing the driver after rank 0 leaves finished and unfinished ranks
    sets = _ray_sets(data_root, ray_head, "clean.executor.ray.max_concurrent=1")
    cmd = [sys.executable, "-m", "xling.cli", "corpora", "build", str(RECIPE), "--out", str(out),
           *(a for s in sets for a in ("--set", s))]
    stage1 = out / "clean" / "logs" / "stage1"
    first = tmp_path / "first-run.log"
    with first.open("w") as log:
        driver = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_ray_env(), cwd=REPO)
        try:
            _wait(lambda: (stage1 / "completions" / "00000").is_file() or driver.poll() is not None, 600,
                  "stage 1 rank 0 on Ray", every=0.1)
        finally:
            driver.kill()
            driver.wait()
    # Ray removes a dead driver's actors and placement groups: wait for both CPUs, so that nothing of
    # the killed run is still running (or still writing a marker) when the ranks are counted
    import ray

    if not ray.is_initialized():
        ray.init(address=ray_head, log_to_driver=False)
    _wait(lambda: ray.available_resources().get("CPU", 0) == ray.cluster_resources().get("CPU", -1), 300,
          "the killed driver's Ray tasks to be gone")
    done = sorted(int(p.name) for p in (stage1 / "completions").iterdir())
    unfinished = sorted(set(range(3)) - set(done))
    assert 0 in done and unfinished, f"stage 1 finished ranks {done}: the kill came too late ({first.read_text()[-2000:]})"
    print(f"driver killed with stage 1 ranks {done} finished, {unfinished} not")
    finished_stats = {r: (stage1 / "stats" / f"{r:05d}.json").stat().st_mtime_ns for r in done}

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=_ray_env(), cwd=REPO, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-3000:]
    text = rerun.stdout + rerun.stderr
    # datatrove's own account: stage 1 runs its unfinished ranks only, stages 2 and 3 all of theirs
    assert f"Will run pipeline on {len(unfinished)} incomplete ranks out of 3 total." in text, text[-3000:]
    assert "Will run pipeline on 1 incomplete ranks out of 1 total." in text
    assert "Will run pipeline on 3 incomplete ranks out of 3 total." in text
    assert {r: (stage1 / "stats" / f"{r:05d}.json").stat().st_mtime_ns for r in done} == finished_stats
    assert len(list((stage1 / "completions").iterdir())) == 3
    for stage in ("clean", "dedup", "decontam", "mix"):  # and the build went on past clean
        assert (out / stage / "stats.json").is_file()
    _assert_same_data(out, local_reference)
