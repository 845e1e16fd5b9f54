"""What every benchmark shares: peak memory, the machine's conditions, one machine-readable result line.

A benchmark prints its human table as before and, for each ratio it measures, one line

    BENCH {"bench": "corpora_throughput", "metric": "clean / bare read→write (CPU time)", "value": 0.31,
           "target": 0.35, "met": false, "peak_rss_mb": 412.0, ...}

`bench/table.py` (`make bench`) collects these lines from every benchmark into one table.
Benchmarks import this module as `benchlib` (scripts run with `bench/` first on `sys.path`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

PREFIX = "BENCH "


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MB, since start or the last `reset_peak_rss`."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def reset_peak_rss() -> bool:
    """Start a new VmHWM window (Linux ≥ 4.0: writing 5 to clear_refs); False where that is not possible,
    and `peak_rss_mb` then keeps counting from process start."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class Clock:
    """Wall and CPU seconds of one block (`with timed() as c: ...; c.wall, c.cpu`).

    CPU time is this process's (user + system, children excluded): on a machine shared with other
    jobs the wall clock measures the neighbours as much as the code, the CPU time of a one-core
    pipeline does not."""

    wall: float = 0.0
    cpu: float = 0.0
    peak_rss_mb: float = 0.0
    _t: tuple[float, float] = field(default=(0.0, 0.0), repr=False)


@contextmanager
def timed():
    clock = Clock()
    reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield clock
    finally:
        clock.wall = time.perf_counter() - t0
        clock.cpu = time.process_time() - c0
        clock.peak_rss_mb = peak_rss_mb()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def conditions() -> dict:
    """What a reader needs to judge a timing: CPU, cores, load while it ran, thread settings."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_1min": round(load[0], 2),
            "nice": os.nice(0) if hasattr(os, "nice") else 0,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""), "python": platform.python_version()}


def emit(bench: str, metric: str, value: float, target: float | None = None, higher_is_better: bool = True,
         **details) -> dict:
    """Print one `BENCH {...}` line; `met` compares `value` with `target` (None when there is no target)."""
    met = None if target is None else (value >= target if higher_is_better else value <= target)
    row = {"bench": bench, "metric": metric, "value": value, "target": target, "met": met, **details}
    print(PREFIX + json.dumps(row, ensure_ascii=False, default=str), flush=True)
    return row


def parse_lines(text: str) -> list[dict]:
    """The `BENCH` rows in a benchmark's output (other lines ignored; a malformed row names its line)."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith(PREFIX):
            try:
                rows.append(json.loads(line[len(PREFIX):]))
            except json.JSONDecodeError as e:
                print(f"warning: line {lineno}: unreadable BENCH row ({e})", file=sys.stderr)
    return rows


def retrieval_dev_sets(max_pairs: int, names: tuple[str, ...] = ("newstest2020_ru_en", "newstest2018_tr_en")
                       ) -> dict[str, tuple[list[str], list[str]]]:
    """`{name: (source sentences, English sentences)}`, the first `max_pairs` of each, from $XLING_DATA.

    The sets are `eval_xtreme.tasks.RETRIEVAL_DEV`'s (no task reads them); the benches' default is its
    two WMT sets, on which the documented choices of scoring and hybrid weight were made."""
    from eval_xtreme.tasks import RETRIEVAL_DEV
    from xling.core.paths import resolve_data_path

    root = resolve_data_path("$XLING_DATA")
    sets = {}
    for name in names:
        spec = RETRIEVAL_DEV.get(name)
        src, trg = spec.load(root, max_pairs)
        sets[spec.description or name] = (src, trg)
    return sets
