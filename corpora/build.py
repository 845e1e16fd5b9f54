"""`xling corpora build RECIPE.yaml`: clean → dedup → decontaminate → mix from one recipe.

Each stage writes its own folder under OUT (`clean/`, `dedup/`, `decontam/`, `mix/`) with its
completion record `stage.json` (`xling.core.stage`) and is skipped when it already finished with
the same config and inputs. A finished stage recorded with a different config is refused naming
the changed keys (`--force` redoes it), never silently reused. A stage that did not finish
resumes from its own markers, so a killed build loses at most the language it was working on;
once a stage has run, every later stage starts over on its new output.

With `clean.executor.kind: slurm` the clean stage is submitted to the cluster and the build stops
there (`StagesPending`, "submitted N jobs; re-run when they finish"); the same command run again
after the jobs ended finds clean complete and continues with dedup → decontaminate → mix on this
machine. `--dry-run` stops after planning the clean stage.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from corpora.clean import CleanConfig, clean_stage, run_clean
from corpora.corpus import parse_input_spec
from corpora.decontam import DecontamConfig, decontaminate_corpus
from corpora.dedup import DedupConfig, dedup_corpus
from corpora.executors import ExecutionResult, StagesPending
from corpora.mix import MixConfig, mix_corpus
from xling.core.config import add_set_option, check_stages, load_config, save_config
from xling.core.errors import InputError
from xling.core.io import read_json, write_text_atomic
from xling.core.paths import resolve_data_path
from xling.core.report import markdown_table
from xling.core.stage import RECORD_FILE, StageError, read_record

log = logging.getLogger(__name__)

STAGES = ("clean", "dedup", "decontaminate", "mix")
STAGE_DIRS = {"clean": "clean", "dedup": "dedup", "decontaminate": "decontam", "mix": "mix"}


@dataclass
class CorpusRecipe:
    """One corpus build. Paths may use `$XLING_DATA/...`."""

    name: str = "corpus"
    out: str = ""  # output folder (the CLI's --out wins)
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    inputs: list[str] = field(default_factory=list)  # corpus folders / LANG=file, when `clean` is not a stage
    clean: CleanConfig = field(default_factory=CleanConfig)  # `clean.out` is set to OUT/clean
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontaminate: DecontamConfig = field(default_factory=DecontamConfig)
    mix: MixConfig = field(default_factory=MixConfig)

    def __post_init__(self) -> None:
        check_stages(self.stages, STAGES)
        if not self.stages:
            raise InputError("stages: nothing to do")
        if "clean" in self.stages and not self.clean.inputs:
            raise InputError("clean.inputs: the clean stage needs input files")
        if "clean" not in self.stages and not self.inputs:
            raise InputError("inputs: without a clean stage, give the corpus to start from")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> CorpusRecipe:
    return load_config(CorpusRecipe, path, overrides)


def resolve_input_specs(specs: list[str]) -> list[str]:
    """Expand `$XLING_DATA` in `path` and `LANG=path` specs."""
    out = []
    for spec in specs:
        lang, path = parse_input_spec(spec)
        p = str(resolve_data_path(path))
        out.append(f"{lang}={p}" if lang else p)
    return out


def build_corpus(recipe: CorpusRecipe, out: str | Path | None = None, progress: bool = True,
                 force: bool = False) -> Path:
    """Run the recipe's stages into `out` (default `recipe.out`); returns the last stage's folder.

    Raises `StagesPending` when the clean stage did not finish in this call (Slurm jobs submitted,
    or a dry run); `report.md` then says so, and the same call once the jobs ended continues.
    Whether a stage is finished is the stage's own answer (`xling.core.stage`); a stage whose
    settings or inputs changed is refused, naming them, unless `force` (which redoes it)."""
    out = Path(out or recipe.out or "")
    if not str(out) or str(out) == ".":
        raise InputError("out: no build folder given (set `out:` in the recipe or pass --out)")
    out.mkdir(parents=True, exist_ok=True)
    save_config(recipe, out / "recipe.yaml")
    current = resolve_input_specs(recipe.inputs) if recipe.inputs else []
    ran: dict[str, str] = {}
    upstream_ran = False  # a stage whose input was (re)written this run starts over instead of resuming
    for stage in recipe.stages:
        folder = out / STAGE_DIRS[stage]
        if stage == "clean":
            config = replace(recipe.clean, inputs=resolve_input_specs(recipe.clean.inputs), out=str(folder))
            if clean_stage(config).is_finished():
                ran[stage] = "skipped (finished)"
            else:
                try:
                    run_clean(config, force=force and clean_stage(config).state() in ("changed", "foreign"))
                except StagesPending as pending:
                    _stop_after_clean(out, recipe, ran, pending)
                ran[stage] = "ran"
            if config.executor.dry_run:
                _stop_after_clean(out, recipe, ran, StagesPending(
                    f"dry run: clean in {folder} is finished; later stages run locally without a dry run",
                    _finished_plan(config)))
        else:
            config = {"dedup": recipe.dedup, "decontaminate": recipe.decontaminate, "mix": recipe.mix}[stage]
            fn = {"dedup": dedup_corpus, "decontaminate": decontaminate_corpus, "mix": mix_corpus}[stage]
            # the stage itself skips when finished with this config and these inputs (its
            # fingerprint holds the upstream record, so a re-run upstream stage changes it)
            before = stage_record(folder)
            try:
                fn(current, folder, config, overwrite=upstream_ran, progress=progress)
            except StageError:  # refused: its settings or inputs changed since it ran
                if not force:
                    raise
                fn(current, folder, config, overwrite=True, progress=progress)
            # Redone on purpose (its input was rewritten) counts as ran even when the new record equals the
            # old one: a fast stage can finish within the record's one-second time stamp.
            same = before is not None and before == stage_record(folder)
            ran[stage] = "skipped (finished)" if same and not upstream_ran else "ran"
        upstream_ran = ran[stage] == "ran"
        log.info("build %s: %s %s", recipe.name, stage, ran[stage])
        current = [str(folder)]
    _write_report(out, recipe, ran)
    return Path(current[0])


def stage_record(folder: Path) -> dict | None:
    return read_record(folder / RECORD_FILE)


def _finished_plan(config: CleanConfig):
    return ExecutionResult(config.executor.kind, True, [])


def _stop_after_clean(out: Path, recipe: CorpusRecipe, ran: dict[str, str], pending: StagesPending) -> None:
    """Record in report.md that the build waits for the clean stage, and stop with a build-level message."""
    result = pending.result
    if "clean" not in ran:
        ran["clean"] = ("dry run (nothing processed)" if result.dry_run else
                        f"submitted {len(result.job_ids)} Slurm job(s): {', '.join(result.job_ids)}")
    for stage in recipe.stages:
        ran.setdefault(stage, "waiting for clean")
    _write_report(out, recipe, ran)
    if result.dry_run:
        message = f"{pending}; {', '.join(s for s in recipe.stages if s != 'clean') or 'nothing'} would follow locally"
    else:
        message = (f"submitted {len(result.job_ids)} Slurm job(s) for the clean stage ({', '.join(result.job_ids)}); "
                   f"re-run the same `xling corpora build` command when they finish to continue with "
                   f"{', '.join(s for s in recipe.stages if s != 'clean') or 'the report'}")
    raise StagesPending(message, result)


def _lang_counts(folder: Path, stage: str) -> dict[str, int]:
    """Documents per language a finished stage kept (wrote, for mix)."""
    stats_file = folder / "stats.json"
    if not stats_file.is_file():
        return {}
    stats = read_json(stats_file)
    if stage == "clean":
        return {k: int(v.get("docs_kept", 0)) for k, v in stats.get("languages", {}).items()
                if isinstance(v, dict) and v.get("docs_kept")}
    key = "docs_written" if stage == "mix" else "kept"
    return {k: int(v[key]) for k, v in stats.get("languages", {}).items()}


def _write_report(out: Path, recipe: CorpusRecipe, ran: dict[str, str]) -> None:
    counts = {s: _lang_counts(out / STAGE_DIRS[s], s) for s in recipe.stages}
    langs = sorted({lang for c in counts.values() for lang in c})
    rows = [[lang, *(counts[s].get(lang, "") for s in recipe.stages)] for lang in langs]
    lines = [f"# Corpus build `{recipe.name}`", "",
             "| stage | folder | this run |", "|---|---|---|",
             *(f"| {s} | [{STAGE_DIRS[s]}/]({STAGE_DIRS[s]}/report.md) | {ran[s]} |" for s in recipe.stages), "",
             "## Documents per language after each stage (mix: documents written, with repeats)", "",
             markdown_table(["lang", *recipe.stages], rows), ""]
    write_text_atomic(out / "report.md", "\n".join(lines))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="clean → dedup → decontaminate → mix from one YAML recipe",
                       description="Run a corpus recipe; finished stages are skipped, unfinished ones resume.")
    p.add_argument("recipe", type=Path, metavar="RECIPE.yaml")
    p.add_argument("--out", type=Path, help="build folder (default: the recipe's `out`)")
    add_set_option(p, "mix.alpha=0.5")
    p.add_argument("--dry-run", action="store_true",
                   help="plan the clean stage on its executor (Slurm: write launch scripts and executor.pik, print "
                        "the sbatch chain) without processing data or submitting; later stages are not run")
    p.add_argument("--force", action="store_true",
                   help="redo the stages whose settings or inputs changed (refused without it, naming the change)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe, [*args.overrides, *(["clean.executor.dry_run=true"] if args.dry_run else [])])
    if args.dry_run and "clean" not in recipe.stages:
        raise InputError("--dry-run plans the clean stage's cluster jobs, and this recipe has no clean stage")
    out = args.out or Path(recipe.out)
    try:
        final = build_corpus(recipe, out, force=args.force)
    except StagesPending as pending:
        print("\n".join(pending.result.summary_lines()))
        print(pending)
        return 0
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"wrote {out}/ (stages: {', '.join(recipe.stages)}); final corpus: {final}")
    return 0
