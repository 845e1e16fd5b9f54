"""`run_eval(config)`: the zero-shot protocol over a list of tasks, with results, predictions and a report.

Outputs under `OUT/`:

- `results.json` — `{"config", "model", "tasks": {task: {lang: {metric: value}}}, "aggregate",
  "suite_aggregate", "details", "versions"}`. `aggregate` is the XTREME leaderboard computation over
  the XTREME tasks run, on real (non-fixture) test data only; `details` names every data file used,
  fixture/substitute flags, skipped languages and the fine-tuning summary.
- `predictions/<task>/<lang>.jsonl` — one record per test example in test-set order:
  `{"id", "prediction", "gold"?}` (what `xling eval submit` converts into the leaderboard layout).
- `config.yaml`, `report.md`, `charts/<task>.png` (per-language bar chart).
- `finetune/<task>/` — resumable fine-tuning runs; `tasks/<task>.json` holds a finished task's
  summary and `tasks/<task>.stage.json` its completion record (`xling.core.stage`), so re-running
  the same command skips finished tasks, resumes an interrupted fine-tuning run, and refuses a task
  whose settings changed (naming them) unless `--force`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.config import ConfigError, save_config, to_dict
from xling.core.stage import Stage, StageSpec
from xling.io import write_json_atomic, write_jsonl_atomic, write_text_atomic

from .finetune import FinetuneConfig
from .retrieval import RetrievalConfig
from .tasks import TASKS, Task, parse_task_spec

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    model: str = ""  # any from_pretrained folder or name
    tasks: list[str] = field(default_factory=lambda: ["tatoeba_turkic"])  # "name" or "name:l1+l2"
    out: str = "runs/eval"
    languages: list[str] = field(default_factory=list)  # keep only these languages in every task
    data_root: str = ""  # default: $XLING_DATA, else ../shared/data
    allow_fixtures: bool = True  # official-layout format fixtures may stand in (flagged, never aggregated)
    strict: bool = False  # a language without test data is an error (default: skipped and listed)
    max_eval_examples: int = 0  # > 0: first N test examples per language (CPU runs)
    threads: int = 0  # > 0: torch intra-op threads (1 is much faster on a busy shared CPU)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ConfigError("tasks: name at least one task (see `xling eval ls`)")


def _root(cfg: EvalConfig) -> Path | None:
    from xling.paths import resolve_data_path

    return resolve_data_path(cfg.data_root) if cfg.data_root else None


def plan(cfg: EvalConfig) -> list[tuple[Task, tuple[str, ...], bool]]:
    """(task, languages, explicit) for every task spec; languages filtered by `cfg.languages`."""
    out = []
    for spec in cfg.tasks:
        task, langs = parse_task_spec(spec)
        explicit = ":" in spec
        if cfg.languages:
            langs = tuple(lg for lg in langs if lg in cfg.languages)
            explicit = True
        if not langs:
            raise ValueError(f"task {task.name}: none of its languages ({', '.join(task.languages)}) is in "
                             f"languages={cfg.languages}")
        out.append((task, langs, explicit))
    return out


def versions() -> dict[str, str]:
    import platform
    import subprocess

    import torch
    import transformers

    from xling import __version__

    v = {"xling": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
         "python": platform.python_version()}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        v["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                         cwd=Path(__file__).resolve().parent).stdout.strip()
    return v


def eval_task_stage(cfg: EvalConfig, task: Task, langs: tuple[str, ...], out: Path) -> Stage:
    """One evaluation task's stage contract (`xling.core.stage`); its record is `tasks/<task>.stage.json`."""
    config = {"task": task.name, "model": cfg.model, "languages": list(langs), "settings": _settings(cfg, task)}
    inputs = {"model": cfg.model if Path(cfg.model).exists() else None}
    outputs = (f"tasks/{task.name}.json", f"finetune/{task.name}", f"predictions/{task.name}")
    return Stage(StageSpec("eval-task", out, config, inputs, outputs, record=f"tasks/{task.name}.stage.json"))


