"""`run_eval(config)`: the zero-shot protocol over a list of tasks, with results, predictions and a report.

Outputs under `OUT/`:

- `results.json` — `{"config", "model", "tasks": {task: {lang: {metric: value}}}, "aggregate",
  "suite_aggregate", "not_comparable", "announced", "intervals", "seeds", "details", "versions"}`.
  `aggregate` is the XTREME leaderboard computation over the XTREME tasks run, from comparable
  scores only: a score whose training, dev or test data is not the benchmark's own split (fixture,
  substitute, dev-as-test, test-as-dev, training data overlapping the test set) is listed under
  `not_comparable` with its reasons instead (`announced`: the reasons known before the run started).
  `intervals` holds a 95% bootstrap interval for every per-language score, task mean and aggregate
  score (`eval_xtreme.uncertainty`); `seeds` the per-seed scores with mean ± std when `seeds` lists
  several fine-tuning seeds; `details` names every data file used and the fine-tuning summary.
- `predictions/<task>/<lang>.jsonl` — one record per test example in test-set order:
  `{"id", "prediction", "gold"?}` (what `xling eval submit` converts into the leaderboard layout);
  with several `seeds`, these are the first seed's and `predictions/<task>/seed-<s>/` the others'.
- `config.yaml`, `report.md`, `charts/<task>.png` (per-language bar chart).
- `finetune/<task>/` — resumable fine-tuning runs; `tasks/<task>.json` holds a finished task's
  summary and `tasks/<task>.stage.json` its completion record (`xling.core.stage`), so re-running
  the same command skips finished tasks, resumes an interrupted fine-tuning run, and refuses a task
  whose settings changed (naming them) unless `--force`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.config import ConfigError, save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import read_json, write_json_atomic, write_jsonl_atomic, write_text_atomic
from xling.core.locking import output_lock
from xling.core.paths import data_root, resolve_data_path
from xling.core.report import bar_chart, markdown_table
from xling.core.stage import Stage, StageSpec
from xling.core.versions import versions
from xling.translit import active_view, check_view_languages, view_function

from .baselines import (
    HYBRID,
    SCORED_PREFIX,
    SOURCE_DEV,
    baseline_folder,
    baselines_for_task,
    hybrid_scores,
    report_lines,
    source_dev_baselines,
)
from .finetune import (
    AVERAGED,
    FinetuneConfig,
    FinetuneResult,
    finetune,
    load_model,
    predict,
    recorded_settings,
    score,
    training_examples,
    without_self_training,
)
from .loaders import LOADERS, load_split
from .metrics import bucc_prf, leaderboard_aggregate, primary_score
from .retrieval import (
    Encoder,
    RetrievalConfig,
    bucc_candidates,
    choose_layer,
    embedding_search,
    encoded_similarities,
    matrix_search,
    retrieval_records,
    retrieval_scores,
    select_pairs,
    tune_threshold,
)
from .self_training import OverlapIndex, most_confident, read_pool
from .tasks import HELDOUT, RETRIEVAL_DEV, TASKS, Task, parse_task_spec, task_groups
from .uncertainty import bucc_stats, format_ci, interval, mean_replicates, record_stats, summarize
from .user_tasks import TaskFileError, load_task_file
from .views import apply_view

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    model: str = ""  # any from_pretrained folder or name
    tasks: list[str] = field(default_factory=lambda: ["tatoeba_turkic"])  # "name" or "name:l1+l2"
    out: str = "runs/eval"
    languages: list[str] = field(default_factory=list)  # keep only these languages in every task
    data_root: str = ""  # default: $XLING_DATA, else ../shared/data
    allow_fixtures: bool = False  # official-layout format fixtures may stand in (plumbing checks; never aggregated)
    strict: bool = False  # a language without test data is an error (default: skipped and listed)
    max_eval_examples: int = 0  # > 0: first N test examples per language (CPU runs)
    threads: int = 0  # > 0: torch intra-op threads (1 is much faster on a busy shared CPU)
    # Fine-tune once per seed and report mean ± std; the first seed's model gives `tasks` and the
    # predictions (what a submission holds). Empty: one run with finetune.seed.
    seeds: list[int] = field(default_factory=list)
    bootstrap_resamples: int = 1000  # resamples per 95% interval (0: no intervals)
    no_model_baselines: bool = True  # also score the no-model baselines (eval_xtreme/baselines.py) on the same data
    # Tagging: also train `baseline:char-bilstm`, a tagger with no pretrained model (eval_xtreme/scratch_tagger.py),
    # on the same fine-tuning data (≈ 3 min per source on 2 cores); read with the other baselines.
    scratch_tagger: bool = False
    view: list[str] = field(default_factory=list)  # languages read through their Latin view (xling.translit)
    task_file: str = ""  # YAML of the user's own tasks (eval_xtreme/user_tasks.py), run after `tasks`
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    # Per-task changes to `finetune`, e.g. {udpos_turkic: {max_steps: 600}}: tasks differ in how
    # long their heads need (XTREME's own scripts set epochs and learning rates per task).
    task_finetune: dict[str, dict[str, Any]] = field(default_factory=dict)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)

    def __post_init__(self) -> None:
        if not self.tasks and not self.task_file:
            raise ConfigError("tasks: name at least one task (see `xling eval ls`) or give a task_file")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: {self.seeds} repeats a seed")
        if self.bootstrap_resamples < 0:
            raise ConfigError("bootstrap_resamples: must be >= 0")
        known = {f.name for f in dataclasses.fields(FinetuneConfig)}
        for name, changes in self.task_finetune.items():
            if name not in TASKS and not self.task_file:  # a task file's tasks register when it is read
                raise ConfigError(f"task_finetune.{name}: not a registered task (see `xling eval ls`)")
            if not isinstance(changes, dict):
                raise ConfigError(f"task_finetune.{name}: expected a mapping of finetune fields, got {changes!r}")
            for key in changes:
                if key not in known:
                    raise ConfigError(f"task_finetune.{name}.{key}: not a finetune field ({', '.join(sorted(known))})")
            try:
                finetune_config(self, name)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"task_finetune.{name}: {e}") from None
        if self.view:
            try:
                check_view_languages(self.view, "view")
            except ValueError as e:
                raise ConfigError(str(e)) from None


def finetune_config(cfg: EvalConfig, task: str) -> FinetuneConfig:
    """`cfg.finetune` with the task's `task_finetune` changes, each cast to the field's type."""
    changes = cfg.task_finetune.get(task)
    if not changes:
        return cfg.finetune
    # an optional field unset in `finetune` (None) takes the change as a number
    types = {f.name: type(getattr(cfg.finetune, f.name)) for f in dataclasses.fields(FinetuneConfig)}
    return dataclasses.replace(cfg.finetune, **{
        k: v if v is None else (float(v) if types[k] is type(None) else types[k](v)) for k, v in changes.items()})


def baseline_spelling(cfg: EvalConfig, task: Task) -> str:
    """The spelling the tagging baselines read words in: the task's tagger's ending features' (Turkic
    adds `baseline:mft-turkic`), "native" for every other task or a tagger without them."""
    ft = finetune_config(cfg, task.name)
    return ft.suffix_spelling if ft.suffix_features and task.kind == "token_classification" else "native"


def eval_data_root(cfg: EvalConfig) -> Path | None:
    """The data root the tasks resolve their files under (None: the default data root)."""
    return resolve_data_path(cfg.data_root) if cfg.data_root else None


def plan(cfg: EvalConfig) -> list[tuple[Task, tuple[str, ...], bool]]:
    """(task, languages, explicit) for every task spec; languages filtered by `cfg.languages`."""
    out = []
    specs = list(cfg.tasks)
    if cfg.task_file:
        try:
            specs += [t.name for t in load_task_file(cfg.task_file) if t.name not in specs]
        except TaskFileError as e:
            raise ConfigError(str(e)) from None
    for spec in specs:
        task, langs = parse_task_spec(spec)
        explicit = ":" in spec
        if cfg.languages:
            langs = tuple(lg for lg in langs if lg in cfg.languages)
            explicit = True
        if not langs:
            raise InputError(f"task {task.name}: none of its languages ({', '.join(task.languages)}) is in "
                             f"languages={cfg.languages}")
        out.append((task, langs, explicit))
    return out


def eval_task_stage(cfg: EvalConfig, task: Task, langs: tuple[str, ...], out: Path) -> Stage:
    """One evaluation task's stage contract (`xling.core.stage`); its record is `tasks/<task>.stage.json`."""
    config = {"task": task.name, "model": cfg.model, "languages": list(langs), "settings": _settings(cfg, task)}
    inputs = {"model": cfg.model if Path(cfg.model).exists() else None}
    outputs = (f"tasks/{task.name}.json", f"finetune/{task.name}", f"predictions/{task.name}")
    # report_to only says where fine-tuning curves are also sent; a finished task stays finished
    return Stage(StageSpec("eval-task", out, config, inputs, outputs, record=f"tasks/{task.name}.stage.json",
                           ignore=("settings.report_to",)))


