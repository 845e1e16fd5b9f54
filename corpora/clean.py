"""`xling corpora clean`: raw web text → clean per-language documents, on datatrove executors.

Pipeline (each box is a datatrove step; the lists are plain Python, so the same steps run on
`SlurmPipelineExecutor`/`RayPipelineExecutor`):

    stage 1 (N tasks)  MultiFormatReader → Normalize → IdentifyLanguage → LanguageFilter
                       → QualityFilter → DedupSignatures → RowShardWriter(work/docs)
    stage 2 (1 task)   FindDuplicates                         (skipped with dedup off)
    stage 3 (N tasks)  shard reader(work/docs) → ExactDedupFilter → [Decontaminate] → AtomicJsonlWriter(kept)

Outputs under OUT: `kept/<lang>/<task>.jsonl.gz`, `removed/<step>-<task>.jsonl.gz` (with `reason`),
`stats.json`, `report.md` + `report.png`, `config.yaml`; datatrove logs and completion markers in
`logs/stage{1,2,3}/`. A killed run resumes from the markers when started again with the same command.

`executor` picks where the stages run (`corpora.executors`: local, Slurm, Ray). On Slurm the command
submits the three stages as dependent job arrays and stops (`StagesPending`); the same command run
again after the jobs finished submits nothing and writes stats.json and the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpora.clean_report import collect_stats, summary_lines, write_clean_report
from corpora.corpus import parse_input_spec
from corpora.document import AtomicJsonlWriter, RowShardWriter, Tally, add_count, read_row_shard, row_to_doc
from corpora.exact_dedup import DedupSignatures, ExactDedupFilter, FindDuplicates
from corpora.executors import ExecutorConfig, Stage, StagesPending, run_stages
from corpora.filters import QualityFilter, QualityThresholds
from corpora.hf_datasets import is_saved_dataset
from corpora.lid import LID_BACKENDS, IdentifyLanguage, LanguageFilter
from corpora.lid_supplement import META_FILE
from corpora.normalize import Normalize
from corpora.readers import FORMATS, MultiFormatReader
from xling.core.config import add_set_option, load_config, save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import read_json, read_jsonl, write_json_atomic
from xling.core.locking import output_lock
from xling.core.paths import split_column
from xling.core.procs import no_orphans
from xling.core.stage import Stage as StageContract
from xling.core.stage import StageSpec

_SKIP_NAMES = ("license", "copying", "readme", "notice")


@dataclass
class CleanConfig:
    """Settings of one clean run (saved as `OUT/config.yaml`)."""

    inputs: list[str] = field(default_factory=list)  # files, folders (recursive), LANG=path; file.tsv#N: column N
    out: str = ""
    format: str = "auto"  # auto|warc|wet|cc100|ccnet|jsonl|parquet|hf_dataset|lines|tsv
    text_column: str = "text"  # the text field of jsonl, Parquet and `datasets` inputs
    lid: str = "fasttext"  # a name in corpora.lid.LID_BACKENDS
    lid_languages: list[str] = field(default_factory=list)  # restrict the LID model to these languages
    lid_model: str = ""  # model file for lid: glotlid (default: $XLING_GLOTLID_MODEL, then the Hub cache)
    lid_supplementary: str = ""  # folder from `xling lid train`: decides among its labels (corpora.lid_supplement)
    languages: list[str] = field(default_factory=list)  # keep only these labels (e.g. kaz_Cyrl); empty = all
    min_lang_score: float = 0.5
    lang_score_thresholds: dict[str, float] = field(default_factory=dict)  # per-language override
    lid_max_chars: int = 2000  # LID looks at the first N characters of a document
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    # {lang: {threshold: value}}; a Han or kana character carries a word's worth of text
    quality_by_lang: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "zho_Hani": {"min_chars": 6}, "jpn_Jpan": {"min_chars": 6}, "kor_Hang": {"min_chars": 8}})
    transliterate_uly: bool = False  # inputs given as uig_Latn=path are converted to the Arabic script
    dedup: bool = True
    dedup_min_line_chars: int = 20  # shorter (normalised) lines are never treated as duplicates
    decontaminate_against: list[str] | None = None  # evaluation files; needs corpora.decontam
    decontaminate_ngram: int = 13
    keep_removed: bool = True  # write removed documents to OUT/removed
    tasks: int = 0  # 0: one task per input file (at most 64)
    workers: int = 1
    max_line_bytes: int = 1 << 20
    max_doc_chars: int = 1_000_000
    limit: int = -1  # documents per task, for quick looks
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)  # local (default), slurm or ray

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError(f"format: {self.format!r} is not one of {', '.join(FORMATS)}")
        if not self.text_column:
            raise InputError("text_column: give the name of the column holding the text (default: text)")
        if self.lid not in LID_BACKENDS:
            try:
                LID_BACKENDS.get(self.lid)
            except KeyError as e:  # RegistryError's "did you mean" message, as a config error
                raise InputError(f"lid: {e}") from None
        if self.lid_supplementary and not (Path(self.lid_supplementary) / META_FILE).is_file():
            raise InputError(f"lid_supplementary: {self.lid_supplementary} is not a model folder from "
                             f"`xling lid train` (no {META_FILE})")
        if self.workers < 1:
            raise InputError(f"workers: must be ≥ 1, got {self.workers}")
        scores = {"min_lang_score": self.min_lang_score,
                  **{f"lang_score_thresholds.{k}": v for k, v in self.lang_score_thresholds.items()}}
        for key, value in scores.items():
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{key}: a language-ID score is within [0, 1], got {value}")
        for key in ("lid_max_chars", "max_line_bytes", "max_doc_chars", "decontaminate_ngram"):
            if getattr(self, key) < 1:
                raise InputError(f"{key}: must be ≥ 1, got {getattr(self, key)}")
        if self.tasks < 0 or self.dedup_min_line_chars < 0:
            raise InputError(f"tasks and dedup_min_line_chars must be ≥ 0, got {self.tasks}, "
                             f"{self.dedup_min_line_chars}")
        if self.limit != -1 and self.limit < 1:
            raise InputError(f"limit: must be ≥ 1 (or -1 for no limit), got {self.limit}")


# Settings that may change between a killed run and its resumption without changing the output.
_RUNTIME_ONLY = ("workers", "executor")


def expand_inputs(specs: list[str]) -> tuple[list[str], dict[str, str], dict[str, int]]:
    """Input specs → (sorted unique file list, {file: lang hint}, {file: text column}). A spec is
    `[LANG=]path[#N]`: `#N` reads a tab-separated file's N-th column (1-based) as the text. Folders are
    searched recursively; hidden files and LICENSE/README/COPYING/NOTICE/*.md files are skipped."""
    files: list[str] = []
    hints: dict[str, str] = {}
    columns: dict[str, int] = {}
    for spec in specs:
        lang, path = parse_input_spec(spec)
        path, column = split_column(path)
        url = spec.partition("=")[2] if lang else spec
        if "://" in url:  # Parquet or a `datasets` folder behind fsspec: read as given
            found = [url]
        elif is_saved_dataset(path):  # a `save_to_disk` folder is one input, not its Arrow files
            found = [str(path)]
        elif path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts)
                and not p.name.lower().startswith(_SKIP_NAMES) and not p.name.endswith(".md"))
            if not found:
                raise FileNotFoundError(f"input folder {path} holds no data files")
        elif path.is_file():
            found = [str(path)]
        else:
            raise FileNotFoundError(f"input {spec!r}: {path} does not exist")
        if column and found != [str(path)]:
            raise InputError(f"input {spec!r}: a column (#{column}) names one tab-separated file, not a folder")
        for f in found:
            if f not in hints and f not in files:
                files.append(f)
            if lang:
                hints[f] = lang
            if column:
                columns[f] = column
    return sorted(files), hints, columns


class ShardReader(PipelineStep):
    """Reads back this task's intermediate shard (`folder/<rank>.rows.gz`, `RowShardWriter`); absent =
    no documents. A shard a run of an older version left as `<rank>.jsonl.gz` is read as JSON lines."""

    name = "shard reader"
    type = "📖 - READER"

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = str(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        yield from data or ()
        path = Path(self.folder) / f"{rank:05d}.rows.gz"
        legacy = path.with_name(f"{rank:05d}.jsonl.gz")
        rows = read_row_shard(path) if path.is_file() else read_jsonl(legacy) if legacy.is_file() else ()
        n = 0
        for row in rows:
            n += 1
            yield row_to_doc(row)
        add_count(self, "documents", n)


def _decontaminate_step(config: CleanConfig, removed_writer):
    """`corpora.decontam.Decontaminate`, imported only when asked for (another module owns it)."""
    try:
        from corpora.decontam import Decontaminate
    except ImportError as e:
        raise InputError(f"decontaminate_against is set but corpora.decontam cannot be imported ({e})") from None
    step = Decontaminate(against=list(config.decontaminate_against or []), ngram=config.decontaminate_ngram)
    if removed_writer is not None and hasattr(step, "exclusion_writer") and step.exclusion_writer is None:
        step.exclusion_writer = removed_writer
    return step


def build_pipelines(config: CleanConfig, files: list[str], hints: dict[str, str], tasks: int,
                    columns: dict[str, int] | None = None) -> tuple[list, list | None, list]:
    """The three stage pipelines (lists of datatrove steps) for `config`."""
    out = Path(config.out)
    work = out / "work"

    def removed(step: str):
        return AtomicJsonlWriter(out / "removed", f"{step}-${{rank}}.jsonl.gz") if config.keep_removed else None

    stage1: list = [
        MultiFormatReader(files, config.format, hints, config.max_line_bytes, config.max_doc_chars, config.limit,
                          text_column=config.text_column, columns=columns,
                          progress=config.workers == 1 and config.executor.kind == "local"),
        Normalize(transliterate_uly=config.transliterate_uly),
        IdentifyLanguage(config.lid, config.lid_languages, config.lid_max_chars, config.lid_supplementary or None,
                         config.lid_model or None),
        LanguageFilter(config.languages, config.min_lang_score, config.lang_score_thresholds,
                       exclusion_writer=removed("lid")),
        QualityFilter(config.quality, config.quality_by_lang, exclusion_writer=removed("quality")),
    ]
    if config.dedup:
        stage1.append(DedupSignatures(work / "sig", config.dedup_min_line_chars))
    stage1.append(RowShardWriter(work / "docs", "${rank}.rows.gz", compresslevel=1))  # read back once, in stage 3

    stage2 = [FindDuplicates(work / "sig", work / "dedup", tasks)] if config.dedup else None

    stage3: list = [ShardReader(str(work / "docs"))]
    if config.dedup:
        stage3.append(ExactDedupFilter(work / "dedup", config.quality.min_chars, exclusion_writer=removed("dedup")))
    if config.decontaminate_against:
        stage3.append(Tally("before_decontam"))
        stage3.append(_decontaminate_step(config, removed("decontam")))
    stage3.append(AtomicJsonlWriter(out / "kept", "${lang}/${rank}.jsonl.gz", count_kept=True))
    return stage1, stage2, stage3


CLEAN_OUTPUTS = ("kept", "removed", "work", "logs", "stats.json", "report.md", "config.yaml")


def clean_stage(config: CleanConfig) -> StageContract:
    """The clean stage's contract (`xling.core.stage`): config (with `tasks` resolved as `run_clean`
    does), every input file, the outputs under OUT."""

    files, _, _ = expand_inputs(config.inputs)
    resolved = dataclasses.replace(config, tasks=config.tasks or min(len(files), 64))
    inputs = {f"inputs.{i}": f for i, f in enumerate(files)}
    return StageContract(StageSpec("corpus-clean", Path(config.out), to_dict(resolved), inputs, CLEAN_OUTPUTS,
                                   ignore=(*_RUNTIME_ONLY, "out"), refuse_unrecorded=False))


def run_clean(config: CleanConfig, force: bool = False) -> Path:
    """Run the clean pipeline (see `_run_clean_unlocked`), one run per OUT at a time (`xling.core.locking`)."""
    if not config.out:
        raise InputError("out: no output folder given")
    with output_lock(config.out), no_orphans():  # kill -9 must not leave datatrove's workers running
        return _run_clean_unlocked(config, force)


def _run_clean_unlocked(config: CleanConfig, force: bool = False) -> Path:
    """Run the clean pipeline; returns OUT. Safe to call again after a crash (resumes); finished
    with the same settings and inputs it does nothing; other settings are refused naming them,
    unless `force` (redo from scratch).

    Raises `StagesPending` (with what was submitted or planned) when the stages did not finish in
    this call: a dry run, or Slurm jobs submitted; call again with the same config once they ended.
    """
    if not config.out:
        raise InputError("out: no output folder given")
    if not config.inputs:
        raise InputError("inputs: no input files given")
    # langid/numpy workers must not each start a BLAS thread pool (ENVIRONMENT.md)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = Path(config.out)
    files, hints, columns = expand_inputs(config.inputs)
    if config.executor.kind != "local":
        # cluster tasks may start in another directory: give them absolute paths
        files, hints = [str(Path(f).resolve()) for f in files], {str(Path(f).resolve()): h for f, h in hints.items()}
        columns = {str(Path(f).resolve()): c for f, c in columns.items()}
    tasks = config.tasks or min(len(files), 64)
    config = dataclasses.replace(config, tasks=tasks)
    stage = clean_stage(config)
    if stage.begin(force, write=not config.executor.dry_run) == "finished":
        return out
    out.mkdir(parents=True, exist_ok=True)
    if not config.executor.dry_run:  # a dry run must not tie OUT to settings that may still change
        save_config(config, out / "config.yaml")
        # temporary files of a killed task; its re-run rewrites them from the start
        for sub in ("kept", "removed", "work"):
            for tmp in (out / sub).rglob(".*.tmp-*") if (out / sub).is_dir() else ():
                tmp.unlink(missing_ok=True)

    pipeline_config = config if config.executor.kind == "local" else dataclasses.replace(config, out=str(out.resolve()))
    stage1, stage2, stage3 = build_pipelines(pipeline_config, files, hints, tasks, columns)
    logs = (out if config.executor.kind == "local" else out.resolve()) / "logs"
    stages = [Stage("stage1", "stage 1 (read, normalise, identify, filter)", stage1, tasks, logs / "stage1")]
    if stage2 is not None:
        stages.append(Stage("stage2", "stage 2 (find duplicates)", stage2, 1, logs / "stage2", heavy=True))
    stages.append(Stage("stage3", "stage 3 (deduplicate, write)", stage3, tasks, logs / "stage3"))
    result = run_stages(stages, config.executor, config.workers)
    if not result.finished:
        if result.dry_run:
            message = f"dry run of {out}: nothing was processed"
        else:
            message = (f"submitted {len(result.job_ids)} Slurm job(s) ({', '.join(result.job_ids)}) for {out}; "
                       "run the same command again when they finished to write stats.json and report.md")
        raise StagesPending(message, result)

    stats = collect_stats(logs, decontam=bool(config.decontaminate_against))
    stats["inputs"] = {"files": len(files), "tasks": tasks}
    write_json_atomic(out / "stats.json", stats)
    write_clean_report(out, stats, config)
    if not config.executor.dry_run:
        stage.finish({"languages": sorted(stats.get("languages", {}))})
    return out


# ---------------------------------------------------------------------------------------------
# CLI

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "clean", help="read web text, normalise, identify language+script, filter, deduplicate",
        description="Clean raw web text into OUT/kept/<lang>/*.jsonl.gz with stats.json and report.md.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="files or folders (WARC/WET, CC-100 .txt(.xz/.gz), CCNet/JSONL, Parquet, plain lines, "
                        "TSV: its last column); LANG=path declares a file's language, e.g. uig_Latn=transcripts.txt; "
                        "file.tsv#N reads column N (1-based) of a tab-separated file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--lid", default=None, help="LID backend: fasttext (default), langid or glotlid")
    p.add_argument("--lid-model", default=None, metavar="PATH", help="model file for --lid glotlid")
    p.add_argument("--lid-supplementary", default=None, metavar="DIR",
                   help="a model folder from `xling lid train`; decides among its labels (e.g. uig_Latn)")
    p.add_argument("--lid-languages", nargs="+", default=None, metavar="LANG",
                   help="restrict the LID model to these languages (e.g. kaz uig rus eng; faster with langid)")
    p.add_argument("--workers", type=int, default=None, help="parallel worker processes (default 1)")
    p.add_argument("--tasks", type=int, default=None, help="number of tasks (default: one per input file, ≤64)")
    p.add_argument("--format", default=None, help="input format instead of auto-detection: "
                   "warc, wet, cc100, ccnet, jsonl, parquet, hf_dataset, lines")
    p.add_argument("--text-column", default=None,
                   help="the text field of JSON lines, Parquet and datasets inputs (default: text)")
    p.add_argument("--languages", nargs="+", default=None, metavar="LANG",
                   help="keep only these labels, e.g. kaz_Cyrl uig_Arab")
    p.add_argument("--min-lang-score", type=float, default=None)
    p.add_argument("--transliterate-uly", action="store_true", default=None,
                   help="convert inputs given as uig_Latn=path from Uyghur Latin to Arabic script")
    p.add_argument("--no-dedup", action="store_true", help="skip exact document/line deduplication")
    p.add_argument("--decontaminate-against", nargs="+", default=None, metavar="PATH",
                   help="evaluation files whose n-grams must not appear in kept text")
    p.add_argument("--limit", type=int, default=None, help="documents per task (quick look)")
    p.add_argument("--force", action="store_true",
                   help="redo the run in --out even if it finished or was started with other settings or inputs")
    p.add_argument("--config", default=None, help="YAML file with CleanConfig fields")
    p.add_argument("--dry-run", action="store_true",
                   help="build the executors and write/print what would run (Slurm: launch scripts, executor.pik, "
                        "sbatch commands), without processing data or submitting jobs")
    add_set_option(p, "quality.min_chars=50")
    p.set_defaults(func=_cli)


def config_from_args(args: argparse.Namespace) -> CleanConfig:
    base: dict[str, Any] = {"inputs": list(args.inputs), "out": args.out}
    for key, value in (("lid", args.lid), ("lid_languages", args.lid_languages), ("lid_model", args.lid_model),
                       ("lid_supplementary", args.lid_supplementary), ("workers", args.workers), ("tasks", args.tasks),
                       ("format", args.format), ("text_column", args.text_column), ("languages", args.languages),
                       ("min_lang_score", args.min_lang_score), ("transliterate_uly", args.transliterate_uly),
                       ("decontaminate_against", args.decontaminate_against), ("limit", args.limit)):
        if value is not None:
            base[key] = value
    if args.no_dedup:
        base["dedup"] = False
    # command-line flags win over the YAML file; --set wins over both
    return load_config(CleanConfig, args.config, args.overrides, base)


def _cli(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.dry_run:
        config = dataclasses.replace(config, executor=dataclasses.replace(config.executor, dry_run=True))
    try:
        out = run_clean(config, force=args.force)
    except StagesPending as pending:
        print("\n".join(pending.result.summary_lines()))
        print(pending)
        return 0
    stats = read_json(out / "stats.json")

    print("\n".join(summary_lines(out, stats)))
    return 0
