"""Which datatrove executor runs the clean stages: local processes, a Slurm cluster, or a Ray cluster.

The stage pipelines (`corpora.clean.build_pipelines`) are plain lists of datatrove steps; this
module only picks the executor that runs them, so the same steps run on a laptop and on a cluster.

* local: `LocalPipelineExecutor`, stage after stage, in this process (the default).
* slurm: one `SlurmPipelineExecutor` job array per stage, chained with `depends=` (afterok). The
  command returns once the jobs are submitted; running the same command again after they finished
  finds every rank's completion marker, submits nothing and lets the caller write its report.
  While jobs recorded in `logs/slurm_jobs.json` are still in `squeue`, a re-run refuses to submit
  the same ranks twice.
* ray: one `RayPipelineExecutor` per stage, run in order from this driver (blocking); `ray` is
  imported only here and only when a Ray run is really started.

`dry_run` builds the same executors and calls datatrove's own launch code with the one function
that calls `sbatch` (`datatrove.executor.slurm.launch_slurm_job`) replaced by a recorder, so the
files written (`launch_script.slurm`, `executor.pik`, `ranks_to_run.json`, `executor.json`) and the
dependency chain are exactly what datatrove would submit; no data is processed.
"""

from __future__ import annotations

import getpass
import importlib.util
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xling.core.errors import InputError, StageError
from xling.core.io import read_json, write_json_atomic

log = logging.getLogger(__name__)

JOBS_FILE = "slurm_jobs.json"  # under the logging root: job ids of the last submission


@dataclass
class SlurmOptions:
    """`SlurmPipelineExecutor` settings. Every stage gets these; the one-task duplicate finder
    (stage 2) may ask for more memory with `dedup_*`."""

    partition: str = ""
    time: str = "24:00:00"  # per array task
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    qos: str = ""  # empty: no --qos line (the cluster default)
    job_name: str = "xling-clean"  # stages are submitted as <job_name>-stage1 … -stage3
    env_command: str = ""  # shell line run before the task, e.g. "module load python; source venv/bin/activate"
    venv_path: str = ""  # or: the activate script of the cluster's virtual environment
    sbatch_args: dict[str, str] = field(default_factory=dict)  # extra #SBATCH lines, e.g. {account: proj42}
    tasks_per_job: int = 1  # datatrove tasks run one after another in each array element
    max_array_size: int = 1001  # the cluster's MaxArraySize; larger stages are split into several arrays
    max_concurrent: int = -1  # array elements running at once (sbatch --array=0-N%K); -1: no limit
    dedup_cpus_per_task: int = 0  # 0: cpus_per_task
    dedup_mem_per_cpu_gb: int = 0  # 0: mem_per_cpu_gb

    def check(self) -> None:
        if not self.partition:
            raise InputError("executor.slurm.partition: required for executor.kind=slurm (e.g. cpu)")
        if self.env_command and self.venv_path:
            raise InputError("executor.slurm: set env_command or venv_path, not both")
        for key in ("cpus_per_task", "mem_per_cpu_gb", "tasks_per_job"):
            if getattr(self, key) < 1:
                raise InputError(f"executor.slurm.{key}: must be ≥ 1, got {getattr(self, key)}")
        if self.max_array_size == 0 or self.max_array_size < -1:
            raise InputError(f"executor.slurm.max_array_size: must be ≥ 1 or -1, got {self.max_array_size}")
        if self.max_concurrent == 0 or self.max_concurrent < -1:
            raise InputError(f"executor.slurm.max_concurrent: must be ≥ 1 or -1, got {self.max_concurrent}")


@dataclass
class RayOptions:
    """`RayPipelineExecutor` settings; the Ray cluster must already be running (`ray start`)."""

    address: str = ""  # empty: RAY_ADDRESS, or a local Ray instance
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0
    max_concurrent: int = -1  # tasks running at once; -1: all
    tasks_per_job: int = 1
    time_limit_s: int = 0  # per task; 0: none

    def check(self) -> None:
        if self.cpus_per_task < 1 or self.mem_per_cpu_gb <= 0 or self.tasks_per_job < 1:
            raise InputError("executor.ray: cpus_per_task and tasks_per_job must be ≥ 1 and mem_per_cpu_gb > 0")
        if self.max_concurrent == 0 or self.max_concurrent < -1:
            raise InputError(f"executor.ray.max_concurrent: must be ≥ 1 or -1, got {self.max_concurrent}")