def eval_finished(cfg: EvalConfig) -> bool:
    """Every task of `cfg` finished with these settings (what `xling run` asks before skipping)."""
    out = Path(cfg.out)
    return (out / "results.json").is_file() and all(eval_task_stage(cfg, task, langs, out).is_finished()
                                                    for task, langs, _ in plan(cfg))


def run_eval(cfg: EvalConfig, force: bool = False, keep_unchanged: bool = False) -> dict[str, Any]:
    """Evaluate `cfg.model` on `cfg.tasks` into `cfg.out` (see `_run_eval_unlocked`), one run per
    folder at a time (`xling.core.locking`). `force` redoes every task; with `keep_unchanged` only those
    whose settings changed (`xling run --force` after a recipe's fine-tuning settings of one task
    changed: the other tasks' finished results stay)."""
    if not cfg.out:
        raise ConfigError("out: no output folder given (--out)")
    with output_lock(cfg.out):
        return _run_eval_unlocked(cfg, force, keep_unchanged)


def _run_eval_unlocked(cfg: EvalConfig, force: bool = False, keep_unchanged: bool = False) -> dict[str, Any]:
    if not cfg.model:
        raise ConfigError("model: give a from_pretrained model folder or name (--model)")
    if cfg.threads > 0:
        import torch

        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    jobs = plan(cfg)
    for task, _, _ in jobs:
        if cfg.max_eval_examples > 0 and task.name.startswith("bucc"):
            # Mining margins and the tuned threshold depend on the whole corpus: a subset is another task.
            raise ConfigError(f"max_eval_examples={cfg.max_eval_examples}: {task.name} mines the whole corpus and "
                              "cannot be cut to its first examples; drop --max-eval or the task")
    announced = announce(cfg, jobs)
    if cfg.retrieval.layer_candidates:
        check_dev_disjoint(cfg, jobs)  # before any task runs, not when the first retrieval task does
    encoder = None
    done_dir = out / "tasks"
    for task, langs, explicit in jobs:
        marker = done_dir / f"{task.name}.json"
        settings = _settings(cfg, task)
        stage = eval_task_stage(cfg, task, langs, out)
        # finished with these settings: skip; other settings: refused naming them (unless force)
        redo = force and not (keep_unchanged and stage.state() == "finished")
        if stage.begin(redo) == "finished":
            log.info("%s: already evaluated (%s), skipping", task.name, marker)
            continue
        t0 = time.time()
        if task.kind == "retrieval":
            if encoder is None:
                encoder = retrieval_encoder(cfg, jobs, out)
            summary = _run_retrieval(task, langs, explicit, cfg, encoder, out)
        else:
            summary = _run_finetuned(task, langs, explicit, cfg, out)
        if not summary["data"]:
            first = next(iter(summary["skipped"].values()), "")
            raise FileNotFoundError(f"task {task.name}: no test data for any of {', '.join(langs)}. {first}")
        if cfg.no_model_baselines:
            recs: dict[str, dict[str, list[dict]]] = {}
            spelling = baseline_spelling(cfg, task)
            summary["baselines"] = {**baselines_for_task(task, summary["data"], cfg, recs, spelling),
                                    **summary.get("baselines", {})}
            for name, per_lang in recs.items():
                for lang, rows in per_lang.items():
                    write_jsonl_atomic(baseline_folder(out, name) / "predictions" / task.name / f"{lang}.jsonl", rows)
            source_dev = (summary.get("finetune") or {}).get("source_dev")
            if source_dev:
                dev_recs: dict[str, list[dict]] = {}
                lang = source_dev["lang"]
                got = source_dev_baselines(task, cfg, dev_recs, spelling)
                source_dev["baselines"] = {}
                for name, s in got.items():
                    write_jsonl_atomic(baseline_folder(out, name) / "predictions" / task.name / SOURCE_DEV
                                       / f"{lang}.jsonl", dev_recs[name])
                    source_dev["baselines"][name] = _scored(cfg, task, lang, dev_recs[name], s)
        summary.update({"model": cfg.model, "languages": list(langs), "settings": settings,
                        "seconds": round(time.time() - t0, 2)})
        write_json_atomic(marker, summary)
        stage.finish({"summary": f"tasks/{task.name}.json"})
    results = collect_results(cfg, out, [t.name for t, _, _ in jobs], announced)
    write_json_atomic(out / "results.json", results)
    write_report(results, out)
    return results


