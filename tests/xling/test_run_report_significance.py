"""The run report's Δ columns: paired bootstrap intervals, said significant or not, in a report that checks out."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from eval_xtreme.uncertainty import record_stats, summarize
from xling.html_report import markdown_to_html
from xling.io import write_jsonl_atomic
from xling.run_report import check_report, eval_section

Z = 1.959963984540054


def _write_model(folder: Path, task: str, lang: str, metric_key: str, records: list[dict], metric: str,
                 not_comparable: dict | None = None) -> None:
    write_jsonl_atomic(folder / "predictions" / task / f"{lang}.jsonl", records)
    st = record_stats(metric, lang, records)
    s = summarize(st, f"{task}/{lang}")
    results = json.loads((folder / "results.json").read_text()) if (folder / "results.json").is_file() else {
        "tasks": {}, "details": {}, "intervals": {"tasks": {}}, "not_comparable": {}}
    results["tasks"].setdefault(task, {})[lang] = {metric_key: s["score"]}
    results["details"].setdefault(task, {"data": {}})["data"][lang] = {"fixture": False}
    results["intervals"]["tasks"][task] = {"languages": {lang: {k: s[k] for k in ("score", "ci95", "n")}},
                                           "mean": {"score": s["score"], "ci95": s["ci95"], "languages": [lang]}}
    results["not_comparable"].update(not_comparable or {})
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")


@pytest.fixture
def two_models(tmp_path):
    rng = np.random.default_rng(7)
    n = 2000
    gold = list(range(n))
    base = rng.random(n) < 0.30
    better = base | (rng.random(n) < 0.10)  # ~7 points more, on the same queries: clearly significant
    folders = {"mlm": tmp_path / "eval" / "mlm", "mlm-tlm": tmp_path / "eval" / "mlm-tlm"}
    for label, hits in (("mlm", base), ("mlm-tlm", better)):
        recs = [{"id": str(i), "prediction": i if h else (i + 1) % n, "gold": i} for i, h in zip(gold, hits, strict=True)]
        _write_model(folders[label], "tatoeba_turkic", "kk", "accuracy", recs, "retrieval_accuracy")
    # A tagging task where the two models differ on 3 of 300 sentences: noise.
    tags = [["NOUN", "VERB", "PUNCT"]] * 300
    for label, wrong in (("mlm", {1, 2, 3}), ("mlm-tlm", {4, 5, 6})):
        recs = [{"id": str(i), "prediction": ["NOUN", "NOUN", "PUNCT"] if i in wrong else t, "gold": t}
                for i, t in enumerate(tags)]
        _write_model(folders[label], "udpos_turkic", "kk", "f1", recs, "pos_accuracy",
                     {"udpos_turkic": {"task": [], "languages": {"kk": ["dev-as-test: x"]}}} if label == "mlm" else None)
    plan = SimpleNamespace(evals={lb: SimpleNamespace(out=str(f)) for lb, f in folders.items()},
                           arms={"mlm": None, "mlm-tlm": None})
    return plan, tmp_path, base, better


def test_delta_cells_say_whether_the_interval_excludes_zero(two_models):
    plan, tmp, base, better = two_models
    md = "\n".join(eval_section(plan, tmp / "figures"))
    lines = md.splitlines()
    row = next(x for x in lines if x.startswith("| tatoeba_turkic | kk |"))
    # Independent check: normal approximation of the paired per-query differences.
    d = 100 * (better.astype(float) - base.astype(float))
    half = Z * d.std() / math.sqrt(len(d))
    cell = row.rstrip(" |").rsplit("|", 1)[1].strip()
    got = [float(x.replace("−", "-")) for x in cell.split("[")[1].split("]")[0].split(",")]
    assert got[0] == pytest.approx(d.mean() - half, abs=0.15) and got[1] == pytest.approx(d.mean() + half, abs=0.15)
    assert cell.startswith(f"+{d.mean():.2f} [") and cell.endswith(", significant")
    pos = next(x for x in lines if x.startswith("| udpos_turkic | kk* |"))  # marked: not comparable for one model
    assert pos.rstrip(" |").endswith("not significant")
    assert "**Significance.** Of the 3 differences above with an interval, 2 exclude 0" in md
    assert "within the noise" in md
    # The report still checks out: parsable HTML, embedded PNGs, a number in every table row.
    (tmp / "report.md").write_text(md, encoding="utf-8")
    (tmp / "report.html").write_text(markdown_to_html(md, tmp, "t"), encoding="utf-8")
    assert check_report(tmp) == []


def test_without_predictions_the_intervals_method_is_named(two_models):
    plan, tmp, _, _ = two_models
    for label in ("mlm", "mlm-tlm"):
        (tmp / "eval" / label / "predictions" / "tatoeba_turkic" / "kk.jsonl").unlink()
    row = next(x for x in "\n".join(eval_section(plan, tmp / "figures")).splitlines()
               if x.startswith("| tatoeba_turkic | kk |"))
    assert row.rstrip(" |").endswith("significant (from intervals)")
