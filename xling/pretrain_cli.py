"""`xling pretrain CONFIG.yaml --out OUT [--set key=value ...]` (also under `torchrun --nproc_per_node=N`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from xling.core.config import ConfigError, add_set_option
from xling.core.io import write_json_atomic
from xling.core.stage import add_allow_partial_option


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretrain", help="pretrain an XLM-R style encoder (MLM + pluggable objectives); re-run to resume",
        description="Train an XLM-R encoder from a YAML recipe. Running the same command again resumes from the "
                    "latest checkpoint in OUT/checkpoints. Works under `torchrun --nproc_per_node=N` (DDP).")
    p.add_argument("config", help="recipe YAML, e.g. recipes/pretrain-debug.yaml")
    p.add_argument("--out", required=True, help="output folder (checkpoints, metrics.jsonl, report.md, final/)")
    add_set_option(p, "train.max_steps=50")
    p.add_argument("--force", action="store_true",
                   help="redo the run in --out even if it finished or was started with other settings "
                        "(its checkpoints, final/ and metrics are deleted first)")
    add_allow_partial_option(p, "data.corpus folders and parallel source files")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the config and print the plan (parameters, batch split, tokens, memory per process) "
                        "without reading data or allocating the model; writes only OUT/dry_run.json")
    p.add_argument("--nproc", type=int, default=None,
                   help="processes (GPUs) to plan for with --dry-run (default: $WORLD_SIZE or 1)")
    p.add_argument("--vocab-size", type=int, default=None,
                   help="--dry-run: vocabulary size when neither the tokenizer nor model.init_from exists here "
                        "(default: XLM-R's 250,002)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xling.pretrain import load_pretrain_config, pretrain

    cfg = load_pretrain_config(args.config, args.overrides)  # fails on bad keys before any work
    if getattr(args, "dry_run", False):
        return _dry_run(cfg, args)
    pretrain(cfg, args.out, force=getattr(args, "force", False), allow_partial=getattr(args, "allow_partial", False))
    return 0


def _dry_run(cfg, args: argparse.Namespace) -> int:
    from xling.pretrain import plan_lines, plan_pretrain

    nproc = args.nproc if args.nproc is not None else int(os.environ.get("WORLD_SIZE", "1"))
    plan = plan_pretrain(cfg, nproc=nproc, vocab_size=args.vocab_size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "dry_run.json", plan)
    print("\n".join(plan_lines(plan)))
    print(f"dry run: nothing trained; wrote {out / 'dry_run.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m xling.pretrain_cli CONFIG --out OUT` (what `torchrun -m` launches per process)."""
    parser = argparse.ArgumentParser(prog="xling")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pretrain", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")

    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"xling: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