def eval_finished(cfg: EvalConfig) -> bool:
    """Every task of `cfg` finished with these settings (what `xling run` asks before skipping)."""
    out = Path(cfg.out)
    return (out / "results.json").is_file() and all(eval_task_stage(cfg, task, langs, out).is_finished()
                                                    for task, langs, _ in plan(cfg))


def run_eval(cfg: EvalConfig, force: bool = False) -> dict[str, Any]:
    if not cfg.model:
        raise ConfigError("model: give a from_pretrained model folder or name (--model)")
    if cfg.threads > 0:
        import torch

        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    jobs = plan(cfg)
    encoder = None
    done_dir = out / "tasks"
    for task, langs, explicit in jobs:
        marker = done_dir / f"{task.name}.json"
        settings = _settings(cfg, task)
        stage = eval_task_stage(cfg, task, langs, out)
        # finished with these settings: skip; other settings: refused naming them (unless force)
        if stage.begin(force) == "finished":
            log.info("%s: already evaluated (%s), skipping", task.name, marker)
            continue
        t0 = time.time()
        if task.kind == "retrieval":
            if encoder is None:
                from .retrieval import Encoder

                encoder = Encoder(cfg.model, cfg.retrieval.layer, cfg.retrieval.max_length, cfg.retrieval.batch_size)
            summary = _run_retrieval(task, langs, explicit, cfg, encoder, out)
        else:
            summary = _run_finetuned(task, langs, explicit, cfg, out)
        if not summary["data"]:
            first = next(iter(summary["skipped"].values()), "")
            raise FileNotFoundError(f"task {task.name}: no test data for any of {', '.join(langs)}. {first}")
        summary.update({"model": cfg.model, "languages": list(langs), "settings": settings,
                        "seconds": round(time.time() - t0, 2)})
        write_json_atomic(marker, summary)
        stage.finish({"summary": f"tasks/{task.name}.json"})
    results = collect_results(cfg, out, [t.name for t, _, _ in jobs])
    write_json_atomic(out / "results.json", results)
    write_report(results, out)
    return results


def _settings(cfg: EvalConfig, task: Task) -> dict:
    """What a finished task's numbers depend on (besides model and languages)."""
    part = cfg.retrieval if task.kind == "retrieval" else cfg.finetune
    return {"data_root": cfg.data_root, "allow_fixtures": cfg.allow_fixtures, "max_eval_examples": cfg.max_eval_examples,
            **to_dict(part)}


# ---------------------------------------------------------------------------------------------------
# Per-task runs
# ---------------------------------------------------------------------------------------------------

def _test_split(task: Task, lang: str, explicit: bool, cfg: EvalConfig, skipped: dict[str, str]):
    from .loaders import load_split

    try:
        return load_split(task, "test", lang, _root(cfg), cfg.allow_fixtures)
    except (FileNotFoundError, ValueError) as e:
        if cfg.strict or explicit:
            raise
        log.warning("%s/%s: skipped (%s)", task.name, lang, e)
        skipped[lang] = str(e)
        return None, None


def _write_predictions(out: Path, task: Task, lang: str, records: list[dict]) -> None:
    write_jsonl_atomic(out / "predictions" / task.name / f"{lang}.jsonl", records)


