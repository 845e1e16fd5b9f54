"""`xling eval`: run (zero-shot evaluation), ls (the task registry), submit and validate (leaderboard files)."""

from __future__ import annotations

import argparse

from eval_xtreme import submission
from xling.core.config import add_set_option, load_config
from xling.core.errors import InputError
from xling.core.paths import resolve_data_path

from .metrics import primary_score
from .tasks import TASKS, TURKIC_SUITE, get_task


def register(subparsers) -> None:
    group_parser = subparsers.add_parser("eval", help="XTREME and Uyghur/Kazakh evaluation",
                                         description="Zero-shot evaluation on XTREME and our Uyghur/Kazakh suite.")
    group = group_parser.add_subparsers(dest="eval_command", required=True, metavar="SUBCOMMAND")

    run = group.add_parser("run", help="fine-tune on English, test every language; retrieval without fine-tuning",
                           description="Writes OUT/results.json, OUT/predictions/<task>/<lang>.jsonl, "
                           "OUT/report.md and OUT/charts/*.png. Re-running resumes.")
    run.add_argument("--config", help="YAML recipe (an EvalConfig, e.g. recipes/eval-turkic-cpu.yaml)")
    run.add_argument("--model", help="model folder or name (from_pretrained)")
    run.add_argument("--tasks", help="comma-separated task specs: name or name:l1+l2 (see `xling eval ls`)")
    run.add_argument("--out", help="output folder")
    run.add_argument("--task-file", help="YAML defining your own retrieval/tagging tasks (see eval_xtreme/user_tasks.py)")
    run.add_argument("--languages", help="comma-separated languages to keep in every task")
    run.add_argument("--data-root", help="data root (default: $XLING_DATA, else ../shared/data)")
    run.add_argument("--max-train", type=int, help="subsample the English training set to N examples")
    run.add_argument("--max-steps", type=int, help="stop fine-tuning after N steps")
    run.add_argument("--max-eval", type=int, help="first N test examples per language")
    run.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    run.add_argument("--strict", action="store_true", help="a language without test data is an error")
    run.add_argument("--no-fixtures", action="store_true",
                     help="never use the official-layout format fixtures (the default)")
    run.add_argument("--allow-fixtures", action="store_true",
                     help="let format fixtures stand in for missing data (plumbing checks: not comparable, "
                     "never aggregated)")
    run.add_argument("--seeds", help="comma-separated fine-tuning seeds: one run each, mean ± std reported")
    run.add_argument("--force", action="store_true",
                     help="redo tasks that finished or started with other settings (refused without it)")
    add_set_option(run, "finetune.learning_rate=3e-5")
    run.set_defaults(func=_cmd_run)

    ls = group.add_parser("ls", help="list tasks: kind, metric, languages, and which data is present")
    ls.add_argument("--suite", choices=("all", "xtreme", "turkic"), default="all")
    ls.add_argument("--check", action="store_true", help="resolve every test file under the data root")
    ls.add_argument("--data-root", help="data root (default: $XLING_DATA, else ../shared/data)")
    ls.set_defaults(func=_cmd_ls)

    submission.register(group)


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import EvalConfig, not_comparable_lines, run_eval  # loads torch: not for ls/submit/validate

    def items(s: str | None) -> list[str] | None:
        return [x.strip() for x in s.split(",") if x.strip()] if s else None

    if args.no_fixtures and args.allow_fixtures:
        raise InputError("--no-fixtures and --allow-fixtures contradict each other")
    flags = {"model": args.model, "out": args.out, "data_root": args.data_root,
             "finetune.max_train_examples": args.max_train, "finetune.max_steps": args.max_steps,
             "max_eval_examples": args.max_eval, "threads": args.threads, "tasks": items(args.tasks),
             "languages": items(args.languages), "strict": True if args.strict else None,
             "allow_fixtures": False if args.no_fixtures else True if args.allow_fixtures else None,
             "seeds": [int(s) for s in items(args.seeds)] if args.seeds else None,
             "task_file": args.task_file}
    if args.task_file and not args.tasks and not args.config:
        flags["tasks"] = []  # only the file's tasks, not the default task list
    cfg = load_config(EvalConfig, args.config, args.overrides, flags)
    results = run_eval(cfg, force=args.force)
    out = cfg.out
    print(f"wrote {out}/results.json, {out}/report.md, {out}/predictions/, {out}/charts/")

    nc = results.get("not_comparable") or {}
    for task, per in results["tasks"].items():
        det = results["details"][task]
        bad = nc.get(task, {})
        marked = set(per) if bad.get("task") else set(bad.get("languages", {}))
        ivs = results.get("intervals", {}).get("tasks", {}).get(task, {}).get("languages", {})
        shown = ", ".join(f"{lg}={_primary(task, s):.1f}"
                          + (" [{:.1f}, {:.1f}]".format(*ivs[lg]["ci95"]) if lg in ivs else "")
                          + ("*" if lg in marked else "") for lg, s in per.items())
        print(f"  {task:16s} {shown or '(no gold labels: predictions only)'}")
        for base, per_task in (results.get("baselines") or {}).items():
            if per_task.get(task):
                print(f"  {'':16s} {base}: " + ", ".join(f"{lg}={_primary(task, s):.1f}"
                                                        for lg, s in per_task[task].items()))
        if det.get("skipped"):
            print(f"  {'':16s} skipped (no test data): {', '.join(det['skipped'])}")
    agg = results.get("aggregate")
    if agg:
        overall = agg.get("overall")
        per_task = ", ".join(f"{t}={v['avg_metric']:.1f}" + (" [{:.1f}, {:.1f}]".format(*v["ci95"])
                                                              if v.get("ci95") else "")
                             for t, v in agg["tasks"].items())
        shown_overall = (f"{overall:.2f}" + (" [{:.2f}, {:.2f}]".format(*agg["overall_ci95"])
                                             if agg.get("overall_ci95") else "")
                         if overall is not None else "n/a (needs all nine tasks)")
        print(f"  XTREME aggregate: {per_task}; overall {shown_overall}")
    for line in not_comparable_lines(results):
        print(f"  * {line}")
    print("  ([lo, hi] = 95% bootstrap interval; * = not comparable, kept out of every aggregate)")
    return 0


def _primary(task: str, scores: dict) -> float:
    return primary_score(get_task(task).metric, scores)


def _cmd_ls(args: argparse.Namespace) -> int:
    root = resolve_data_path(args.data_root) if args.data_root else None
    rows = []
    for name, task in TASKS.items():
        if (args.suite == "xtreme" and not task.xtreme) or (args.suite == "turkic" and name not in TURKIC_SUITE):
            continue
        line = f"{name:16s} {task.kind:22s} {task.metric:20s} {len(task.languages):3d}  {','.join(task.languages)}"
        if args.check:
            real = fixture = 0
            missing = []
            for lang in task.languages:
                try:
                    df = task.resolve("test", lang, root)
                except FileNotFoundError:
                    missing.append(lang)
                    continue
                fixture += df.fixture
                real += not df.fixture
            line += f"\n{'':16s} test data: {real} real, {fixture} fixture, {len(missing)} missing" + \
                (f" ({','.join(missing)})" if missing else "")
        rows.append(line)
    print(f"{'task':16s} {'kind':22s} {'metric':20s} {'#':>3s}  languages")
    print("\n".join(rows))
    print(f"{len(rows)} tasks. Run one: xling eval run --model DIR --tasks NAME[:l1+l2] --out OUT")
    return 0
