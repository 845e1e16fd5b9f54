"""`baseline:char-bilstm` beside an evaluation that already ran, without fine-tuning its models again.

    PYTHONPATH=. XLING_DATA=/work/shared/data .venv/bin/python bench/scratch_tagger_baseline.py \\
        --eval runs/long-lr/eval/xling --eval runs/long-lr/eval/mlm-continued --out runs/long-lr/scratch

The tagger with no pretrained model (`eval_xtreme.scratch_tagger`) is trained as `scratch_tagger: true`
would train it inside the evaluation (the first `--eval`'s config: its data root, view and the tagger's
spelling), scored on the same test examples, and paired example by example (bootstrap, 95 %) with each
evaluated model's predictions and with the lookups'. Its prediction records go to `--out` in the
evaluation's layout (`baselines/char-bilstm/predictions/<task>/...`). Prints one markdown table per task.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _records(path: Path) -> list[dict] | None:
    from xling.core.io import read_jsonl

    return list(read_jsonl(path)) if path.is_file() else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", action="append", required=True, help="an evaluation's output folder (repeat)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tasks", default="udpos_turkic_tr,udpos_turkic")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import dataclasses

    import torch

    from eval_xtreme.baselines import (
        MFT,
        MFT_TURKIC,
        SCRATCH,
        SOURCE_DEV,
        baseline_folder,
        baselines_for_task,
        source_dev_baselines,
    )
    from eval_xtreme.runner import EvalConfig, baseline_spelling
    from eval_xtreme.tasks import get_task
    from eval_xtreme.uncertainty import format_ci, format_delta, paired_delta, record_stats, summarize
    from xling.core.config import load_config
    from xling.core.io import write_jsonl_atomic
    from xling.core.report import markdown_table

    torch.set_num_threads(args.threads)
    folders = [Path(e) for e in args.eval]
    cfg = dataclasses.replace(load_config(EvalConfig, folders[0] / "config.yaml"), scratch_tagger=True)
    out = Path(args.out)
    lines: list[str] = []
    for name in args.tasks.split(","):
        task = get_task(name)
        summary = json.loads((folders[0] / "tasks" / f"{name}.json").read_text(encoding="utf-8"))
        spelling = baseline_spelling(cfg, task)
        t0 = time.time()
        recs: dict[str, dict[str, list[dict]]] = {}
        baselines_for_task(task, summary["data"], cfg, recs, spelling)
        dev_recs: dict[str, list[dict]] = {}
        source_dev_baselines(task, cfg, dev_recs, spelling)
        minutes = (time.time() - t0) / 60
        where = baseline_folder(out, SCRATCH) / "predictions" / name
        for lang, rows in recs[SCRATCH].items():
            write_jsonl_atomic(where / f"{lang}.jsonl", rows)
        src = task.train_lang
        write_jsonl_atomic(where / SOURCE_DEV / f"{src}.jsonl", dev_recs[SCRATCH])

        # every system's per-example records: the models', the lookups', the scratch tagger's
        systems: dict[str, dict[str, list[dict]]] = {SCRATCH: {**recs[SCRATCH], f"{src} (dev)": dev_recs[SCRATCH]}}
        lookup = MFT_TURKIC if spelling == "turkic" else MFT
        for base in (MFT, lookup):
            systems[base] = {**recs[base], f"{src} (dev)": dev_recs[base]}
        for folder in folders:
            label = folder.name
            per: dict[str, list[dict]] = {}
            for lang in recs[SCRATCH]:
                got = _records(folder / "predictions" / name / f"{lang}.jsonl")
                if got is not None:
                    per[lang] = got
            dev = _records(folder / "predictions" / name / SOURCE_DEV / f"{src}.jsonl")
            if dev is not None:
                per[f"{src} (dev)"] = dev
            systems[label] = per
        stats = {s: {lg: record_stats(task.metric, lg.split()[0], rows) for lg, rows in per.items()}
                 for s, per in systems.items()}
        langs = list(systems[SCRATCH])
        heads = ["system", *langs, f"mean of {len(langs) - 1} targets"]
        rows = []
        for s, per in stats.items():
            shown = {lg: summarize(per[lg], lg) for lg in langs if per.get(lg)}
            cells = [format_ci(shown[lg]["score"], shown[lg]["ci95"], 2) if lg in shown else "—" for lg in langs]
            targets = [lg for lg in langs if "(dev)" not in lg and per.get(lg)]
            mean = sum(per[lg].score() for lg in targets) / len(targets) if targets else None
            rows.append([s, *cells, f"{mean:.2f}" if mean is not None else "—"])
        for s in [f.name for f in folders] + [lookup]:
            a = {lg: x for lg, x in stats[s].items() if "(dev)" not in lg and x}
            b = {lg: x for lg, x in stats[SCRATCH].items() if "(dev)" not in lg}
            d = paired_delta(a, b, name)
            dev_d = paired_delta({"dev": stats[s][f"{src} (dev)"]}, {"dev": stats[SCRATCH][f"{src} (dev)"]}, name) \
                if stats[s].get(f"{src} (dev)") else None
            cells = [format_delta(d["languages"].get(lg), 2) if "(dev)" not in lg
                     else (format_delta(dev_d["languages"]["dev"], 2) if dev_d else "—") for lg in langs]
            rows.append([f"{s} − {SCRATCH}", *cells, format_delta(d["mean"], 2)])
        lines += [f"## {name} (source {src}; words as `{lookup}` reads them; trained in {minutes:.1f} min)", "",
                  markdown_table(heads, rows), ""]
        print("\n".join(lines[-4:]), flush=True)
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
