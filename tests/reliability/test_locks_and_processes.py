"""One run per output folder, and no process outliving its command (issue 17, cases 7 and 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import env, kk_lines

from xling.core.errors import OutputLockedError
from xling.core.io import read_json
from xling.core.locking import holder, lock_path, output_lock

HOLD = """
import sys, time
from xling.core.locking import output_lock
with output_lock(sys.argv[1], "test holder"):
    print("locked", flush=True)
    time.sleep(60)
"""


def _hold(out: Path) -> subprocess.Popen:
    """A live process holding OUT's lock (started in its own session so the test can kill it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, env=env(),
                            start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"locked"
    return proc


def test_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _hold(out)
    try:
        with pytest.raises(OutputLockedError, match=rf"pid {proc.pid}\b.*test holder") as e, output_lock(out):
            pass
        assert e.value.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_holder_is_broken(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _hold(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock_path(out).exists() and holder(out)["pid"] == proc.pid  # the file stays behind ...
    with output_lock(out):  # ... but the kernel released the flock with the process
        assert holder(out)["pid"] == os.getpid()
    assert not lock_path(out).exists()


def test_reentrant_in_one_process(tmp_path: Path) -> None:
    with output_lock(tmp_path / "o"), output_lock(tmp_path / "o"):
        pass
    with output_lock(tmp_path / "o"):
        pass


@pytest.mark.parametrize("stage", ["clean", "dedup", "decontam", "mix", "vocab", "pretrain", "eval"])
def test_every_stage_refuses_a_folder_in_use(stage: str, tmp_path: Path) -> None:
    """The issue's case: a second run on the same --out must not touch the first one's files."""
    text = tmp_path / "kk.txt"
    text.write_text(kk_lines(50), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "first-run-file").write_text("mine")
    proc = _hold(out)
    try:
        with pytest.raises(OutputLockedError, match=f"pid {proc.pid}"):
            _start(stage, str(text), out)
    finally:
        proc.kill()
        proc.wait()
    assert sorted(p.name for p in out.iterdir()) == ["first-run-file"]


def _start(stage: str, text: str, out: Path) -> None:
    spec = [f"kaz_Cyrl={text}"]
    if stage == "clean":
        from corpora.clean import CleanConfig, run_clean

        run_clean(CleanConfig(inputs=spec, out=str(out), lid="langid"))
    elif stage == "dedup":
        from corpora.dedup import dedup_corpus

        dedup_corpus(spec, out)
    elif stage == "decontam":
        from corpora.decontam import DecontamConfig, decontaminate_corpus

        decontaminate_corpus(spec, out, DecontamConfig(auto=False))
    elif stage == "mix":
        from corpora.mix import mix_corpus

        mix_corpus(spec, out)
    elif stage == "vocab":
        from vocab.train import VocabTrainConfig, train_vocab

        train_vocab(VocabTrainConfig(inputs=spec, out=str(out), vocab_size=60))
    elif stage == "pretrain":
        from xling.pretrain import load_pretrain_config, pretrain

        recipe = Path(__file__).resolve().parents[2] / "recipes" / "pretrain-debug.yaml"
        pretrain(load_pretrain_config(recipe), out)
    else:
        from eval_xtreme.runner import EvalConfig, run_eval

        run_eval(EvalConfig(model="nonexistent-model", out=str(out)))


WORKERS = """
import sys, time, multiprocessing as mp
from xling.core.procs import no_orphans, terminate_on_sigterm

def work(i):
    time.sleep(120)

if __name__ == "__main__":
    terminate_on_sigterm()
    with no_orphans():
        ctx = mp.get_context("forkserver")
        with ctx.Pool(2) as pool:
            res = pool.map_async(work, range(2))
            time.sleep(0.5)
            print(" ".join(str(p.pid) for p in pool._pool), flush=True)
            res.get()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "term"])
def test_workers_do_not_outlive_a_killed_command(sig: int, tmp_path: Path) -> None:
    script = tmp_path / "workers.py"
    script.write_text(WORKERS)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env(), cwd=tmp_path,
                            start_new_session=True)
    assert proc.stdout is not None
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    deadline = time.time() + 10
    while any(_alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for p in left:  # never leave them behind, even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not left


@pytest.mark.slow
def test_clean_killed_with_9_leaves_no_worker_and_resumes(tmp_path: Path) -> None:
    """The real command: `clean --workers 2`, kill -9 once its workers run; no process of it stays,
    and the same command then finishes with the output of an uninterrupted run."""
    specs = []
    for i in range(4):
        f = tmp_path / f"in{i}.txt"
        f.write_text(kk_lines(1500, seed=i), encoding="utf-8")
        specs.append(f"kaz_Cyrl={f}")
    cmd = [sys.executable, "-m", "xling.cli", "corpora", "clean", *specs, "--workers", "2", "--lid", "langid"]
    proc = subprocess.Popen([*cmd, "--out", "out"], cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    family: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and len(family) < 3:
        family |= _descendants(proc.pid)
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)
    left = [p for p in family if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert len(family) >= 3 and not left
    subprocess.run([*cmd, "--out", "out"], cwd=tmp_path, env=env(), check=True, capture_output=True)
    subprocess.run([*cmd, "--out", "ref"], cwd=tmp_path, env=env(), check=True, capture_output=True)
    assert _kept(tmp_path / "out") == _kept(tmp_path / "ref")


def _kept(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "kept").rglob("*")) if p.is_file()}


def _descendants(pid: int) -> set[int]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    table[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    family, grew = {pid}, True
    while grew:
        grew = False
        for p, pp in table.items():
            if pp in family and p not in family:
                family.add(p)
                grew = True
    return family - {pid}


def test_lock_file_records_the_holder(tmp_path: Path) -> None:
    with output_lock(tmp_path / "o", "xling corpora mix ..."):
        info = read_json(lock_path(tmp_path / "o"))
        assert info["pid"] == os.getpid() and info["command"] == "xling corpora mix ..."