LAYER_CHOICE = "retrieval_layer.json"


def check_dev_disjoint(cfg: EvalConfig, jobs: list[tuple[Task, tuple[str, ...], bool]]) -> None:
    """Refuse a run whose layer-choice dev sets are missing, or whose retrieval tasks would read, as test
    data, lines of one."""
    root = eval_data_root(cfg)
    base = root if root is not None else data_root()
    for name in cfg.retrieval.layer_dev_sets:
        dev = RETRIEVAL_DEV.get(name)
        for rel in (dev.source, dev.english):
            if not (base / rel).is_file():
                raise FileNotFoundError(f"retrieval.layer_dev_sets: {name} needs {base / rel}, which is missing; "
                                        "leave the set out of layer_dev_sets or point data_root at a root that has it")
        dev_path = (base / dev.source).resolve()
        for task, langs, _ in jobs:
            if task.kind != "retrieval" or "test" not in task.files:
                continue
            for lang in langs:
                try:
                    df = task.resolve("test", lang, root, cfg.allow_fixtures)
                except FileNotFoundError:
                    continue
                if dev_path not in {p.resolve() for p in df.paths}:
                    continue
                if not 0 < cfg.max_eval_examples <= dev.start:
                    raise ConfigError(
                        f"retrieval.layer_dev_sets: {name} is lines {dev.start + 1} on of {dev_path}, and task "
                        f"{task.name}/{lang} reads that file as its test split "
                        f"({'all of it' if cfg.max_eval_examples <= 0 else f'{cfg.max_eval_examples} lines'}); "
                        f"set max_eval_examples to at most {dev.start} or leave {name} out of layer_dev_sets")


def retrieval_encoder(cfg: EvalConfig, jobs: list[tuple[Task, tuple[str, ...], bool]], out: Path) -> Encoder:
    """The encoder every retrieval task of this evaluation reads: at `retrieval.layer`, or at the layer
    `retrieval.layer_candidates` wins on the dev sets for this model (the choice, with every candidate's
    dev scores, written to OUT/retrieval_layer.json)."""
    rc = cfg.retrieval
    if not rc.layer_candidates:
        return Encoder(cfg.model, rc.layer, rc.max_length, rc.batch_size)
    root = eval_data_root(cfg)
    base = root if root is not None else data_root()
    dev: dict[str, tuple[list[str], list[str]]] = {}
    for name in rc.layer_dev_sets:
        spec = RETRIEVAL_DEV.get(name)
        src, english = spec.load(base, rc.layer_dev_pairs)
        if active_view(spec.lang, cfg.view):  # the model reads the language as its pretraining did
            src = [view_function(spec.lang)(t) for t in src]
        dev[name] = (src, english)
    log.info("choosing the retrieval layer of %s among %s on %s", cfg.model, rc.layer_candidates, ", ".join(dev))
    choice = choose_layer(Encoder(cfg.model, -1, rc.max_length, rc.batch_size), rc.layer_candidates, dev, rc)
    write_json_atomic(out / LAYER_CHOICE, {"model": cfg.model, "view": list(cfg.view), **choice})
    log.info("retrieval layer %d chosen on dev for %s", choice["chosen"], cfg.model)
    # loaded again rather than kept from the search: one model in memory at a time, whatever its size
    return Encoder(cfg.model, choice["chosen"], rc.max_length, rc.batch_size)


def _settings(cfg: EvalConfig, task: Task) -> dict:
    """What a finished task's numbers depend on (besides model and languages)."""
    if task.kind == "retrieval":
        part = to_dict(cfg.retrieval)
        # Settings at their "off" value are recorded as before they existed, so finished tasks stay finished.
        for key, off in (("hybrid", 0.0), ("scoring", "cosine"), ("hubness", "none"), ("also_scoring", "")):
            if part.get(key) == off:
                part.pop(key, None)
        if not part.get("layer_candidates"):
            for key in ("layer_candidates", "layer_dev_sets", "layer_dev_pairs"):
                part.pop(key, None)
    else:
        part = recorded_settings(finetune_config(cfg, task.name))
    return {"data_root": cfg.data_root, "allow_fixtures": cfg.allow_fixtures, "max_eval_examples": cfg.max_eval_examples,
            "bootstrap_resamples": cfg.bootstrap_resamples,
            "no_model_baselines": cfg.no_model_baselines, "view": list(cfg.view),
            **({"seeds": cfg.seeds} if cfg.seeds and task.needs_finetuning else {}),
            **({"scratch_tagger": True} if cfg.scratch_tagger and cfg.no_model_baselines
               and task.kind == "token_classification" else {}), **part}


# ---------------------------------------------------------------------------------------------------
# Comparability: which scores may enter an aggregate
# ---------------------------------------------------------------------------------------------------

def file_reasons(df) -> list[str]:
    """Why a resolved split is not the benchmark's own split (empty: it is)."""
    if df.fixture:
        return [f"fixture: the {df.split} data is an official-layout format fixture "
                f"({df.paths[0].name}), a plumbing check"]
    if df.split_used and df.split_used != df.split:
        return [f"{df.split_used}-as-{df.split}: {df.substitute or ', '.join(p.name for p in df.paths)}"]
    if df.substitute:
        return [f"substitute {df.split} data: {df.substitute}"]
    return []


