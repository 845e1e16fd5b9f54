"""CPU cost of `report_to: [tensorboard]` against `metrics.jsonl` alone, measured in the same run.

Sends `--rows` metric rows shaped like the demo's pretraining rows (loss, lr, grad norm, tokens,
per-language sampled tokens and repeats: 18 scalars) through `xling.core.train_loop.MetricsLog`, once
per setting, and counts CPU time (`time.process_time`: a busy shared machine does not inflate it).

    .venv/bin/python bench/tracking_cost.py [--rows 300] [--report-to tensorboard]

Prints one line per setting (set-up CPU, CPU per row, disk) and the per-row ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from xling.core.train_loop import MetricsLog

LANGS = ("kaz_Cyrl", "uig_Arab", "rus_Cyrl", "tur_Latn", "eng_Latn")
ROW = {"loss": 7.1, "lr": 1e-3, "grad_norm": 1.2, "tokens_seen": 123456, "tokens_per_s": 400.0, "loss_mlm": 7.1,
       "mlm_acc": 0.1, "sampled_tokens": dict.fromkeys(LANGS, 1000), "repeats": dict.fromkeys(LANGS, 0.1)}


def measure(out: Path, report_to: list[str], rows: int) -> tuple[float, float, int]:
    """(set-up CPU seconds, CPU ms per row, bytes written)."""
    c0 = time.process_time()
    log = MetricsLog(out, 0, report_to=report_to)
    c1 = time.process_time()
    for step in range(1, rows + 1):
        log.write({"step": step, **ROW})
    log.close()
    c2 = time.process_time()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return c1 - c0, (c2 - c1) / rows * 1000, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--report-to", nargs="+", default=["tensorboard"], help="trackers to compare with none")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = measure(Path(tmp) / "none", [], args.rows)
        tracked = measure(Path(tmp) / "tracked", args.report_to, args.rows)
    for name, (setup, per_row, size) in (("metrics.jsonl only", base), (f"+ {', '.join(args.report_to)}", tracked)):
        print(f"{name:<24} set-up {setup:.3f} s CPU, {per_row:.3f} ms CPU per row, {size / 1024:.0f} KB "
              f"for {args.rows} rows")
    print(f"per-row CPU ratio (tracked / metrics.jsonl only): {tracked[1] / max(base[1], 1e-9):.1f}×")


if __name__ == "__main__":
    main()