@dataclass
class ExecutorConfig:
    """`CleanConfig.executor`: where the clean stages run. Changing it between a run and its re-run
    is allowed (it does not change the output)."""

    kind: Literal["local", "slurm", "ray"] = "local"
    dry_run: bool = False  # build the executors, write/print what would run, process nothing
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    ray: RayOptions = field(default_factory=RayOptions)

    def __post_init__(self) -> None:
        if self.kind == "slurm":
            self.slurm.check()
        elif self.kind == "ray":
            self.ray.check()


@dataclass
class Stage:
    """One stage to run: a datatrove pipeline, its task count and its logging folder."""

    key: str  # stage1, stage2, stage3: the folder name under the logging root
    title: str
    pipeline: list
    tasks: int
    logging_dir: Path
    heavy: bool = False  # one task holding a whole-corpus table (gets the dedup_* Slurm resources)


@dataclass
class StageOutcome:
    key: str
    title: str
    tasks: int
    incomplete: int  # ranks without a completion marker when the stage was looked at
    action: str  # ran | complete | submitted | would run | would submit
    job_ids: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # sbatch command lines (Slurm)
    files: list[str] = field(default_factory=list)  # what a dry run wrote


@dataclass
class ExecutionResult:
    kind: str
    dry_run: bool
    stages: list[StageOutcome]
    notes: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Every stage's ranks are complete (after a local/Ray run, or on a Slurm re-run)."""
        return not self.dry_run and all(s.action in ("ran", "complete") for s in self.stages)

    @property
    def job_ids(self) -> list[str]:
        return [j for s in self.stages for j in s.job_ids]

    def summary_lines(self) -> list[str]:
        lines = [f"{'dry run' if self.dry_run else 'run'} on {self.kind}:"]
        for s in self.stages:
            lines.append(f"  {s.key} {s.title}: {s.tasks} task(s), {s.incomplete} incomplete → {s.action}"
                         + (f" (job {', '.join(s.job_ids)})" if s.job_ids and not self.dry_run else ""))
            lines.extend(f"    $ {c}" for c in s.commands)
            lines.extend(f"    wrote {f}" for f in s.files)
        lines.extend(f"  {n}" for n in self.notes)
        return lines


class StagesPending(Exception):
    """The stages did not finish in this call: jobs were submitted to the cluster, or it was a dry
    run. `result` says what was submitted (or would be); re-run the same command when the jobs end."""

    def __init__(self, message: str, result: ExecutionResult) -> None:
        super().__init__(message)
        self.result = result


def run_stages(stages: list[Stage], config: ExecutorConfig, workers: int = 1) -> ExecutionResult:
    """Run (local, Ray), submit (Slurm) or plan (dry run) `stages` in order."""
    if config.kind == "local":
        return _run_local(stages, workers, config.dry_run)
    if config.kind == "slurm":
        return _run_slurm(stages, config.slurm, config.dry_run)
    return _run_ray(stages, config.ray, config.dry_run)


# ------------------------------------------------------------------------------------------ local

def _run_local(stages: list[Stage], workers: int, dry_run: bool) -> ExecutionResult:
    from datatrove.executor import LocalPipelineExecutor

    outcomes = []
    for st in stages:
        executor = LocalPipelineExecutor(st.pipeline, tasks=st.tasks, workers=min(workers, st.tasks),
                                         logging_dir=str(st.logging_dir))
        incomplete = len(executor.get_incomplete_ranks())
        if dry_run:
            _check_pickles(executor, st)  # workers > 1 send the pipeline to processes with dill
            outcomes.append(StageOutcome(st.key, st.title, st.tasks, incomplete,
                                         "would run" if incomplete else "complete"))
            continue
        _run_to_completion(executor, st)
        outcomes.append(StageOutcome(st.key, st.title, st.tasks, incomplete, "ran" if incomplete else "complete"))
    return ExecutionResult("local", dry_run, outcomes)


def _run_to_completion(executor: Any, st: Stage) -> None:
    executor.run()
    missing = executor.get_incomplete_ranks()
    if missing:
        raise StageError(f"{st.title}: tasks {missing[:10]} did not finish; see {st.logging_dir}/logs and re-run")


def _check_pickles(executor: Any, st: Stage) -> None:
    import dill

    try:
        dill.dumps(executor)
    except Exception as e:  # any pickling failure means the stage cannot be shipped
        raise InputError(f"{st.title}: the pipeline cannot be pickled for other processes/nodes ({e})") from e


# ------------------------------------------------------------------------------------------ slurm

def _env_command(opts: SlurmOptions) -> str | None:
    """Without an explicit environment, the jobs use the interpreter that submitted them: its
    `bin/` (which holds `launch_pickled_pipeline`) goes first on PATH."""
    if opts.env_command or opts.venv_path:
        return opts.env_command or None
    return f"export PATH={Path(sys.executable).parent}:$PATH"