def announce(cfg: EvalConfig, jobs: list[tuple[Task, tuple[str, ...], bool]]) -> dict[str, list[str]]:
    """Before anything runs: every task whose data can only be a fixture or substitute, printed."""
    root = eval_data_root(cfg)
    out: dict[str, list[str]] = {}
    for task, langs, _ in jobs:
        reasons: list[str] = []
        if task.needs_finetuning:
            for split in ("train", "dev"):
                if split in task.files:
                    with contextlib.suppress(FileNotFoundError):
                        reasons += file_reasons(task.resolve(split, task.train_lang, root, cfg.allow_fixtures))
        for lang in langs:
            with contextlib.suppress(FileNotFoundError):
                reasons += [f"{lang}: {r}" for r in file_reasons(task.resolve("test", lang, root, cfg.allow_fixtures))]
        if reasons:
            out[task.name] = reasons
            for r in reasons:
                print(f"NOT COMPARABLE (kept out of every aggregate): {task.name}: {r}", file=sys.stderr)
    return out


def _example_key(task: Task, ex: Any) -> Any:
    # QA ids are global (SQuAD/XQuAD share one id per question across translations); other tasks'
    # ids are row numbers, so the example's text is what identifies it.
    if task.kind == "qa":
        return ex.id
    if task.kind == "classification":
        return (" ".join(ex.text_a.lower().split()), " ".join(ex.text_b.lower().split()))
    return tuple(ex.tokens)


def overlap_reasons(task: Task, train: list, dev: list, test: list) -> list[str]:
    """A training (or model-selection) set that shares examples with the test set."""
    how = "question id" if task.kind == "qa" else "text"
    test_keys = [_example_key(task, ex) for ex in test]
    out = []
    for what, data, label in (("training set overlaps the test set", train, "are in the training set"),
                              ("test-as-dev", dev, "are in the dev set the model was selected on")):
        keys = {_example_key(task, ex) for ex in data}
        k = sum(1 for key in test_keys if key in keys)
        if k:
            out.append(f"{what}: {k} of {len(test_keys)} test examples ({100 * k / len(test_keys):.0f}%) "
                       f"{label} (same {how})")
    return out


# ---------------------------------------------------------------------------------------------------
# Per-task runs
# ---------------------------------------------------------------------------------------------------

def _test_split(task: Task, lang: str, explicit: bool, cfg: EvalConfig, skipped: dict[str, str]):
    try:
        examples, df = load_split(task, "test", lang, eval_data_root(cfg), cfg.allow_fixtures)
    except (FileNotFoundError, ValueError) as e:
        if cfg.strict or explicit:
            raise
        log.warning("%s/%s: skipped (%s)", task.name, lang, e)
        skipped[lang] = str(e)
        return None, None
    if cfg.view:
        examples = apply_view(task, lang, examples, cfg.view)
    return examples, df


def _write_predictions(out: Path, task: Task, lang: str, records: list[dict], sub: str = "") -> None:
    folder = out / "predictions" / task.name / sub if sub else out / "predictions" / task.name
    write_jsonl_atomic(folder / f"{lang}.jsonl", records)


def _interval(cfg: EvalConfig, task: Task, lang: str, stats, scores: dict) -> dict | None:
    """The language's bootstrap summary; its full-sample score must be the metric's own number."""
    if stats is None or cfg.bootstrap_resamples <= 0:
        return None
    official = primary_score(task.metric, scores)
    if abs(stats.score() - official) > 1e-6:
        # An interval around another number would be worse than none: say so and leave it out.
        log.error("%s/%s: no interval: the prediction records give %r but the metric %r", task.name, lang,
                  stats.score(), official)
        return None
    return summarize(stats, f"{task.name}/{lang}", cfg.bootstrap_resamples)


def _run_finetuned(task: Task, langs: tuple[str, ...], explicit: bool, cfg: EvalConfig, out: Path) -> dict:
    root = eval_data_root(cfg)
    train, train_df = load_split(task, "train", task.train_lang, root, cfg.allow_fixtures)
    dev: list = []
    dev_df = None
    if "dev" in task.files:
        dev, dev_df = load_split(task, "dev", task.train_lang, root, cfg.allow_fixtures)
    task_reasons = file_reasons(train_df) + (file_reasons(dev_df) if dev_df is not None else [])
    ft = finetune_config(cfg, task.name)
    seeds = cfg.seeds or [ft.seed]
    scores: dict[str, dict] = {}
    data: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    reasons: dict[str, list[str]] = {}
    intervals: dict[str, dict] = {}
    tests: dict[str, list] = {}
    for lang in langs:
        examples, df = _test_split(task, lang, explicit, cfg, skipped)
        if examples is None:
            continue
        if cfg.max_eval_examples > 0:
            examples = examples[:cfg.max_eval_examples]
        tests[lang] = examples
        data[lang] = _data_info(df, len(examples))
        reasons[lang] = file_reasons(df) + overlap_reasons(task, train, dev, examples)
    if not tests:  # nothing to test: no fine-tuning (the caller names what is missing)
        return {"task": task.name, "scores": {}, "data": {}, "skipped": skipped}
    import torch

    per_seed: dict[str, dict[str, float]] = {}
    self_trained: dict[str, dict] = {}
    source_dev: dict[str, Any] | None = None
    held_out = None  # the sentences self-training may not learn from: read once for every seed
    if ft.self_train and task.kind == "token_classification":
        held_out = OverlapIndex.of([*(ex.tokens if ex.written is None else ex.written
                                      for examples in tests.values() for ex in examples),
                                    *held_out_tagging_sentences(eval_data_root(cfg))])
    first = None
    for k, seed in enumerate(seeds):
        fcfg = dataclasses.replace(ft, seed=seed)
        run_dir = out / "finetune" / task.name / (f"seed-{seed}" if cfg.seeds else "")
        # the teacher is the fine-tuning the task runs without self-training (the same record, reused)
        teacher_cfg = without_self_training(fcfg) if held_out is not None else fcfg
        result = finetune(task, cfg.model, train, dev, run_dir, teacher_cfg, task.train_lang)
        if held_out is not None:
            result, info = _self_train(task, result, train, dev, held_out, cfg, fcfg, run_dir / "self-train")
            self_trained[str(seed)] = info
        if k == 0:
            first = result
        tokenizer, net = load_model(task, str(result.model_dir))
        net.to("cuda" if torch.cuda.is_available() else "cpu")
        per_seed[str(seed)] = {}
        for lang, examples in tests.items():
            preds = predict(task, net, tokenizer, examples, fcfg)
            records = _records(task, examples, preds)
            _write_predictions(out, task, lang, records, f"seed-{seed}" if k else "")
            s = score(task, preds, examples, lang)
            if s is None:
                continue
            per_seed[str(seed)][lang] = primary_score(task.metric, s)
            if k == 0:
                scores[lang] = s
                iv = _interval(cfg, task, lang, record_stats(task.metric, lang, records), s)
                if iv is not None:
                    intervals[lang] = iv
            log.info("%s/%s seed %d: %s", task.name, lang, seed, s)
        if k == 0 and dev:
            source_dev = _score_source_dev(task, net, tokenizer, dev, fcfg, cfg, out)
    assert first is not None
    return {"task": task.name, "scores": scores, "data": data, "skipped": skipped, "intervals": intervals,
            "comparability": {"task": task_reasons, "languages": {lg: r for lg, r in reasons.items() if r}},
            **({"seeds": per_seed} if cfg.seeds else {}),
            "finetune": {"steps": first.steps, "resumed_from": first.resumed_from, "dev_scores": first.dev_scores,
                         "train": _data_info(train_df, min(len(train), ft.max_train_examples or len(train))),
                         "dev": (_data_info(dev_df, min(len(dev), ft.max_dev_examples or len(dev)))
                                 if dev_df is not None else None),
                         "selection": _selection(ft, task, bool(dev)),
                         **({"source_dev": source_dev} if source_dev else {}),
                         **({"self_train": self_trained[str(seeds[0])]} if self_trained else {})}}