def _run_finetuned(task: Task, langs: tuple[str, ...], explicit: bool, cfg: EvalConfig, out: Path) -> dict:
    from .finetune import finetune, load_model, predict, score
    from .loaders import load_split

    root = _root(cfg)
    train, train_df = load_split(task, "train", task.train_lang, root, cfg.allow_fixtures)
    dev, dev_df = load_split(task, "dev", task.train_lang, root, cfg.allow_fixtures)
    result = finetune(task, cfg.model, train, dev, out / "finetune" / task.name, cfg.finetune, task.train_lang)
    tokenizer, net = load_model(task, str(result.model_dir))
    import torch

    net.to("cuda" if torch.cuda.is_available() else "cpu")
    scores: dict[str, dict] = {}
    data: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for lang in langs:
        examples, df = _test_split(task, lang, explicit, cfg, skipped)
        if examples is None:
            continue
        if cfg.max_eval_examples > 0:
            examples = examples[:cfg.max_eval_examples]
        preds = predict(task, net, tokenizer, examples, cfg.finetune)
        records = []
        for ex, p in zip(examples, preds, strict=True):
            rec: dict[str, Any] = {"id": ex.id, "prediction": p}
            gold = ex.answers if task.kind == "qa" else (ex.label if task.kind == "classification" else ex.tags)
            if gold:
                rec["gold"] = gold
            records.append(rec)
        _write_predictions(out, task, lang, records)
        s = score(task, preds, examples, lang)
        if s is not None:
            scores[lang] = s
        data[lang] = _data_info(df, len(examples))
        log.info("%s/%s: %s", task.name, lang, s)
    return {"task": task.name, "scores": scores, "data": data, "skipped": skipped,
            "finetune": {"steps": result.steps, "resumed_from": result.resumed_from, "dev_scores": result.dev_scores,
                         "train": _data_info(train_df, min(len(train), cfg.finetune.max_train_examples or len(train))),
                         "dev": _data_info(dev_df, min(len(dev), cfg.finetune.max_dev_examples or len(dev)))}}


def _data_info(df, n: int) -> dict:
    return {"files": [str(p) for p in df.paths], "format": df.format, "examples": n, "fixture": df.fixture,
            "substitute": df.substitute}


def _run_retrieval(task: Task, langs: tuple[str, ...], explicit: bool, cfg: EvalConfig, encoder, out: Path) -> dict:
    from .metrics import bucc_prf, compute
    from .retrieval import bucc_candidates, reverse_gold, select_pairs, similarity_search, tune_threshold

    rc = cfg.retrieval
    scores: dict[str, dict] = {}
    data: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for lang in langs:
        rs, df = _test_split(task, lang, explicit, cfg, skipped)
        if rs is None:
            continue
        if task.name.startswith("bucc"):
            from .loaders import load_split

            dev, dev_df = load_split(task, "dev", lang, _root(cfg), cfg.allow_fixtures)
            if not dev.gold:
                raise ValueError(f"task {task.name}, language {lang}: the dev split has no gold pairs to tune "
                                 f"the threshold on ({dev_df.describe()})")
            threshold = tune_threshold(bucc_candidates(dev, encoder, rc.margin_k, rc.chunk_size), dev.gold)
            cands = bucc_candidates(rs, encoder, rc.margin_k, rc.chunk_size)
            chosen = dict(select_pairs(cands, threshold))
            records = [{"id": sid, "prediction": chosen.get(sid)} for sid in rs.source]
            _write_predictions(out, task, lang, records)
            if rs.gold is not None:
                scores[lang] = bucc_prf(set(chosen.items()), rs.gold)
            extra.setdefault("thresholds", {})[lang] = threshold
            n = len(rs.source)
        else:
            res = similarity_search(rs, encoder, rc.both_directions, rc.chunk_size)
            records = [{"id": sid, "prediction": p, **({"gold": rs.gold[i]} if rs.gold else {})}
                       for i, (sid, p) in enumerate(zip(rs.source_ids, res.predictions, strict=True))]
            _write_predictions(out, task, lang, records)
            if rs.gold is not None:
                s = compute(task.metric, res.predictions, rs.gold)
                if res.reverse_predictions is not None:
                    rg = reverse_gold(rs.gold, len(rs.target))
                    keep = [i for i, g in enumerate(rg) if g >= 0]
                    back = compute(task.metric, [res.reverse_predictions[i] for i in keep], [rg[i] for i in keep])
                    s["reverse_accuracy"] = back["accuracy"]
                scores[lang] = s
            n = len(rs.source)
        data[lang] = _data_info(df, n)
        log.info("%s/%s: %s", task.name, lang, scores.get(lang))
    return {"task": task.name, "scores": scores, "data": data, "skipped": skipped, "layer": rc.layer, **extra}


# ---------------------------------------------------------------------------------------------------
# Results and report
# ---------------------------------------------------------------------------------------------------

