"""Clean stages on Slurm/Ray executors: dry runs write what datatrove would submit, and the
"submit, wait, re-run" flow. No cluster here: `sbatch`/`squeue` are fakes on PATH."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import dill
import pytest

from corpora.build import build_corpus, load_recipe
from corpora.clean import CleanConfig, run_clean
from corpora.executors import ExecutorConfig, SlurmOptions, StagesPending
from xling.core.config import ConfigError, load_config
from xling.core.io import read_json

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "corpus-cc100-slurm.yaml"
KK = "mono/kk/common_voice/sentence-collector.txt.xz"
UG = "mono/ug/common_voice/sentence-collector.txt.xz"


def _fake_tool(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def sbatch_forbidden(tmp_path, monkeypatch):
    """An `sbatch` on PATH that leaves a marker: a test asserts the marker never appears."""
    marker = tmp_path / "sbatch-was-called"
    _fake_tool(tmp_path / "bin", "sbatch", f'echo "$@" >> {marker}; exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return marker


def _slurm(dry_run: bool = False) -> ExecutorConfig:
    return ExecutorConfig(kind="slurm", dry_run=dry_run, slurm=SlurmOptions(partition="cpu"))


def test_executor_config_validation():
    base = {"inputs": ["a"], "out": "b"}
    with pytest.raises(ConfigError, match="partition"):
        load_config(CleanConfig, None, ["executor.kind=slurm"], flags=base)
    with pytest.raises(ConfigError, match="env_command or venv_path"):
        load_config(CleanConfig, None, ["executor.kind=slurm", "executor.slurm.partition=cpu",
                                        "executor.slurm.env_command=x", "executor.slurm.venv_path=y"], flags=base)
    with pytest.raises(ConfigError, match="did you mean 'partition'"):
        load_config(CleanConfig, None, ["executor.slurm.partiton=cpu"], flags=base)
    with pytest.raises(ConfigError, match="local"):
        load_config(CleanConfig, None, ["executor.kind=kubernetes"], flags=base)
    assert load_config(CleanConfig, None, [], flags=base).executor == ExecutorConfig()  # old YAML: local


def _overrides(data_root: Path) -> list[str]:
    """The CC-100 recipe on two small real files (one sentence per line, not CC-100's paragraphs)."""
    return [f"clean.inputs=[kaz_Cyrl={data_root / KK}, uig_Arab={data_root / UG}]", "clean.format=lines",
            "clean.tasks=2", "clean.limit=400", "stages=[clean, dedup, mix]"]


def _cc100_recipe(data_root: Path, *extra: str):
    return load_recipe(RECIPE, [*_overrides(data_root), *extra])


def test_cc100_slurm_recipe_dry_run_then_finished_jobs(data_root, tmp_path, sbatch_forbidden, capsys):
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.executor.slurm import SlurmPipelineExecutor

    from xling.cli import main

    out = tmp_path / "build"
    argv = ["corpora", "build", str(RECIPE), "--out", str(out), *(x for o in _overrides(data_root) for x in ("--set", o))]
    assert main([*argv, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    logs = out / "clean" / "logs"
    step_types = {
        "stage1": ["MultiFormatReader", "Normalize", "IdentifyLanguage", "LanguageFilter", "QualityFilter",
                   "DedupSignatures", "RowShardWriter"],
        "stage2": ["FindDuplicates"],
        "stage3": ["ShardReader", "ExactDedupFilter", "AtomicJsonlWriter"],
    }
    for stage, tasks in (("stage1", 2), ("stage2", 1), ("stage3", 2)):
        script = (logs / stage / "launch_script.slurm").read_text()
        assert "#SBATCH --partition=cpu" in script
        assert f"#SBATCH --array=0-{tasks - 1}%200" in script  # max_concurrent: 200
        assert f"#SBATCH --job-name=xling-cc100-{stage}" in script
        assert f"launch_pickled_pipeline {logs / stage / 'executor.pik'}" in script
        mem = "16G" if stage == "stage2" else "4G"
        assert f"#SBATCH --mem-per-cpu={mem}" in script
        assert read_json(logs / stage / "ranks_to_run.json") == list(range(tasks))
        with open(logs / stage / "executor.pik", "rb") as f:
            executor = dill.load(f)
        assert isinstance(executor, SlurmPipelineExecutor)
        assert [type(s).__name__ for s in executor.pipeline] == step_types[stage]
        assert executor.tasks == tasks
        assert not (logs / stage / "completions").exists()
    # the dependency chain, as datatrove would pass it to sbatch
    assert f"<xling-cc100-stage2> = sbatch --export=ALL,RUN_OFFSET=0 --dependency=afterok:<xling-cc100-stage1> " \
           f"{logs / 'stage2' / 'launch_script.slurm'}" in printed
    assert "--dependency=afterok:<xling-cc100-stage2>" in printed
    assert "nothing was processed" in printed
    assert not (out / "clean" / "kept").exists() and not (out / "clean" / "config.yaml").exists()
    assert "waiting for clean" in (out / "report.md").read_text()
    assert not sbatch_forbidden.exists()

    # "the jobs ran": run each pickled pipeline (what launch_pickled_pipeline runs) on its logging folder
    for stage in ("stage1", "stage2", "stage3"):
        with open(logs / stage / "executor.pik", "rb") as f:
            executor = dill.load(f)
        LocalPipelineExecutor(executor.pipeline, tasks=executor.tasks, logging_dir=str(logs / stage)).run()

    # the same command again: every rank complete → nothing submitted, clean's report, then dedup and mix
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert not sbatch_forbidden.exists()
    stats = read_json(out / "clean" / "stats.json")
    assert stats["languages"]["kaz_Cyrl"]["docs_kept"] > 300 and stats["languages"]["uig_Arab"]["docs_kept"] > 300
    assert (out / "clean" / "report.md").is_file()
    assert (out / "mix" / "stats.json").is_file() and (out / "dedup" / "stats.json").is_file()
    assert "final corpus" in printed


def test_slurm_submission_then_rerun_while_queued(data_root, tmp_path, monkeypatch):
    calls = tmp_path / "sbatch-calls"
    counter = tmp_path / "next-id"
    counter.write_text("100")
    # prints what real sbatch prints; job ids 101, 102, ...
    _fake_tool(tmp_path / "bin", "sbatch",
               f'n=$(($(cat {counter}) + 1)); echo $n > {counter}; echo "$n $@" >> {calls}; '
               f'echo "Submitted batch job $n"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cfg = CleanConfig(inputs=[str(data_root / KK)], out=str(tmp_path / "o"), tasks=3, executor=_slurm())
    with pytest.raises(StagesPending, match="submitted 3 Slurm job") as info:
        run_clean(cfg)
    # one array per stage (101, 103, 105) and datatrove's merge-stats job after each
    assert info.value.result.job_ids == ["101", "103", "105"]
    lines = calls.read_text().splitlines()
    assert len(lines) == 6
    assert "--dependency=afterok:101" in lines[2] and "--dependency=afterok:103" in lines[4]
    recorded = read_json(tmp_path / "o" / "logs" / "slurm_jobs.json")
    assert recorded["job_ids"] == ["101", "103", "105"]
    assert not (tmp_path / "o" / "stats.json").exists()

    # re-run while squeue still lists a job: refused, nothing resubmitted
    _fake_tool(tmp_path / "bin", "squeue", "echo 103")
    with pytest.raises(ValueError, match=r"103 .*still queued or running"):
        run_clean(cfg)
    pik = (tmp_path / "o" / "logs" / "stage3" / "executor.pik").stat().st_mtime_ns
    with pytest.raises(ValueError, match="still queued"):  # a dry run would rewrite what queued tasks read
        run_clean(dataclasses.replace(cfg, executor=_slurm(dry_run=True)))
    assert (tmp_path / "o" / "logs" / "stage3" / "executor.pik").stat().st_mtime_ns == pik
    assert len(calls.read_text().splitlines()) == 6


def test_slurm_without_sbatch_is_a_clear_error(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    cfg = CleanConfig(inputs=[str(data_root / KK)], out=str(tmp_path / "o"), executor=_slurm())
    with pytest.raises(ValueError, match=r"sbatch not found.*--dry-run"):
        run_clean(cfg)


def test_ray_dry_run_without_ray(data_root, tmp_path):
    pytest.importorskip("datatrove.executor.ray")
    import importlib.util

    cfg = CleanConfig(inputs=[str(data_root / KK)], out=str(tmp_path / "o"), tasks=2,
                      executor=ExecutorConfig(kind="ray", dry_run=True))
    with pytest.raises(StagesPending) as info:
        run_clean(cfg)
    result = info.value.result
    assert [s.action for s in result.stages] == ["would run"] * 3
    assert "ray: 2 task(s) × 1 CPU, 2 GB each" in result.stages[0].commands[0]
    assert not (tmp_path / "o" / "kept").exists()
    if importlib.util.find_spec("ray") is None:
        assert any("not installed" in n for n in result.notes)
        with pytest.raises(ValueError, match="pip install"):
            run_clean(dataclasses.replace(cfg, executor=ExecutorConfig(kind="ray")))


def test_local_dry_run_processes_nothing(data_root, tmp_path):
    cfg = CleanConfig(inputs=[str(data_root / KK)], out=str(tmp_path / "o"), executor=ExecutorConfig(dry_run=True))
    with pytest.raises(StagesPending, match="dry run") as info:
        run_clean(cfg)
    assert [(s.key, s.action) for s in info.value.result.stages] == [
        ("stage1", "would run"), ("stage2", "would run"), ("stage3", "would run")]
    assert not (tmp_path / "o" / "kept").exists() and not (tmp_path / "o" / "logs").exists()


def test_build_dry_run_stops_after_finished_clean(data_root, tmp_path, sbatch_forbidden):
    """A dry run never runs the local stages, even when clean is already finished."""
    recipe = _cc100_recipe(data_root, "clean.executor.kind=local", "clean.limit=50")
    out = tmp_path / "b"
    build_corpus(dataclasses.replace(recipe, stages=["clean"]), out, progress=False)
    dry = dataclasses.replace(recipe, clean=dataclasses.replace(
        recipe.clean, executor=dataclasses.replace(recipe.clean.executor, dry_run=True)))
    with pytest.raises(StagesPending, match="dedup, mix would follow"):
        build_corpus(dry, out, progress=False)
    assert not (out / "dedup").exists()


def test_launch_scripts_run_as_slurm_would(data_root, tmp_path, monkeypatch):
    """Each dry-run launch script, executed by bash as an array element would be (SLURM_ARRAY_TASK_ID,
    `srun` and `scontrol` faked), runs its pickled stage; the re-run then finds everything complete."""
    import subprocess

    bin_dir = tmp_path / "bin"
    # srun -l -n 1 CMD ARGS → CMD ARGS;  scontrol show hostnames X → X
    _fake_tool(bin_dir, "srun", 'while [ "${1#-}" != "$1" ]; do [ "$1" = "-n" ] && shift; shift; done; exec "$@"')
    _fake_tool(bin_dir, "scontrol", 'echo "$3"')
    _fake_tool(bin_dir, "sbatch", "exit 1")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cfg = CleanConfig(inputs=[f"kaz_Cyrl={data_root / KK}", f"uig_Arab={data_root / UG}"], out=str(tmp_path / "o"),
                      format="lines", tasks=2, limit=200, executor=_slurm(dry_run=True))
    with pytest.raises(StagesPending):
        run_clean(cfg)
    logs = tmp_path / "o" / "logs"
    for stage, tasks in (("stage1", 2), ("stage2", 1), ("stage3", 2)):
        for i in range(tasks):
            env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(i), "RUN_OFFSET": "0", "SLURM_NODELIST": "node1"}
            done = subprocess.run(["bash", str(logs / stage / "launch_script.slurm")], env=env, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
        assert len(list((logs / stage / "completions").iterdir())) == tasks
    out = run_clean(dataclasses.replace(cfg, executor=_slurm()))  # sbatch would fail: nothing is submitted
    stats = read_json(out / "stats.json")
    assert stats["languages"]["kaz_Cyrl"]["docs_kept"] > 150 and stats["languages"]["uig_Arab"]["docs_kept"] > 150
    assert stats["inputs"] == {"files": 2, "tasks": 2}


def test_slurm_resubmits_only_unfinished_stages(data_root, tmp_path, monkeypatch):
    calls = tmp_path / "sbatch-calls"
    _fake_tool(tmp_path / "bin", "sbatch", f'echo "$@" >> {calls}; echo "Submitted batch job 7$(wc -l < {calls})"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cfg = CleanConfig(inputs=[str(data_root / KK)], out=str(tmp_path / "o"), tasks=3, executor=_slurm())
    done = tmp_path / "o" / "logs" / "stage1" / "completions"
    done.mkdir(parents=True)
    for rank in range(3):  # stage 1 finished in an earlier submission
        (done / f"{rank:05d}").touch()
    (tmp_path / "o" / "logs" / "stage3" / "completions").mkdir(parents=True)
    (tmp_path / "o" / "logs" / "stage3" / "completions" / "00001").touch()  # one stage-3 task finished
    with pytest.raises(StagesPending) as info:
        run_clean(cfg)
    assert [(s.key, s.action) for s in info.value.result.stages] == [
        ("stage1", "complete"), ("stage2", "submitted"), ("stage3", "submitted")]
    lines = calls.read_text().splitlines()
    assert "--dependency" not in lines[0]  # stage 2 waits for nothing
    assert "--dependency=afterok:71" in lines[2]  # stage 3 after stage 2 (job 71)
    ranks = read_json(tmp_path / "o" / "logs" / "stage3" / "ranks_to_run.json")
    assert ranks == [0, 2]
    script = (tmp_path / "o" / "logs" / "stage3" / "launch_script.slurm").read_text()
    assert "#SBATCH --array=0-1" in script  # two array elements for the two unfinished ranks