def _records(task: Task, examples: list, preds: list) -> list[dict]:
    """Per-example prediction records (`id`, `prediction`, `gold` where the example has one)."""
    records = []
    for ex, p in zip(examples, preds, strict=True):
        rec: dict[str, Any] = {"id": ex.id, "prediction": p}
        gold = ex.answers if task.kind == "qa" else (ex.label if task.kind == "classification" else ex.tags)
        if gold:
            rec["gold"] = gold
        records.append(rec)
    return records


def _score_source_dev(task: Task, net, tokenizer, dev: list, fcfg: FinetuneConfig, cfg: EvalConfig,
                      out: Path) -> dict[str, Any] | None:
    """The kept model on the source language's whole dev split, with its bootstrap interval.

    Checkpoint selection reads `finetune.max_dev_examples` of it (500 in the recipes, for speed); that
    subset's best score is optimistic and, at 500 sentences, moves by ±2 F1 with the subset drawn
    (IMST: 83.5 on the recipes' subset, 86.8 on the first 500, 84.4 on all 1,100, the same model), so the
    source level before transfer is read here, on every dev example, with the lookup beside it."""
    lang = task.train_lang
    preds = predict(task, net, tokenizer, dev, fcfg)
    records = _records(task, dev, preds)
    _write_predictions(out, task, lang, records, SOURCE_DEV)
    s = score(task, preds, dev, lang)
    if s is None:
        return None
    return {"lang": lang, "examples": len(dev), **_scored(cfg, task, lang, records, s)}


def _scored(cfg: EvalConfig, task: Task, lang: str, records: list[dict], scores: dict) -> dict[str, Any]:
    """`{"scores", "ci95"}` of one set of prediction records (no interval: `ci95` None)."""
    iv = _interval(cfg, task, lang, record_stats(task.metric, lang, records), scores)
    return {"scores": scores, "ci95": iv["ci95"] if iv else None}


