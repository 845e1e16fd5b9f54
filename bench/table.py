"""`make bench`: run the speed benchmarks and print one table of every ratio they measure.

    PYTHONPATH=. XLING_DATA=/work/shared/data .venv/bin/python bench/table.py [--only corpora_throughput ...]
    .venv/bin/python bench/table.py --from-logs runs/bench      # the table again, from the saved logs

Each benchmark runs as its own process under `nice -n 15` (the machine is shared; ratios are taken
within one benchmark run, against a baseline measured in that same run) and prints `BENCH {...}`
lines (`bench/benchlib.py`); its whole output is kept as `LOGS/<name>.log`. The table gives each
ratio, its target, whether it is met, the peak RSS and the load average while it ran, under a
header naming the commit and the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from benchlib import conditions, parse_lines

REPO = Path(__file__).resolve().parents[1]

# name → extra arguments: every benchmark that measures a speed ratio, sized to run in minutes on 2 cores
BENCHES: dict[str, list[str]] = {
    "corpora_throughput": ["--lids", "fasttext", "--no-accuracy"],
    "pretrain_throughput": ["--vocab-size", "8000"],
    "vocab_encode_throughput": [],
    "near_dedup_throughput": [],
    "eval_tasks": [],
    "eval_throughput": [],
    "pretrain_profile": ["--steps", "2"],
    "matmul_peak": [],
}


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_bench(name: str, extra: list[str], logs: Path) -> tuple[int, str]:
    cmd = ["nice", "-n", "15", sys.executable, str(REPO / "bench" / f"{name}.py"), *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(f"== {name}: {' '.join(cmd[3:])}", flush=True)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    out = proc.stdout + ("\n" + proc.stderr if proc.stderr else "")
    (logs / f"{name}.log").write_text(out, encoding="utf-8")
    return proc.returncode, proc.stdout


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table(rows: list[dict]) -> str:
    head = ["benchmark", "ratio", "value", "target", "met", "peak RSS MB", "load (1 min)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r["bench"], r["metric"], fmt(r["value"]), fmt(r.get("target")),
                                        fmt(r.get("met")), fmt(r.get("peak_rss_mb")), fmt(r.get("load_1min"))])
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these benchmarks")
    ap.add_argument("--logs", default=str(REPO / "runs" / "bench"), help="folder for each benchmark's output")
    ap.add_argument("--from-logs", metavar="DIR", help="do not run anything: build the table from DIR/*.log")
    args = ap.parse_args(argv)

    rows: list[dict] = []
    failed: list[str] = []
    if args.from_logs:
        for log in sorted(Path(args.from_logs).glob("*.log")):
            rows += parse_lines(log.read_text(encoding="utf-8"))
    else:
        logs = Path(args.logs)
        logs.mkdir(parents=True, exist_ok=True)
        for name in args.only or BENCHES:
            rc, out = run_bench(name, BENCHES[name], logs)
            found = parse_lines(out)
            rows += found
            if rc or not found:
                failed.append(f"{name} (exit {rc}{', no BENCH line' if not found else ''}; see {logs / name}.log)")
    c = conditions()
    print(f"\nxling commit {git_commit()}; {c['cpu']}, {c['cores']} cores; load now {c['load_1min']}")
    print(table(rows))
    for f in failed:
        print(f"FAILED: {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