def slurm_executors(stages: list[Stage], opts: SlurmOptions) -> list:
    """One `SlurmPipelineExecutor` per stage, each depending on the one before."""
    from datatrove.executor import SlurmPipelineExecutor

    executors: list = []
    for st in stages:
        cpus = (opts.dedup_cpus_per_task or opts.cpus_per_task) if st.heavy else opts.cpus_per_task
        mem = (opts.dedup_mem_per_cpu_gb or opts.mem_per_cpu_gb) if st.heavy else opts.mem_per_cpu_gb
        executors.append(SlurmPipelineExecutor(
            st.pipeline, tasks=st.tasks, time=opts.time, partition=opts.partition, cpus_per_task=cpus,
            mem_per_cpu_gb=mem, workers=opts.max_concurrent, job_name=f"{opts.job_name}-{st.key}",
            qos=opts.qos or None, env_command=_env_command(opts), venv_path=opts.venv_path or None,
            sbatch_args=dict(opts.sbatch_args), max_array_size=opts.max_array_size,
            tasks_per_job=opts.tasks_per_job, logging_dir=str(st.logging_dir),
            depends=executors[-1] if executors else None))
    return executors


def _job_name(launch_script: str) -> str | None:
    return next((ln.split("=", 1)[1] for ln in launch_script.splitlines() if ln.startswith("#SBATCH --job-name=")),
                None)


@contextmanager
def _recorded_sbatch() -> Iterator[list[tuple[str, tuple[str, ...], str]]]:
    """Replace datatrove's sbatch call with a recorder returning placeholder job ids."""
    import datatrove.executor.slurm as slurm

    calls: list[tuple[str, tuple[str, ...], str]] = []

    def record(contents: str, job_id_retriever: Any, *args: str) -> str:
        name = _job_name(contents) or "job"
        kind = "" if "launch_pickled_pipeline" in contents else "-merge-stats"
        same = sum(1 for c in calls if c[2].startswith(f"<{name}{kind}"))
        job_id = f"<{name}{kind}{f'#{same + 1}' if same else ''}>"
        calls.append((contents, args, job_id))
        return job_id

    original = slurm.launch_slurm_job
    slurm.launch_slurm_job = record
    try:
        yield calls
    finally:
        slurm.launch_slurm_job = original


def _pending_jobs(jobs_file: Path) -> list[str]:
    """Job ids of the last submission that `squeue` still lists (empty when squeue is absent)."""
    if not jobs_file.is_file():
        return []
    recorded = [str(j) for j in read_json(jobs_file).get("job_ids", [])]
    if not recorded or shutil.which("squeue") is None:
        if recorded:
            log.warning("squeue not found: cannot check whether jobs %s are still running", ", ".join(recorded))
        return []
    listed = subprocess.run(["squeue", "-h", "-o", "%A", "-u", getpass.getuser()], capture_output=True, text=True,
                            check=False)
    if listed.returncode != 0:
        log.warning("squeue failed (%s): cannot check whether jobs are still running", listed.stderr.strip())
        return []
    queued = set(listed.stdout.split())
    return [j for j in recorded if j in queued]


