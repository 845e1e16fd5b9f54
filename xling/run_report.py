"""The `xling run` report: what each stage kept, learned and scored, as Markdown + self-contained HTML.

Built only from files the stages wrote (stats.json, plan.json, metrics.jsonl, results.json), so
`xling run ... --report-only` can redraw it at any time. Figures go to RUN/figures/.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpora.build import STAGE_DIRS
from eval_xtreme.baselines import (
    CHAR_NGRAM,
    HYBRID,
    SCORED_PREFIX,
    SOURCE_DEV,
    as_model_results,
    baseline_folder,
)
from eval_xtreme.metrics import primary_name, primary_score
from eval_xtreme.tasks import TASKS
from eval_xtreme.uncertainty import format_ci, format_delta, paired_delta, record_stats, unpaired_delta
from eval_xtreme.user_tasks import load_task_file
from xling.core.io import read_json, read_jsonl, write_text_atomic
from xling.core.report import bar_chart, line_chart, markdown_table, markdown_to_html
from xling.core.versions import versions

if TYPE_CHECKING:
    from xling.run import RunPlan


def _load(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


def _pct(x: float) -> float:
    return round(100.0 * x, 2)


def corpus_section(plan: RunPlan, fig: Path) -> list[str]:
    root = plan.out / "corpus"
    stages = plan.corpus.stages
    stats = {s: _load(root / STAGE_DIRS[s] / "stats.json") for s in stages}
    clean = stats.get("clean", {})
    mix_plan = _load(root / "mix" / "plan.json") if "mix" in stages else {}
    langs = sorted({*clean.get("languages", {}), *stats.get("dedup", {}).get("languages", {}),
                    *mix_plan.get("languages", {})})
    if not langs:
        return ["## Corpus", "", "The corpus stage has not run yet.", ""]

    def kept(stage: str, lang: str) -> int | None:
        per = stats.get(stage, {}).get("languages", {}).get(lang)
        if not isinstance(per, dict):
            return None
        return int(per["docs_kept"] if stage == "clean" else per["kept"])

    # Labels LID found but the recipe does not keep are one row, not one row each.
    selected = [lg for lg in langs if any(kept(s, lg) for s in stages if s != "mix")
                or lg in mix_plan.get("languages", {})]
    others = [lg for lg in langs if lg not in selected]
    headers = ["language", "docs read"] + [f"after {s}" for s in stages if s != "mix"]
    if mix_plan:
        headers += ["natural share %", "sampled share %", "passes (repeats)"]
    rows = []
    for lang in selected:
        per = clean.get("languages", {}).get(lang, {})
        row: list[Any] = [lang, per.get("docs_in")]
        row += [kept(s, lang) for s in stages if s != "mix"]
        if mix_plan:
            p = mix_plan["languages"].get(lang, {})
            row += [_pct(p.get("p_natural", 0.0)), _pct(p.get("p_sampled", 0.0)), round(p.get("repeats", 0.0), 2)]
        rows.append(row)
    if others:
        read = sum(int(clean.get("languages", {}).get(lg, {}).get("docs_in", 0)) for lg in others)
        rows.append([f"other labels ({len(others)})", read, *([0] * (len(headers) - 2))])
    out = ["## Corpus", "",
           f"Stages {' → '.join(stages)} (`corpus/`); vocabulary and pretraining read `{plan.training_corpus.name}/`, "
           "and pretraining draws each sequence's language with the same temperature plan "
           f"(α = {plan.corpus.mix.alpha}, unit {plan.corpus.mix.unit}, at most {plan.corpus.mix.max_repeats} "
           "passes over a language) that `mix/` materialises.", "",
           markdown_table(headers, rows), ""]
    if mix_plan:
        series = {"natural (after cleaning)": {lg: _pct(v["p_natural"]) for lg, v in mix_plan["languages"].items()},
                  f"sampled (α = {mix_plan['alpha']})": {lg: _pct(v["p_sampled"])
                                                          for lg, v in mix_plan["languages"].items()}}
        bar_chart(fig / "language_shares.png", series, "Language shares before / after rebalancing",
                  f"% of {mix_plan.get('unit', 'chars')}", "language")
        out += ["![language shares before and after rebalancing](figures/language_shares.png)", ""]
    reasons: dict[str, dict[str, int]] = {}
    for lang, per in clean.get("languages", {}).items():
        for why, n in per.get("removed_by_reason", {}).items():
            reasons.setdefault(why, {})[lang] = int(n.get("docs", 0))
    for stage in ("dedup", "decontaminate"):
        for lang, per in stats.get(stage, {}).get("languages", {}).items():
            for why, n in per.get("removed", {}).items():
                if n:
                    reasons.setdefault(why, {})[lang] = int(n)
    if reasons:
        out += ["### Why documents were dropped (documents per language)", "",
                markdown_table(["reason", *selected, *(["other labels"] if others else []), "total"],
                               [[why, *(per.get(lg, 0) for lg in selected),
                                 *([sum(per.get(lg, 0) for lg in others)] if others else []), sum(per.values())]
                                for why, per in sorted(reasons.items(), key=lambda kv: -sum(kv[1].values()))]), ""]
    norm = clean.get("normalisation", {})
    if norm:
        out += ["Normalisation fixes (counts): " + ", ".join(f"{k} {v:,}" for k, v in sorted(norm.items())) + ".", ""]
    hits = {name: s.get("docs_hit", 0) for name, s in stats.get("decontaminate", {}).get("eval_sets", {}).items()}
    if hits:
        out += ["### Decontamination: documents sharing a long n-gram with an evaluation set", "",
                markdown_table(["evaluation set", "documents removed"],
                               sorted(([k, v] for k, v in hits.items()), key=lambda r: -r[1])), ""]
    return out


def vocab_section(plan: RunPlan, fig: Path) -> list[str]:
    folder = Path(plan.vocab.out)
    stats = _load(folder / "stats.json")
    per_lang = {k: v for k, v in stats.items() if isinstance(v, dict) and "fertility" in v}
    if not per_lang:
        return ["## Vocabulary", "", "The vocabulary stage has not run yet.", ""]
    rows = [[lg, s["fertility"], s["chars_per_piece"], _pct(s["unk_share"]), _pct(s["byte_share"]),
             _pct(s["alphabet_coverage"]) if s.get("alphabet_coverage") is not None else None]
            for lg, s in sorted(per_lang.items())]
    bar_chart(fig / "fertility.png", {"pieces per word": {lg: s["fertility"] for lg, s in sorted(per_lang.items())}},
              f"Tokenizer fertility ({plan.vocab.model_type}, {plan.vocab.vocab_size:,} pieces)",
              "pieces per word", "language")
    return ["## Vocabulary", "",
            f"SentencePiece {plan.vocab.model_type}, {plan.vocab.vocab_size:,} pieces + `<mask>`, trained on a "
            f"temperature-sampled mix (α = {plan.vocab.alpha}) of the corpus (`vocab/`, loads with "
            "`AutoTokenizer.from_pretrained`).", "",
            markdown_table(["language", "fertility (pieces/word)", "chars/piece", "`<unk>` %", "byte pieces %",
                            "alphabet covered %"], rows), "",
            "![tokenizer fertility per language](figures/fertility.png)", ""]


def _metrics(folder: Path) -> list[dict]:
    f = folder / "metrics.jsonl"
    return list(read_jsonl(f)) if f.is_file() else []


def pretrain_section(plan: RunPlan, fig: Path) -> list[str]:
    rows = []
    curves: dict[str, tuple[list, list]] = {}
    heldout: dict[str, dict[str, float]] = {}
    offsets: dict[str, int] = {}
    for name, cfg in plan.arms.items():
        parent = plan.arm_parent.get(name)
        offsets[name] = offsets.get(parent, 0) + plan.arms[parent].train.max_steps if parent else 0
        metrics = _metrics(plan.out / "pretrain" / name)
        train = [r for r in metrics if "loss" in r]
        evals = [r for r in metrics if "eval_loss" in r]
        if train:
            curves[f"{name} (train)"] = ([r["step"] + offsets[name] for r in train], [r["loss"] for r in train])
        if evals:
            curves[f"{name} (held-out mean)"] = ([r["step"] + offsets[name] for r in evals],
                                                 [r["eval_loss"]["mean"] for r in evals])
            heldout[name] = evals[-1]["eval_loss"]
        objs = " + ".join(f"{o['name']} ×{o.get('weight', 1.0)}" for o in cfg.objectives)
        last = train[-1] if train else {}
        rows.append([name, objs, parent or cfg.model.init_from or "random init", last.get("step", 0),
                     last.get("tokens_seen", 0), last.get("loss"),
                     heldout.get(name, {}).get("mean"), round(last.get("tokens_per_s", 0.0))])
    out = ["## Pretraining", "",
           markdown_table(["arm", "objectives", "starts from", "steps", "tokens seen", "last train loss",
                           "held-out MLM loss (mean)", "tokens/s"], rows), ""]
    if curves:
        line_chart(fig / "loss_curves.png", curves, "Pretraining loss (continued arms start where their parent "
                   "stopped)", "step (cumulative)", "loss")
        out += ["![loss curves](figures/loss_curves.png)", ""]
    if heldout:
        langs = sorted({lg for h in heldout.values() for lg in h if lg != "mean"})
        out += ["### Held-out MLM loss per language (last evaluation)", "",
                markdown_table(["arm", *langs, "mean"],
                               [[a, *(h.get(lg) for lg in langs), h.get("mean")] for a, h in heldout.items()]), ""]
    return out


class _Deltas:
    """Δ = target − baseline with a 95% interval and whether it excludes 0.

    Paired bootstrap over the same test examples when both models' per-example predictions (with gold)
    are in `predictions/`; otherwise a normal approximation from the two scores' own intervals in
    results.json (independent errors assumed); otherwise the bare difference. Each cell says which.
    """

    def __init__(self, results: dict[str, dict], folders: dict[str, Path]) -> None:
        self.results, self.folders = results, folders
        self._stats: dict[tuple[str, str, str], Any] = {}
        self.tested = self.significant = 0
        self.methods: set[str] = set()

    def stats(self, label: str, task: str, lang: str):
        key = (label, task, lang)
        if key not in self._stats:
            # No-model baselines keep their records in the evaluation folder (`baseline_folder`); older runs have none.
            folder = self.folders.get(label)
            f = folder / "predictions" / task / f"{lang}.jsonl" if folder is not None else None
            recs = list(read_jsonl(f)) if f is not None and f.is_file() else []
            st = record_stats(TASKS.get(task).metric, lang, recs) if recs else None
            self._stats[key] = (st, [r.get("id") for r in recs])
        return self._stats[key]

    def interval(self, label: str, task: str, lang: str | None) -> dict | None:
        iv = (self.results[label].get("intervals") or {}).get("tasks", {}).get(task, {})
        got = iv.get("mean") if lang is None else iv.get("languages", {}).get(lang)
        return got if got and got.get("ci95") and got.get("score") is not None else None

    def _paired(self, a: str, b: str, task: str, langs: list[str]):
        sa, sb = {}, {}
        for lg in langs:
            (x, ids_x), (y, ids_y) = self.stats(a, task, lg), self.stats(b, task, lg)
            if x is None or y is None or ids_x != ids_y:
                return None
            sa[lg], sb[lg] = x, y
        return paired_delta(sa, sb, task)

    def cell(self, a: str, b: str, task: str, lang: str | None, langs: list[str],
             va: float | None, vb: float | None) -> str:
        """`lang=None`: the mean over `langs` (both models must have scored exactly those)."""
        if va is None or vb is None:
            return ""
        d = None
        paired = self._paired(a, b, task, [lang] if lang else langs) if langs else None
        if paired is not None:
            d = paired["languages"][lang] if lang else paired["mean"]
            method = "paired"
        else:
            ia, ib = self.interval(a, task, lang), self.interval(b, task, lang)
            if lang is None:  # a mean's interval only stands for the same languages
                ia, ib = (i if i and sorted(i.get("languages") or []) == sorted(langs) else None for i in (ia, ib))
            if ia and ib:
                d, method = unpaired_delta(ia, ib), "intervals"
        if d is None:
            self.methods.add("none")
            return f"{va - vb:+.2f} (no interval)".replace("-", "−")
        self.methods.add(method)
        self.tested += 1
        self.significant += d["significant"]
        return format_delta(d, 2) + ("" if method == "paired" else " (from intervals)")


def eval_section(plan: RunPlan, fig: Path) -> list[str]:
    folders = {label: Path(cfg.out) for label, cfg in plan.evals.items()}
    results = {label: _load(folders[label] / "results.json") for label in plan.evals}
    results = {k: v for k, v in results.items() if v}
    if not results:
        return ["## Evaluation", "", "The evaluation stage has not run yet.", ""]

    for r in results.values():  # a user task file's tasks must be known to read their metric
        if (r.get("config") or {}).get("task_file"):
            load_task_file(r["config"]["task_file"])

    # The no-model baselines (same test data for every model) become extra columns, so every model
    # score is read against "no model at all".
    extra: dict[str, Any] = {}
    kept_by: dict[str, str] = {}  # baseline → the evaluation whose folder holds its records
    for label, r in results.items():
        for k, v in as_model_results(r).items():
            if k not in extra:
                extra[k] = v
                kept_by[k] = label
                # their per-example records (same examples as the models'): paired intervals for Δ
                folders[k] = baseline_folder(folders[label], k)
    models = dict(results)
    results.update(extra)
    labels = list(results)
    # The last pretraining arm is the model under study; every other evaluated model is a baseline.
    arms = [lb for lb in labels if lb in plan.arms]
    target = arms[-1] if arms else labels[-1]
    baselines = [lb for lb in labels if lb != target]
    delta_heads = [f"Δ vs {b} [95% CI]" for b in baselines]
    dl = _Deltas(results, folders)

    def plain_deltas(vals: dict[str, float | None]) -> list[float | None]:
        t = vals.get(target)
        return [round(t - vals[b], 2) if t is not None and vals.get(b) is not None else None for b in baselines]

    tasks: list[str] = []
    for r in results.values():
        tasks.extend(t for t in r["tasks"] if t not in tasks)
    out = ["## Evaluation", "",
           "Zero-shot: fine-tuned on English (tagging, NER, QA), or no fine-tuning at all (retrieval: "
           f"{retrieval_method(results)}); the leaderboard's primary score per language, in % "
           "(UD-POS: F1 over tags, as XTREME's evaluate.py; NER: entity F1; QA: (EM + F1) / 2; retrieval: "
           "top-1 accuracy, en→xx for XTREME's tatoeba as its leaderboard, xx→en for the suite), with its 95% bootstrap interval over test examples. "
           f"Δ: `{target}` minus each baseline, with the 95% interval of the difference (paired bootstrap "
           "over the same test examples) and whether it excludes 0. Rows marked `*` are not comparable "
           "with the benchmark (fixture, substitute or overlapping data; reasons in each model's report) "
           "and are left out of means.", ""]
    rows = []
    means: dict[str, dict[str, float]] = {lb: {} for lb in labels}
    mean_rows = []
    no_mean: list[str] = []
    for task in tasks:
        metric = TASKS.get(task).metric
        prim: dict[str, dict[str, float]] = {}
        marked: set[str] = set()
        for lb, r in results.items():
            per = r["tasks"].get(task, {})
            prim[lb] = {lg: primary_score(metric, s) for lg, s in per.items()}
            bad = (r.get("not_comparable") or {}).get(task, {})
            marked |= set(per) if bad.get("task") else set(bad.get("languages", {}))
            # results.json written before comparability existed: its fixture flags still count.
            marked |= {lg for lg, d in r["details"].get(task, {}).get("data", {}).items() if d.get("fixture")}
        shown = primary_name(metric)
        langs = sorted({lg for p in prim.values() for lg in p})
        for lg in langs:
            vals = {lb: prim[lb].get(lg) for lb in labels}
            cells = [format_ci(vals[lb], (dl.interval(lb, task, lg) or {}).get("ci95"), 2) or None for lb in labels]
            rows.append([task, lg + ("*" if lg in marked else ""), shown, *cells,
                         *(dl.cell(target, b, task, lg, [lg], vals[target], vals[b]) for b in baselines)])
        real = [lg for lg in langs if lg not in marked]
        for lb in labels:
            have = [prim[lb][lg] for lg in real if lg in prim[lb]]
            if have and len(have) == len(real):
                means[lb][task] = sum(have) / len(have)
        if not real:
            no_mean.append(task)
            bar_chart(fig / f"eval_{task}.png", {lb: dict(prim[lb]) for lb in labels},
                      f"{task} ({metric})", "score", "language")
            continue
        mean_cells = []
        for lb in labels:
            iv = dl.interval(lb, task, None)
            same = iv is not None and sorted(iv.get("languages") or []) == real
            mean_cells.append(format_ci(means[lb].get(task), iv["ci95"] if same else None, 2) or None)
        mean_rows.append([task, *mean_cells,
                          *(dl.cell(target, b, task, None, real, means[target].get(task), means[b].get(task))
                            for b in baselines)])
        bar_chart(fig / f"eval_{task}.png", {lb: dict(prim[lb]) for lb in labels},
                  f"{task} ({metric})", "score", "language")
    out += [markdown_table(["task", "language", "score", *labels, *delta_heads], rows), "",
            "### Mean over languages per task (comparable languages)", "",
            markdown_table(["task", *labels, *delta_heads], mean_rows), ""]
    if no_mean:
        out += [f"No comparable language, hence no mean: {', '.join(no_mean)}.", ""]
    if baselines:
        method = ("paired bootstrap over the same test examples (1,000 resamples)" if dl.methods <= {"paired"}
                  else "paired bootstrap where both models' per-example predictions are saved, otherwise a "
                  "normal approximation from the two scores' own intervals (marked 'from intervals')")
        out += [f"**Significance.** Of the {dl.tested} differences above with an interval, {dl.significant} "
                f"exclude 0 at 95% (significant); the other {dl.tested - dl.significant} are within the noise "
                "of these test sets: read them as no measured difference. Method: " + method + ". The "
                "intervals cover test-sample noise only; fine-tuning seed variance (`eval.seeds`) and pretraining "
                "seed variance come on top of it (a second pretraining seed of the long recipe moved differences "
                "by about the intervals' half-width: docs/experiments.md), and with many rows a few "
                "'significant' ones are expected by chance.", ""]
    out += also_scoring_section(models, folders, target)
    out += hybrid_section(models, folders, target)
    dev_rows, averaged, selection_only = [], {}, []
    ddl = _Deltas(results, folders)  # its own count: the significance sentence above is about test sets
    for task in tasks:
        metric = TASKS.get(task).metric
        fts = {lb: r["details"].get(task, {}).get("finetune") or {} for lb, r in results.items()}
        dev = {lb: ft.get("dev_scores") for lb, ft in fts.items()}
        whole = {lb: ft.get("source_dev") for lb, ft in fts.items()}
        if any(whole.values()):
            lang = next(w["lang"] for w in whole.values() if w)
            n = next(w["examples"] for w in whole.values() if w)
            for lb in labels:  # the lookups' dev scores come with each model's (the same for every model)
                if whole.get(lb) is None:
                    whole[lb] = next((w["baselines"][lb] for w in whole.values()
                                      if w and lb in (w.get("baselines") or {})), None)
            vals = {lb: primary_score(metric, w["scores"]) if w else None for lb, w in whole.items()}
            # records in predictions/<task>/source-dev/<lang>.jsonl: read as one more "language"
            key = f"{SOURCE_DEV}/{lang}"
            dev_rows.append([task, lang, n, *(format_ci(vals[lb], (whole[lb] or {}).get("ci95"), 2) or None
                                              for lb in labels),
                             *(ddl.cell(target, b, task, key, [key], vals[target], vals[b]) for b in baselines)])
        elif any(dev.values()):  # evaluated before the whole dev split was scored
            vals = {lb: primary_score(metric, d) if d else None for lb, d in dev.items()}
            n = next((ft.get("dev") or {}).get("examples") for ft in fts.values() if ft.get("dev_scores"))
            dev_rows.append([task, TASKS.get(task).train_lang, f"{n} (selection)", *vals.values(),
                             *plain_deltas(vals)])
            selection_only.append(task)
        # eval_xtreme.finetune.AVERAGED (not imported: it would load torch for a report)
        sels = [ft.get("selection", "") for ft in fts.values()]
        averaged.update((task, sel) for sel in sels if sel.startswith("checkpoint averaging"))
    if dev_rows:
        out += ["### Source-language dev score of the fine-tuned models (the language each task fine-tunes on)",
                "", "Transfer is read against this: a zero-shot score means little while the model is weak in its "
                "own source language. Each kept model on its source's whole dev split, with the no-model "
                "lookups on the same sentences; Δ by paired bootstrap over them (rows marked `(selection)`: "
                "see below).", "",
                markdown_table(["task", "source", "dev examples", *labels, *delta_heads], dev_rows), ""]
        if selection_only:
            out += [f"- {', '.join(selection_only)}: evaluated before the whole dev split was scored: the kept "
                    "checkpoint's score on the examples checkpoint selection read (optimistic), no interval.", ""]
        out += [f"- {task}: {sel}." for task, sel in averaged.items()] + ([""] if averaged else [])
    seed_rows = []
    for task in tasks:
        sm = {lb: (r.get("seeds") or {}).get(task, {}).get("task_mean") for lb, r in results.items()}
        if any(sm.values()):
            seed_rows.append([task, *(f"{v['mean']:.2f} ± {v['std']:.2f} ({len(v['per_seed'])} seeds)"
                                      if v else None for v in sm.values())])
    if seed_rows:
        out += ["### Task mean over fine-tuning seeds (mean ± std)", "",
                markdown_table(["task", *labels], seed_rows), ""]
    bar_chart(fig / "eval_means.png", {lb: means[lb] for lb in labels}, "Mean score per task", "score", "task")
    out += ["![mean score per task and model](figures/eval_means.png)", ""]
    suite: dict[str, dict[str, dict]] = {}
    for lb, r in results.items():
        agg = r.get("suite_aggregate") or {}
        suite[lb] = {g: {"score": v, "ci95": (agg.get("groups_ci95") or {}).get(g)}
                     for g, v in agg.get("groups", {}).items()}
        if agg.get("overall") is not None:
            suite[lb]["overall"] = {"score": agg["overall"], "ci95": agg.get("overall_ci95")}
    groups = sorted({g for s in suite.values() for g in s}, key=lambda g: (g == "overall", g))

    def group_delta(g: str, b: str) -> str | float | None:
        x, y = suite[target].get(g), suite[b].get(g)
        if not x or not y:
            return None
        if not x["ci95"] or not y["ci95"]:
            return round(x["score"] - y["score"], 2)
        return format_delta(unpaired_delta(x, y), 2) + " (from intervals)"

    if groups:
        out += ["### Uyghur/Kazakh suite by task group (mean of task means, comparable scores only)", "",
                markdown_table(["group", *labels, *(f"Δ vs {b} [95% CI]" for b in baselines)],
                               [[g, *(format_ci(suite[lb][g]["score"], suite[lb][g]["ci95"], 2)
                                      if g in suite[lb] else None for lb in labels),
                                 *(group_delta(g, b) for b in baselines)] for g in groups]), ""]
    out += [f"![{t}](figures/eval_{t}.png)" for t in tasks] + [""]
    # a baseline has no report of its own: its per-example predictions lie in an evaluation's folder
    out += ["Per-model details (data notes, fine-tuning dev scores, predictions): "
            + ", ".join(f"[{lb}](eval/{lb}/report.md)" for lb in labels if lb in models) + "."
            + ("" if not kept_by else " The baselines' per-example predictions: " + ", ".join(
                f"[{k}](eval/{lb}/baselines/{k.split(':', 1)[-1]}/predictions/)" for k, lb in kept_by.items()) + "."),
            ""]
    return out


def retrieval_method(results: dict[str, dict]) -> str:
    """How the evaluations ({label: results}) searched (`retrieval.scoring`, `layer`, `hubness` of their
    configs; a layer chosen per model on dev is named with its model)."""
    seen: list[str] = []
    chosen: list[str] = []
    for label, r in results.items():
        if not (r.get("config") or {}).get("retrieval"):
            continue  # a baseline's column, or an evaluation without retrieval settings
        rc = r["config"]["retrieval"]
        choice = r.get("retrieval_layer")
        if choice:
            chosen.append(f"{label} {choice['chosen']}")
        layer = "the layer chosen per model on dev sets" if choice else f"layer {rc.get('layer', -1)}"
        text = (f"IDF-weighted token MaxSim from both sides at {layer}" if rc.get("scoring") == "maxsim"
                else f"cosine of mean-pooled states at {layer}")
        if rc.get("hubness", "none") != "none":
            text += f", {rc['hubness'].upper()}-corrected for every system alike"
        if text not in seen:
            seen.append(text)
    return ("nearest neighbour under " + (" / ".join(seen) if seen else "cosine of mean-pooled states")
            + (f" ({', '.join(chosen)})" if chosen else ""))


def hybrid_section(models: dict[str, dict], folders: dict[str, Path], target: str) -> list[str]:
    """Each model fused with the char-n-gram baseline (`retrieval.hybrid`, eval_xtreme/baselines.py) beside
    the baseline alone: a fused column above the baseline means that model knows something about
    translation that surface overlap does not. Empty when no evaluation reported the hybrid."""
    fused = {lb: r for lb, r in models.items() if HYBRID in (r.get("baselines") or {})}
    weights = sorted({str((r.get("config") or {}).get("retrieval", {}).get("hybrid")) for r in fused.values()})
    text = (f"Per query, the model's similarities to every candidate ({retrieval_method(fused)}) "
            f"and `{CHAR_NGRAM}`'s cosines are standardised "
            f"(z-scores over the candidates) and summed with weight {' / '.join(weights)} on the model's "
            "(`retrieval.hybrid`, chosen on dev sets). A fused score above the characters alone means the model "
            "knows something about translation that surface overlap does not; one below means it adds noise. "
            "Δ: paired bootstrap over the same queries.")
    return system_section(models, folders, target, HYBRID, " + char-ngram",
                          "Each model together with character n-grams (hybrid retrieval)", text)


def also_scoring_section(models: dict[str, dict], folders: dict[str, Path], target: str) -> list[str]:
    """Each model under the second retrieval scoring (`retrieval.also_scoring`) beside the characters."""
    names = sorted({n for r in models.values() for n in (r.get("baselines") or {}) if n.startswith(SCORED_PREFIX)})
    out: list[str] = []
    for name in names:
        scoring = name[len(SCORED_PREFIX):]
        text = (f"The same models searched with `retrieval.scoring: {scoring}` "
                + ("(XTREME's: cosine nearest neighbour of mean-pooled states" if scoring == "cosine" else "(")
                + " at the same layer), reported beside the main search so both readings stay visible. "
                "Δ: paired bootstrap over the same queries.")
        out += system_section(models, folders, target, name, f" ({scoring})",
                              f"Each model under `{scoring}` scoring", text)
    return out


def system_section(models: dict[str, dict], folders: dict[str, Path], target: str, system: str, suffix: str,
                   title: str, text: str) -> list[str]:
    """A retrieval system each model has in its `baselines` (`system`), one column per model, beside
    `CHAR_NGRAM`, with the target model's paired Δ against the characters and the other models' columns.
    Empty when no evaluation reported `system`."""
    per_model = {f"{lb}{suffix}": (lb, r) for lb, r in models.items() if system in (r.get("baselines") or {})}
    chars = next((r for r in models.values() if CHAR_NGRAM in (r.get("baselines") or {})), None)
    if not per_model or chars is None:
        return []
    results: dict[str, dict] = {CHAR_NGRAM: as_model_results(chars)[CHAR_NGRAM]}
    where = {CHAR_NGRAM: folders[CHAR_NGRAM]} if CHAR_NGRAM in folders else {}
    for col, (lb, r) in per_model.items():
        results[col] = as_model_results(r, (system,))[system]
        where[col] = baseline_folder(folders[lb], system)
    cols = list(results)
    main = f"{target}{suffix}" if f"{target}{suffix}" in per_model else next(iter(per_model))
    others = [c for c in cols if c != main]
    dl = _Deltas(results, where)
    rows = []
    for task in sorted({t for c in per_model for t in results[c]["tasks"]}):
        metric = TASKS.get(task).metric
        prim = {c: {lg: primary_score(metric, v) for lg, v in results[c]["tasks"].get(task, {}).items()} for c in cols}
        langs = sorted(prim[main])
        for lg in langs:
            vals = {c: prim[c].get(lg) for c in cols}
            rows.append([task, lg, *(vals[c] for c in cols),
                         *(dl.cell(main, b, task, lg, [lg], vals[main], vals[b]) for b in others)])
        if len(langs) > 1:
            means = {c: sum(prim[c][lg] for lg in langs) / len(langs) if all(lg in prim[c] for lg in langs) else None
                     for c in cols}
            rows.append([task, "mean", *(means[c] for c in cols),
                         *(dl.cell(main, b, task, None, langs, means[main], means[b]) for b in others)])
    return [f"### {title}", "", text, "",
            markdown_table(["task", "language", *cols, *(f"Δ {main} vs {b} [95% CI]" for b in others)], rows), ""]


def reproduce_section(plan: RunPlan, state: dict[str, Any]) -> list[str]:
    argv = " ".join(state.get("argv") or ["xling", "run", "RECIPE.yaml", "--out", str(plan.out)])
    v = versions()
    return ["## Commands and versions", "",
            "The whole run (finished stages are skipped; the resolved recipe is `recipe.yaml`):", "",
            "```", argv, "```", "",
            "Each stage alone, from the config it saved:", "",
            "```", *(c for _, c in stage_commands(plan)), "```", "",
            "Versions of the invocation that wrote this report (each stage's commit is in the table at the "
            "top): " + ", ".join(f"{k} `{val}`" for k, val in v.items()) + f"; CPU cores: {os.cpu_count()}.", ""]


def write_run_report(plan: RunPlan, state: dict[str, Any]) -> Path:
    """RUN/report.md and RUN/report.html from what the stages wrote."""
    out = plan.out
    fig = out / "figures"
    fig.mkdir(parents=True, exist_ok=True)
    order = ["corpus", "vocab", *(f"pretrain/{a}" for a in plan.arms), *(f"eval/{e}" for e in plan.evals)]
    stages = state.get("stages", {})
    stage_rows = [[k, v.get("status", ""), v.get("seconds", 0.0), v.get("seconds_when_run", v.get("seconds", 0.0)),
                   ", ".join(f"`{c[:10]}`" for c in v.get("commits_when_run") or [v.get("commit_when_run", "")] if c)]
                  for k, v in sorted(stages.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)]
    total = sum(r[3] or 0.0 for r in stage_rows)
    lines = [f"# xling run `{plan.recipe.name}`", "",
             f"Run folder `{out}`; report written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"Compute time of all stages: {total / 60:.1f} min.", "",
             markdown_table(["stage", "this invocation", "seconds (this invocation)", "seconds (when it ran)",
                             "commit (when it ran)"], stage_rows, digits=1), ""]
    lines += corpus_section(plan, fig)
    lines += vocab_section(plan, fig)
    lines += pretrain_section(plan, fig)
    lines += eval_section(plan, fig)
    lines += reproduce_section(plan, state)
    md = "\n".join(lines)
    report = write_text_atomic(out / "report.md", md)
    write_text_atomic(out / "report.html", markdown_to_html(md, out, f"xling run {plan.recipe.name}"))
    return report


def stage_commands(plan: RunPlan) -> list[tuple[str, str]]:
    """(stage, the stand-alone command that redoes it from the configs saved in RUN)."""
    return commands_for(plan.out, list(plan.arms), [cfg.out for cfg in plan.evals.values()])


def commands_for(out: Path, arms: list[str], eval_outs: list[str]) -> list[tuple[str, str]]:
    """`stage_commands` for a run folder `out` with these arms and evaluation folders (a model card
    names only its own arm's, from the folder alone)."""
    q = shlex.quote
    cmds = [("corpus", f"xling corpora build {q(str(out / 'corpus' / 'recipe.yaml'))} --out {q(str(out / 'corpus'))}"),
            ("vocab", f"xling vocab train --config {q(str(out / 'vocab' / 'config.yaml'))}")]
    for name in arms:
        folder = out / "pretrain" / name
        cmds.append((f"pretrain/{name}", f"xling pretrain {q(str(folder / 'config.yaml'))} --out {q(str(folder))}"))
    for ev in eval_outs:
        cmds.append((f"eval/{Path(ev).name}", f"xling eval run --config {q(str(Path(ev) / 'config.yaml'))}"))
    return cmds