def _self_train(task: Task, teacher: FinetuneResult, train: list, dev: list, held_out: OverlapIndex,
                cfg: EvalConfig, fcfg: FinetuneConfig, run_dir: Path) -> tuple[FinetuneResult, dict]:
    """`finetune.self_train`: the teacher tags each language's unlabelled sentences (none that `held_out`
    holds: the task's test sentences and the held-out tagging sets'), its surest keep their tags, and the
    teacher is fine-tuned on the source set plus them (eval_xtreme.self_training)."""
    import torch

    tokenizer, net = load_model(task, str(teacher.model_dir))
    net.to("cuda" if torch.cuda.is_available() else "cpu")
    # a sentence longer than this would be cut into chunks in training; whole sentences are simpler
    max_words = max(8, fcfg.max_seq_length // 3)
    pseudo: list = []
    info: dict[str, Any] = {"steps": fcfg.self_train_steps, "teacher_dev_scores": teacher.dev_scores,
                            "languages": {}}
    for lang, paths in sorted(fcfg.self_train.items()):
        pool, read = read_pool(lang, paths, held_out, max_words)
        if not pool:
            raise InputError(f"finetune.self_train.{lang}: no usable sentence in {', '.join(paths)} ({read})")
        viewed = apply_view(task, lang, pool, cfg.view) if cfg.view else pool
        tagged = predict(task, net, tokenizer, viewed, fcfg, confidence=True)
        kept, chosen = most_confident(viewed, [t for t, _ in tagged], [c for _, c in tagged],
                                      fcfg.self_train_sentences, fcfg.self_train_min_confidence)
        pseudo.extend(kept)
        info["languages"][lang] = {"files": list(paths), "read": read, **chosen}
        log.info("%s: self-training on %s: %d of %d sentences kept (mean confidence %.3f; pool %.3f)",
                 task.name, lang, chosen["kept"], chosen["pool"], chosen["mean_confidence_kept"],
                 chosen["mean_confidence_pool"])
    del net
    # the teacher's source sentences (its subsample, drawn again with its seed, and its script_augment
    # rewrites) and every pseudo-labelled one as it is: those are target-language text already, in the
    # view the tagger reads (a rewrite of their Latin words would undo a Latin view)
    source = training_examples(task, list(train), fcfg)
    student_cfg = dataclasses.replace(fcfg, max_steps=fcfg.self_train_steps, eval_every=fcfg.self_train_steps,
                                      save_every=fcfg.self_train_steps, max_train_examples=0, script_augment={})
    result = finetune(task, str(teacher.model_dir), source + pseudo, dev, run_dir, student_cfg, task.train_lang)
    info["dev_scores"] = result.dev_scores
    return result, info


# the held-out sets of tagged sentences (every UD treebank's dev and test, UNER's, KazNERD's): Common
# Voice's Uyghur sentence list, for one, holds about half of the Uyghur-UDT dev and test sentences
TAGGING_HELD_OUT = ("ud", "uner", "kaznerd")


def held_out_tagging_sentences(root: Path | None) -> list[list[str]]:
    """The words of every sentence in the held-out tagging sets under `root` (default data root)."""
    base = root if root is not None else data_root()
    return [ex.tokens for name in TAGGING_HELD_OUT for df in HELDOUT.get(name).data_files(base)
            for ex in LOADERS.get(df.format)(df)]


def _selection(ft: FinetuneConfig, task: Task, has_dev: bool) -> str:
    """Which fine-tuned model predicts the test languages, in words for results.json and the reports."""
    if ft.self_train and task.kind == "token_classification":
        teacher = _selection(without_self_training(ft), task, has_dev)
        then = "averaged likewise" if ft.average_every else "the last model kept"
        return (f"self-training: the tagger selected so ({teacher}) tagged unlabelled "
                f"{', '.join(sorted(ft.self_train))} text, then {ft.self_train_steps} more steps on the source set "
                f"plus the {ft.self_train_sentences} sentences per language it was surest of; {then}")
    if ft.average_every:
        start = f" from {ft.average_from:.0%} of the run on" if ft.average_from else ""
        return (f"{AVERAGED}: the mean of the weights every {ft.average_every} steps{start} and at the "
                f"last step; its dev score ({task.train_lang}) is the one reported")
    if has_dev:
        return f"best on the source language's dev set ({task.train_lang})"
    return "none: the task has no dev split, the final model is kept (as XTREME)"


def _data_info(df, n: int) -> dict:
    return {"files": [str(p) for p in df.paths], "format": df.format, "examples": n, "fixture": df.fixture,
            "substitute": df.substitute, "split_used": df.split_used or df.split}


def _run_retrieval(task: Task, langs: tuple[str, ...], explicit: bool, cfg: EvalConfig, encoder, out: Path) -> dict:
    rc = cfg.retrieval
    scores: dict[str, dict] = {}
    data: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    reasons: dict[str, list[str]] = {}
    intervals: dict[str, dict] = {}
    extra: dict[str, Any] = {}
    hybrid: dict[str, dict] = {}
    variants: dict[str, dict[str, dict]] = {}
    for lang in langs:
        rs, df = _test_split(task, lang, explicit, cfg, skipped)
        if rs is None:
            continue
        reasons[lang] = file_reasons(df)
        stats = None
        if task.name.startswith("bucc"):
            dev, dev_df = load_split(task, "dev", lang, eval_data_root(cfg), cfg.allow_fixtures)
            reasons[lang] += file_reasons(dev_df)
            if not dev.gold:
                raise InputError(f"task {task.name}, language {lang}: the dev split has no gold pairs to tune "
                                 f"the threshold on ({dev_df.describe()})")
            threshold = tune_threshold(bucc_candidates(dev, encoder, rc.margin_k, rc.chunk_size), dev.gold)
            cands = bucc_candidates(rs, encoder, rc.margin_k, rc.chunk_size)
            chosen = dict(select_pairs(cands, threshold))
            records = [{"id": sid, "prediction": chosen.get(sid)} for sid in rs.source]
            _write_predictions(out, task, lang, records)
            if rs.gold is not None:
                scores[lang] = bucc_prf(set(chosen.items()), rs.gold)
                stats = bucc_stats(list(rs.source), set(chosen.items()), rs.gold)
            extra.setdefault("thresholds", {})[lang] = threshold
            n = len(rs.source)
        else:
            rs = rs.first(cfg.max_eval_examples)
            sims = None
            also = [rc.also_scoring] if rc.also_scoring else []
            # one forward pass per side serves the main search and the second one alike
            src, trg = (encoder.encode(side, (rc.scoring, *also)) for side in (rs.source, rs.target))
            for other in also:
                alt = matrix_search(encoded_similarities(src, trg, other, rc))
                alt_recs = retrieval_records(rs, alt, task.retrieval_query)
                alt_scores = retrieval_scores(rs, alt, task.retrieval_query)
                if alt_scores is not None:
                    variants.setdefault(SCORED_PREFIX + other, {})[lang] = alt_scores
                    write_jsonl_atomic(baseline_folder(out, SCORED_PREFIX + other) / "predictions" / task.name
                                       / f"{lang}.jsonl", alt_recs)
            if rc.plain and not rc.hybrid:  # XTREME's search, blockwise: no full matrix held
                assert src.pooled is not None and trg.pooled is not None
                res = embedding_search(src.pooled, trg.pooled, rc.chunk_size)
            else:
                sims = encoded_similarities(src, trg, rc.scoring, rc)
                res = matrix_search(sims)
            records = retrieval_records(rs, res, task.retrieval_query)
            _write_predictions(out, task, lang, records)
            s = retrieval_scores(rs, res, task.retrieval_query)
            if s is not None:
                scores[lang] = s
                stats = record_stats(task.metric, lang, records)
            if rc.hybrid > 0:
                h_recs: list[dict] = []
                h = hybrid_scores(task, rs, sims, rc.hybrid, h_recs, rc.hubness, rc.margin_k)
                if h is not None:
                    hybrid[lang] = h
                    write_jsonl_atomic(baseline_folder(out, HYBRID) / "predictions" / task.name / f"{lang}.jsonl",
                                       h_recs)
            n = len(rs.source)
        if lang in scores:
            iv = _interval(cfg, task, lang, stats, scores[lang])
            if iv is not None:
                intervals[lang] = iv
        data[lang] = _data_info(df, n)
        log.info("%s/%s: %s", task.name, lang, scores.get(lang))
    return {"task": task.name, "scores": scores, "data": data, "skipped": skipped, "layer": getattr(encoder, "layer", rc.layer),
            **({} if rc.plain or task.name.startswith("bucc") else {"scoring": rc.scoring, "hubness": rc.hubness}),
            "intervals": intervals,
            "comparability": {"task": [], "languages": {lg: r for lg, r in reasons.items() if r}}, **extra,
            **({"baselines": {**variants, **({HYBRID: hybrid} if hybrid else {})}} if hybrid or variants else {})}


# ---------------------------------------------------------------------------------------------------
# Results and report
# ---------------------------------------------------------------------------------------------------

INTERVAL_METHOD = ("95% percentile bootstrap: {n} resamples of the test examples (sentences, pairs, "
                   "questions) with replacement, seeded per task/language; a mean over languages resamples "
                   "within each language (eval_xtreme/uncertainty.py)")


def _mean_interval(reps: dict[str, list[float]], langs: list[str]) -> list[float] | None:
    if not langs or any(lg not in reps for lg in langs):
        return None
    return interval(mean_replicates({lg: reps[lg] for lg in langs}))


def _aggregate_intervals(agg: dict | None, reps: dict[str, dict[str, list[float]]],
                         groups: dict[str, list[str]]) -> None:
    """Add `ci95` to the aggregate's task, group and overall scores, from the per-language replicates."""
    if not agg:
        return
    task_reps = {}
    for t, v in agg["tasks"].items():
        used = list(v["per_language"])
        if used and all(lg in reps.get(t, {}) for lg in used):
            task_reps[t] = mean_replicates({lg: reps[t][lg] for lg in used})
            v["ci95"] = interval(task_reps[t])
        else:
            v["ci95"] = None
    agg["groups_ci95"] = {g: interval(np.mean([task_reps[t] for t in groups[g]], axis=0))
                          for g in agg["groups"] if all(t in task_reps for t in groups.get(g, ()))}
    all_tasks = sorted({t for ts in groups.values() for t in ts})
    agg["overall_ci95"] = (interval(np.mean([task_reps[t] for t in all_tasks], axis=0))
                           if agg.get("overall") is not None and all(t in task_reps for t in all_tasks) else None)


def _seed_summary(per_seed: dict[str, dict[str, float]]) -> dict[str, Any]:
    langs = sorted({lg for s in per_seed.values() for lg in s})
    complete = [s for s in per_seed if all(lg in per_seed[s] for lg in langs)]

    def ms(xs: list[float]) -> dict[str, float]:
        return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0}

    out: dict[str, Any] = {"seeds": [int(s) for s in per_seed], "per_seed": per_seed,
                           "languages": {lg: ms([per_seed[s][lg] for s in per_seed if lg in per_seed[s]])
                                         for lg in langs}}
    if complete and langs:
        task_means = {s: statistics.fmean(per_seed[s][lg] for lg in langs) for s in complete}
        out["task_mean"] = {**ms(list(task_means.values())), "per_seed": task_means}
    return out