def _run_slurm(stages: list[Stage], opts: SlurmOptions, dry_run: bool) -> ExecutionResult:
    root = stages[0].logging_dir.parent
    jobs_file = root / JOBS_FILE
    executors = slurm_executors(stages, opts)
    incomplete = [len(e.get_incomplete_ranks()) for e in executors]
    if any(incomplete):
        # queued array tasks read executor.pik and ranks_to_run.json when they start: a re-run (or a
        # dry run, which rewrites both) must not touch them while the last submission is in the queue
        pending = _pending_jobs(jobs_file)
        if pending:
            raise InputError(f"Slurm jobs {', '.join(pending)} of the last submission (recorded in {jobs_file}) are "
                             f"still queued or running; wait for them (squeue -j {','.join(pending)}) or cancel them "
                             f"(scancel {' '.join(pending)}) before running this command again")
    if not dry_run and any(incomplete) and shutil.which("sbatch") is None:
        raise InputError("sbatch not found on PATH: submit from a Slurm login node, or check the plan with "
                         "--dry-run (executor.dry_run=true)")
    outcomes: list[StageOutcome] = []
    if dry_run:
        with _recorded_sbatch() as calls:
            for e in executors:
                e.run()
        by_stage = _calls_by_stage(calls, stages, opts)
        for st, e, n in zip(stages, executors, incomplete, strict=True):
            files = [str(st.logging_dir / f) for f in ("launch_script.slurm", "executor.pik", "ranks_to_run.json")
                     if n and (st.logging_dir / f).is_file()]
            commands, merge_scripts = by_stage[st.key]
            for i, text in enumerate(merge_scripts):
                path = st.logging_dir / f"merge_stats{i or ''}.slurm"
                path.write_text(text, encoding="utf-8")
                files.append(str(path))
            outcomes.append(StageOutcome(st.key, st.title, st.tasks, n, "would submit" if n else "complete",
                                         [str(e.job_id)] if n else [], commands, files))
        result = ExecutionResult("slurm", True, outcomes)
        result.notes.append("nothing was submitted; run the same command without --dry-run on a Slurm login node")
        return result

    for st, e, n in zip(stages, executors, incomplete, strict=True):
        e.run()  # outside a Slurm task, datatrove's run() submits (or skips a complete stage)
        ids = [] if e.job_id in (None, -1) else [str(e.job_id)]
        outcomes.append(StageOutcome(st.key, st.title, st.tasks, n, "submitted" if n else "complete", ids,
                                     files=[str(st.logging_dir / "launch_script.slurm")] if n else []))
    result = ExecutionResult("slurm", False, outcomes)
    submitted = result.job_ids
    if submitted:
        write_json_atomic(jobs_file, {"job_ids": submitted, "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                      "stages": {o.key: o.job_ids for o in outcomes}})
        result.notes.append(f"job ids recorded in {jobs_file}; follow them with `squeue -j {','.join(submitted)}`")
    return result


def _calls_by_stage(calls: list[tuple[str, tuple[str, ...], str]], stages: list[Stage], opts: SlurmOptions
                    ) -> dict[str, tuple[list[str], list[str]]]:
    """Recorded sbatch calls → {stage: (command lines, merge-stats scripts)}."""
    out: dict[str, tuple[list[str], list[str]]] = {st.key: ([], []) for st in stages}
    for contents, args, job_id in calls:
        name = _job_name(contents)
        st = next(s for s in stages if name == f"{opts.job_name}-{s.key}")
        commands, merges = out[st.key]
        if "launch_pickled_pipeline" in contents:
            script = st.logging_dir / "launch_script.slurm"
        else:
            script = st.logging_dir / f"merge_stats{len(merges) or ''}.slurm"
            merges.append(contents)
        commands.append(f"{job_id} = " + " ".join(["sbatch", *args, str(script)]))
    return out


# -------------------------------------------------------------------------------------------- ray

def _ray_executors(stages: list[Stage], opts: RayOptions) -> list:
    from datatrove.executor.ray import RayPipelineExecutor  # imports ray only inside run()

    return [RayPipelineExecutor(st.pipeline, tasks=st.tasks, workers=opts.max_concurrent, logging_dir=str(st.logging_dir),
                                cpus_per_task=opts.cpus_per_task, mem_per_cpu_gb=opts.mem_per_cpu_gb,
                                tasks_per_job=opts.tasks_per_job, time=opts.time_limit_s or None)
            for st in stages]


def _run_ray(stages: list[Stage], opts: RayOptions, dry_run: bool) -> ExecutionResult:
    have_ray = importlib.util.find_spec("ray") is not None
    executors = _ray_executors(stages, opts)
    if dry_run:
        outcomes = []
        for st, e in zip(stages, executors, strict=True):
            _check_pickles(e, st)
            n = len(e.get_incomplete_ranks())
            plan = (f"ray: {n} task(s) × {opts.cpus_per_task} CPU, {opts.mem_per_cpu_gb * opts.cpus_per_task:g} GB each"
                    f", {opts.max_concurrent if opts.max_concurrent != -1 else 'all'} at once")
            outcomes.append(StageOutcome(st.key, st.title, st.tasks, n, "would run" if n else "complete", [], [plan]))
        result = ExecutionResult("ray", True, outcomes)
        if not have_ray:
            result.notes.append("the `ray` package is not installed here; a real run needs it (pip install 'ray[default]')")
        return result
    if not have_ray:
        raise InputError("executor.kind=ray needs the `ray` package, which is not installed "
                         "(pip install 'ray[default]'); check the plan with --dry-run, or use kind local/slurm")
    import ray

    if not ray.is_initialized():
        ray.init(address=opts.address or None, ignore_reinit_error=True)
    outcomes = []
    for st, e in zip(stages, executors, strict=True):
        n = len(e.get_incomplete_ranks())
        _run_to_completion(e, st)  # Ray: blocks until the stage's tasks finished
        outcomes.append(StageOutcome(st.key, st.title, st.tasks, n, "ran" if n else "complete"))
    return ExecutionResult("ray", False, outcomes)
