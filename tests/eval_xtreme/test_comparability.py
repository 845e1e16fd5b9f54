"""Aggregate honesty: only scores from the benchmark's own train/dev/test splits enter an aggregate.

One test per reason a score is not comparable (fixture, substitute, dev-as-test, test-as-dev,
training data overlapping the test set), on the real data root where it shows up there.
"""

from __future__ import annotations

import json
import lzma

import pytest

from eval_xtreme.loaders import load_split
from eval_xtreme.runner import (
    EvalConfig,
    announce,
    collect_results,
    file_reasons,
    overlap_reasons,
    plan,
    write_report,
)
from eval_xtreme.tasks import get_task


def _xquad_ids(data_root, lang: str, paragraphs: slice | None = None) -> list[str]:
    """Question ids straight from the raw XQuAD JSON (not through our loader)."""
    with lzma.open(data_root / f"xquad/xquad.{lang}.json.xz", "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    paras = [p for a in articles for p in a["paragraphs"]]
    return [q["id"] for p in paras[paragraphs or slice(None)] for q in p["qas"]]


def test_fixture_reason(data_root):
    # PAWS-X English training data exists here only as a few-row format fixture.
    df = get_task("pawsx").resolve("train", "en", data_root, allow_fixtures=True)
    assert df.fixture and file_reasons(df)[0].startswith("fixture: the train data is an official-layout format")
    assert EvalConfig(model="m").allow_fixtures is False
    with pytest.raises(FileNotFoundError):
        get_task("pawsx").resolve("train", "en", data_root, allow_fixtures=EvalConfig(model="m").allow_fixtures)


def test_substitute_reason(data_root):
    # SQuAD v1.1 is absent: XQuAD-en paragraphs stand in for its train split.
    df = get_task("xquad").resolve("train", "en", data_root, allow_fixtures=False)
    assert file_reasons(df) == ["substitute train data: XQuAD-en paragraphs 0-199 (SQuAD v1.1 train is not in "
                                "the data root)"]


def test_dev_as_test_reason(data_root):
    df = get_task("mlqa").resolve("test", "de", data_root, allow_fixtures=False)
    assert file_reasons(df)[0].startswith("dev-as-test: MLQA de-de dev")
    assert file_reasons(get_task("xnli").resolve("test", "de", data_root, allow_fixtures=False)) == []


def test_training_overlap_and_test_as_dev_reasons(data_root):
    # XQuAD-de is a translation of XQuAD-en: the substitute training paragraphs 0-199 hold the same
    # question ids as most of its test set, and the dev paragraphs 200-239 the rest.
    task = get_task("xquad")
    train, _ = load_split(task, "train", "en", data_root, allow_fixtures=False)
    dev, _ = load_split(task, "dev", "en", data_root, allow_fixtures=False)
    test, _ = load_split(task, "test", "de", data_root, allow_fixtures=False)
    de = _xquad_ids(data_root, "de")
    in_train = len(set(de) & set(_xquad_ids(data_root, "en", slice(0, 200))))
    in_dev = len(set(de) & set(_xquad_ids(data_root, "en", slice(200, 240))))
    assert in_train / len(de) > 0.8 and in_train + in_dev == len(de) == 1190
    reasons = overlap_reasons(task, train, dev, test)
    assert reasons == [
        f"training set overlaps the test set: {in_train} of 1190 test examples ({100 * in_train / 1190:.0f}%) are "
        "in the training set (same question id)",
        f"test-as-dev: {in_dev} of 1190 test examples ({100 * in_dev / 1190:.0f}%) are in the dev set the model "
        "was selected on (same question id)"]
    # Text-keyed tasks: a shared sentence pair counts, a row number alone does not.
    pawsx = get_task("pawsx")
    from eval_xtreme.loaders import PairExample
    tr = [PairExample("1", "A b", "c", "1"), PairExample("2", "x", "y", "0")]
    te = [PairExample("1", "other", "pair", "1"), PairExample("9", "a  B", "C", "1")]
    assert overlap_reasons(pawsx, tr, [], te) == [
        "training set overlaps the test set: 1 of 2 test examples (50%) are in the training set (same text)"]


def test_tydiqa_never_selects_on_test():
    task = get_task("tydiqa")
    assert "dev" not in task.files  # XTREME keeps the final model; its only "dev" would be the test set


def test_substitute_run_says_so_before_it_starts(data_root, capsys):
    cfg = EvalConfig(model="m", tasks=["xquad:de", "mlqa:de", "xnli:de"])
    said = announce(cfg, plan(cfg))
    err = capsys.readouterr().err
    assert set(said) == {"xquad", "mlqa"}
    assert "NOT COMPARABLE (kept out of every aggregate): xquad: substitute train data: XQuAD-en" in err
    assert "mlqa: de: dev-as-test" in err and "xnli" not in err


def _summary(task: str, scores: dict, comp: dict) -> dict:
    data = {lg: {"files": [], "format": "x", "examples": 10, "fixture": False, "substitute": "", "split_used": "test"}
            for lg in scores}
    iv = {lg: {"score": next(iter(s.values())), "ci95": [0.0, 100.0], "n": 10,
               "replicates": [next(iter(s.values()))] * 4} for lg, s in scores.items()}
    return {"task": task, "scores": scores, "data": data, "skipped": {}, "intervals": iv, "comparability": comp}


def test_aggregate_holds_only_comparable_scores(tmp_path, monkeypatch):
    monkeypatch.setattr("eval_xtreme.runner.versions", dict)  # importing torch for versions is slow
    out = tmp_path / "run"
    (out / "tasks").mkdir(parents=True)
    summaries = {
        "xnli": _summary("xnli", {"de": {"accuracy": 60.0}, "fr": {"accuracy": 50.0}}, {"task": [], "languages": {}}),
        "xquad": _summary("xquad", {"de": {"exact_match": 40.0, "f1": 50.0}},
                          {"task": ["substitute train data: XQuAD-en paragraphs 0-199"], "languages": {}}),
        "mlqa": _summary("mlqa", {"de": {"exact_match": 10.0, "f1": 20.0}, "es": {"exact_match": 30.0, "f1": 40.0}},
                         {"task": [], "languages": {"de": ["dev-as-test: MLQA de-de dev"]}}),
    }
    for name, s in summaries.items():
        (out / "tasks" / f"{name}.json").write_text(json.dumps(s), encoding="utf-8")
    cfg = EvalConfig(model="m", tasks=list(summaries), out=str(out))
    res = collect_results(cfg, out, list(summaries), {"xquad": ["substitute train data: …"]})
    agg = res["aggregate"]
    assert set(agg["tasks"]) == {"xnli", "mlqa"}  # xquad: trained on a substitute, nowhere in the aggregate
    assert agg["tasks"]["xnli"]["avg_metric"] == 55.0
    assert agg["tasks"]["mlqa"]["per_language"] == {"es": 35.0}  # de is a dev split standing in for test
    assert "de" in agg["tasks"]["mlqa"]["missing_languages"] and not agg["tasks"]["mlqa"]["complete"]
    assert set(res["not_comparable"]) == {"xquad", "mlqa"}
    assert res["tasks"]["xquad"]["de"] == {"exact_match": 40.0, "f1": 50.0}  # still shown
    assert res["intervals"]["tasks"]["xnli"]["languages"]["de"] == {"score": 60.0, "ci95": [0.0, 100.0], "n": 10}
    assert res["intervals"]["tasks"]["xnli"]["mean"]["ci95"] == [55.0, 55.0]
    assert agg["tasks"]["xnli"]["ci95"] == [55.0, 55.0] and agg["groups_ci95"] == {}
    assert res["announced"] == {"xquad": ["substitute train data: …"]}
    report = write_report(res, out).read_text(encoding="utf-8")
    assert "- xquad: not comparable: substitute train data: XQuAD-en paragraphs 0-199" in report
    assert "- mlqa/de: not comparable: dev-as-test: MLQA de-de dev" in report
    assert "de 15.0 [0.0, 100.0]*, es 35.0 [0.0, 100.0]" in report


def test_xling_run_announces_at_planning_time(data_root, capsys):
    # `xling run` checks its eval data before the corpus stage: the substitute shows up then, not hours later.
    from xling.run import _check_eval_data

    _check_eval_data(EvalConfig(model="m", tasks=["kazqad", "tatoeba_turkic:kk"]))
    err = capsys.readouterr().err
    assert "NOT COMPARABLE (kept out of every aggregate): kazqad: substitute train data: XQuAD-en" in err
    assert "kazqad: kk: dev-as-test: KazQAD validation" in err and "tatoeba_turkic" not in err