def collect_results(cfg: EvalConfig, out: Path, task_names: list[str],
                    announced: dict[str, list[str]] | None = None) -> dict[str, Any]:
    tasks: dict[str, dict] = {}
    details: dict[str, dict] = {}
    reps: dict[str, dict[str, list[float]]] = {}
    intervals: dict[str, Any] = {}
    not_comparable: dict[str, dict] = {}
    seeds: dict[str, Any] = {}
    comparable: dict[str, dict] = {}
    baselines: dict[str, dict] = {}
    for name in task_names:
        summary = read_json(out / "tasks" / f"{name}.json")
        per = tasks[name] = summary.pop("scores")
        for base, bper in summary.pop("baselines", {}).items():
            baselines.setdefault(base, {})[name] = bper
        iv = summary.pop("intervals", {})
        reps[name] = {lg: v["replicates"] for lg, v in iv.items()}
        comp = summary.pop("comparability", {"task": [], "languages": {}})
        if "seeds" in summary:
            seeds[name] = _seed_summary(summary.pop("seeds"))
        details[name] = summary
        if comp["task"] or comp["languages"]:
            not_comparable[name] = comp
        # Only a score from the benchmark's own train, dev and test splits may enter an aggregate.
        comparable[name] = {} if comp["task"] else {lg: s for lg, s in per.items() if lg not in comp["languages"]}
        metric = TASKS.get(name).metric
        # The task mean leaves out languages whose test data is not the benchmark's (a fixture's
        # 2-row interval would swamp it); a task-level reason still marks the mean itself.
        langs = [lg for lg in per if lg not in comp["languages"]]
        intervals[name] = {
            "languages": {lg: {"score": primary_score(metric, per[lg]), "ci95": v["ci95"], "n": v["n"]}
                          for lg, v in iv.items()},
            "mean": {"score": sum(primary_score(metric, per[lg]) for lg in langs) / len(langs) if langs else None,
                     "ci95": _mean_interval(reps[name], langs), "languages": langs}}
    xtreme = {n: per for n, per in comparable.items() if TASKS.get(n).xtreme and per}
    suite = {n: per for n, per in comparable.items() if not TASKS.get(n).xtreme and per}
    groups = task_groups()
    aggregate = leaderboard_aggregate(xtreme, groups) if xtreme else None
    _aggregate_intervals(aggregate, reps, groups)
    suite_groups: dict[str, list[str]] = {}
    for n in suite:
        suite_groups.setdefault(TASKS.get(n).group, []).append(n)
    suite_aggregate = leaderboard_aggregate(suite, suite_groups, {}) if suite else None
    _aggregate_intervals(suite_aggregate, reps, suite_groups)
    layer_choice = read_json(out / LAYER_CHOICE) if cfg.retrieval.layer_candidates and (out / LAYER_CHOICE).is_file() \
        else None
    return {"config": to_dict(cfg), "model": cfg.model, "tasks": tasks, "aggregate": aggregate,
            **({"retrieval_layer": layer_choice} if layer_choice else {}),
            "suite_aggregate": suite_aggregate, "baselines": baselines, "not_comparable": not_comparable, "announced": announced or {},
            "intervals": {"method": INTERVAL_METHOD.format(n=cfg.bootstrap_resamples), "tasks": intervals},
            "seeds": seeds, "details": details, "versions": versions()}


def not_comparable_lines(results: dict[str, Any]) -> list[str]:
    """'task[/lang]: not comparable: <reason>' for every score kept out of the aggregates."""
    out = []
    for name, comp in (results.get("not_comparable") or {}).items():
        out += [f"{name}: not comparable: {r}" for r in comp.get("task", [])]
        for lg, rs in comp.get("languages", {}).items():
            out += [f"{name}/{lg}: not comparable: {r}" for r in rs]
    return out


def source_dev_lines(results: dict[str, Any]) -> list[str]:
    """The report's source-language section: each fine-tuned model on its source's whole dev split (95 %
    interval), the checkpoint selection's own score beside it, and the lookups on the same sentences."""
    rows = []
    for name, det in results.get("details", {}).items():
        ft = det.get("finetune") or {}
        sd = ft.get("source_dev")
        if not sd:
            continue
        metric = TASKS.get(name).metric
        sel = ft.get("dev_scores")
        n_sel = (ft.get("dev") or {}).get("examples")
        rows.append([name, sd["lang"], sd["examples"], format_ci(primary_score(metric, sd["scores"]), sd.get("ci95"), 2),
                     f"{primary_score(metric, sel):.2f} ({n_sel})" if sel and n_sel else None,
                     "; ".join(f"{b} {format_ci(primary_score(metric, v['scores']), v.get('ci95'), 2)}"
                               for b, v in (sd.get("baselines") or {}).items()) or None])
    if not rows:
        return []
    return ["## Source language: the fine-tuned model on its whole dev split", "",
            "Transfer is read against this. The selection column is the kept checkpoint's score on the dev "
            "examples checkpoint selection read (`finetune.max_dev_examples`; the number in brackets): it "
            "chose the checkpoint, so it is the optimistic one.", "",
            markdown_table(["task", "source", "dev examples", "whole dev [95% CI]", "selection (examples)",
                            "no-model lookups [95% CI]"], rows), ""]