def collect_results(cfg: EvalConfig, out: Path, task_names: list[str]) -> dict[str, Any]:
    from .metrics import leaderboard_aggregate
    from .tasks import task_groups

    tasks: dict[str, dict] = {}
    details: dict[str, dict] = {}
    for name in task_names:
        summary = json.loads((out / "tasks" / f"{name}.json").read_text(encoding="utf-8"))
        tasks[name] = summary.pop("scores")
        details[name] = summary
    # The leaderboard number may only come from real test data: fixture languages are left out.
    real = {name: {lg: s for lg, s in per.items() if not details[name]["data"][lg]["fixture"]}
            for name, per in tasks.items()}
    xtreme = {n: per for n, per in real.items() if TASKS.get(n).xtreme and per}
    suite = {n: per for n, per in real.items() if not TASKS.get(n).xtreme and per}
    aggregate = leaderboard_aggregate(xtreme, task_groups()) if xtreme else None
    suite_groups: dict[str, list[str]] = {}
    for n in suite:
        suite_groups.setdefault(TASKS.get(n).group, []).append(n)
    suite_aggregate = leaderboard_aggregate(suite, suite_groups, {}) if suite else None
    return {"config": to_dict(cfg), "model": cfg.model, "tasks": tasks, "aggregate": aggregate,
            "suite_aggregate": suite_aggregate, "details": details, "versions": versions()}


def write_report(results: dict[str, Any], out: Path) -> Path:
    from xling.report import bar_chart, markdown_table

    from .metrics import primary_score

    lines = [f"# Evaluation of `{results['model']}`", "",
             "Primary score per language (QA: (EM + F1) / 2; tagging/BUCC: F1; others: accuracy).", ""]
    rows = []
    notes = []
    for name, per in results["tasks"].items():
        task = TASKS.get(name)
        det = results["details"][name]
        prim = {lg: primary_score(task.metric, s) for lg, s in per.items()}
        real = [v for lg, v in prim.items() if not det["data"][lg]["fixture"]]
        rows.append([name, task.kind, task.metric, len(per), sum(real) / len(real) if real else None,
                     ", ".join(f"{lg} {v:.1f}" + ("*" if det["data"][lg]["fixture"] else "") for lg, v in prim.items())])
        if prim:
            bar_chart(out / "charts" / f"{name}.png", {name: prim}, f"{name} ({task.metric})", "score", "language")
        for lg, info in det["data"].items():
            if info["substitute"]:
                notes.append(f"- {name}/{lg}: {info['substitute']}")
        ft = det.get("finetune")
        if ft:
            for split in ("train", "dev"):
                if ft[split]["fixture"] or ft[split]["substitute"]:
                    notes.append(f"- {name} {split}: {ft[split]['substitute'] or 'FIXTURE (format check only)'} "
                                 f"({ft[split]['examples']} examples)")
        for lg, why in det.get("skipped", {}).items():
            notes.append(f"- {name}/{lg}: skipped — {why.splitlines()[0][:200]}")
    lines.append(markdown_table(["task", "kind", "metric", "langs", "mean (real data)", "per language"], rows))
    lines += ["", "`*` = official-layout format fixture (a few rows): checks the plumbing, excluded from means.", ""]
    for key, title in (("aggregate", "XTREME leaderboard aggregate"), ("suite_aggregate", "Uyghur/Kazakh suite")):
        agg = results.get(key)
        if agg:
            lines += [f"## {title}", ""]
            lines.append(markdown_table(["task", "score", "languages", "complete"],
                                        [[t, v["avg_metric"], v["n_languages"], v["complete"]]
                                         for t, v in agg["tasks"].items()]))
            groups = ", ".join(f"{g} {v:.2f}" for g, v in agg["groups"].items())
            overall = agg.get("overall")
            shown = f"{overall:.2f}" if overall is not None else "(needs all tasks)"
            lines += ["", f"Groups: {groups or '(none complete)'}; overall: {shown}", ""]
    if notes:
        lines += ["## Data notes", "", *notes, ""]
    lines += ["Per-language charts: `charts/<task>.png`; per-example predictions: `predictions/<task>/<lang>.jsonl`.",
              ""]
    return write_text_atomic(out / "report.md", "\n".join(lines))