def layer_choice_lines(choice: dict | None) -> list[str]:
    """The retrieval layer chosen on dev (`retrieval.layer_candidates`): every candidate's dev top-1."""
    if not choice:
        return []
    sets = list(choice["dev_pairs"])
    rows = [[("**" + layer + "**") if int(layer) == choice["chosen"] else layer, f"{choice['mean'][layer]:.2f}",
             *(f"{a:.1f} / {b:.1f}" for a, b in (choice["top1"][layer][n] for n in sets))] for layer in choice["top1"]]
    return [f"## Retrieval layer chosen on dev: {choice['chosen']}", "",
            f"Every retrieval task reads layer {choice['chosen']}, the candidate with the best mean top-1 "
            f"({choice['scoring']} scoring, hubness {choice['hubness']}) on dev sets no task reads; "
            "xx→en / en→xx per set.", "",
            markdown_table(["layer", "mean top-1", *(f"{n} ({choice['dev_pairs'][n]})" for n in sets)], rows), ""]


def write_report(results: dict[str, Any], out: Path) -> Path:
    lines = [f"# Evaluation of `{results['model']}`", "",
             "Primary score per language (QA: (EM + F1) / 2; tagging/BUCC: F1; others: accuracy), with its "
             "95% bootstrap interval in brackets.", ""]
    rows = []
    notes = []
    ivs = (results.get("intervals") or {}).get("tasks", {})
    nc = results.get("not_comparable") or {}
    for name, per in results["tasks"].items():
        task = TASKS.get(name)
        det = results["details"][name]
        iv = ivs.get(name, {})
        prim = {lg: primary_score(task.metric, s) for lg, s in per.items()}
        bad = nc.get(name, {})
        marked = set(per) if bad.get("task") else set(bad.get("languages", {}))
        mean = iv.get("mean", {})
        rows.append([name, task.kind, task.metric, len(per),
                     (format_ci(mean.get("score"), mean.get("ci95")) + ("*" if bad.get("task") else ""))
                     if mean.get("score") is not None else None,
                     ", ".join(f"{lg} {format_ci(v, iv.get('languages', {}).get(lg, {}).get('ci95'))}"
                               + ("*" if lg in marked else "") for lg, v in prim.items())])
        if prim:
            bar_chart(out / "charts" / f"{name}.png", {name: prim}, f"{name} ({task.metric})", "score", "language")
        ft = det.get("finetune")
        if ft and not ft.get("dev"):
            notes.append(f"- {name}: {ft.get('selection', 'no dev split')}")
        for lg, why in det.get("skipped", {}).items():
            notes.append(f"- {name}/{lg}: skipped — {why.splitlines()[0][:200]}")
        if any("accuracy_en_xx" in s for s in per.values()):
            primary = "en→xx, the leaderboard's direction" if task.retrieval_query == "target" else "xx→en"
            both = ", ".join(f"{lg} {s['accuracy_en_xx']:.1f} / {s['accuracy_xx_en']:.1f}" for lg, s in per.items())
            notes.append(f"- {name}: accuracy is {primary}; en→xx / xx→en per language: {both}")
    lines.append(markdown_table(["task", "kind", "metric", "langs", "mean [95% CI] (test data comparable)",
                                 "per language [95% CI]"], rows))
    lines += ["", "`*` = not comparable with the benchmark (reason below): shown, never in an aggregate.", ""]
    nc_lines = not_comparable_lines(results)
    for key, title in (("aggregate", "XTREME leaderboard aggregate"), ("suite_aggregate", "Uyghur/Kazakh suite")):
        agg = results.get(key)
        if agg:
            lines += [f"## {title} (comparable scores only)", ""]
            lines.append(markdown_table(["task", "score", "95% CI", "languages", "complete"],
                                        [[t, v["avg_metric"], "[{:.2f}, {:.2f}]".format(*v["ci95"])
                                          if v.get("ci95") else "", v["n_languages"], v["complete"]]
                                         for t, v in agg["tasks"].items()]))
            gci = agg.get("groups_ci95", {})
            groups = ", ".join(f"{g} {format_ci(v, gci.get(g), 2)}" for g, v in agg["groups"].items())
            overall = agg.get("overall")
            shown = format_ci(overall, agg.get("overall_ci95"), 2) if overall is not None else "(needs all tasks)"
            lines += ["", f"Groups: {groups or '(none complete)'}; overall: {shown}", ""]
    if nc_lines:
        lines += ["## Not comparable (kept out of every aggregate)", "", *(f"- {x}" for x in nc_lines), ""]
    seeds = results.get("seeds") or {}
    if seeds:
        lines += ["## Fine-tuning seeds (mean ± std over seeds; `tasks` and predictions are the first seed's)", ""]
        srows = []
        for name, sm in seeds.items():
            tm = sm.get("task_mean")
            srows.append([name, ", ".join(str(s) for s in sm["seeds"]),
                          f"{tm['mean']:.2f} ± {tm['std']:.2f}" if tm else "",
                          ", ".join(f"{tm['per_seed'][str(s)]:.2f}" for s in sm["seeds"]) if tm else "",
                          ", ".join(f"{lg} {v['mean']:.1f} ± {v['std']:.1f}" for lg, v in sm["languages"].items())])
        lines += [markdown_table(["task", "seeds", "task mean ± std", "task mean per seed", "per language"], srows),
                  ""]

    lines += source_dev_lines(results)
    lines += layer_choice_lines(results.get("retrieval_layer"))
    lines += report_lines(results)
    if notes:
        lines += ["## Data notes", "", *notes, ""]
    method = (results.get("intervals") or {}).get("method")
    if method:
        lines += [f"Intervals: {method}.", ""]
    lines += ["Per-language charts: `charts/<task>.png`; per-example predictions: `predictions/<task>/<lang>.jsonl`.",
              ""]
    return write_text_atomic(out / "report.md", "\n".join(lines))
