"""`xling eval run` end to end on a reduced task set; its outputs must pass `xling eval submit/validate`."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest
import yaml

from eval_xtreme.runner import EvalConfig, plan, run_eval
from xling.cli import main
from xling.core.config import ConfigError, load_config
from xling.core.io import read_json, read_jsonl

REPO = Path(__file__).resolve().parents[2]
TASKS = "tatoeba_turkic:kk,udpos_turkic:kk,pawsx:de+en"


@pytest.fixture(scope="module")
def eval_run(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "out"
    rc = main(["eval", "run", "--model", str(tiny_encoder), "--tasks", TASKS, "--out", str(out),
               "--max-train", "32", "--max-steps", "2", "--threads", "1", "--allow-fixtures", "--seeds", "1,2",
               "--set", "finetune.batch_size=8", "--set", "finetune.max_dev_examples=16"])
    assert rc == 0
    return out


@pytest.mark.slow
def test_run_writes_results_predictions_report(eval_run, data_root, capsys):
    out = eval_run
    results = read_json(out / "results.json")
    assert set(results) >= {"config", "model", "tasks", "aggregate", "versions"}
    assert set(results["tasks"]) == {"tatoeba_turkic", "udpos_turkic", "pawsx"}
    assert set(results["tasks"]["pawsx"]) == {"de", "en"}
    assert results["details"]["pawsx"]["data"]["en"]["fixture"] is True
    assert results["details"]["pawsx"]["data"]["de"]["fixture"] is False
    # PAWS-X English training data is a format fixture here: no PAWS-X score is comparable, so the
    # leaderboard aggregate has nothing to hold, and says why beside it.
    assert results["aggregate"] is None
    assert results["not_comparable"]["pawsx"]["task"][0].startswith("fixture: the train data")
    assert results["announced"]["pawsx"][0].startswith("fixture: the train data")
    assert set(results["suite_aggregate"]["tasks"]) == {"tatoeba_turkic", "udpos_turkic"}
    # Every score has a 95% interval around it; the task mean too.
    for task, lang in (("pawsx", "de"), ("tatoeba_turkic", "kk"), ("udpos_turkic", "kk")):
        iv = results["intervals"]["tasks"][task]["languages"][lang]
        assert iv["ci95"][0] <= iv["score"] <= iv["ci95"][1] and iv["ci95"][0] < iv["ci95"][1]
        assert results["intervals"]["tasks"][task]["mean"]["ci95"] is not None
    assert results["suite_aggregate"]["tasks"]["udpos_turkic"]["ci95"] is not None
    # Two fine-tuning seeds: per-seed scores, mean ± std; `tasks` is the first seed's.
    seeds = results["seeds"]["udpos_turkic"]
    assert seeds["seeds"] == [1, 2] and set(seeds["per_seed"]) == {"1", "2"}
    s1, s2 = seeds["per_seed"]["1"]["kk"], seeds["per_seed"]["2"]["kk"]
    assert s1 == pytest.approx(results["tasks"]["udpos_turkic"]["kk"]["f1"])
    assert seeds["languages"]["kk"]["mean"] == pytest.approx((s1 + s2) / 2)
    assert seeds["languages"]["kk"]["std"] == pytest.approx(abs(s1 - s2) / 2 ** 0.5)
    assert (out / "predictions" / "udpos_turkic" / "seed-2" / "kk.jsonl").is_file()
    assert "tatoeba_turkic" not in results["seeds"]  # retrieval has no fine-tuning seed
    for metric_scores in (results["tasks"]["tatoeba_turkic"]["kk"], results["tasks"]["udpos_turkic"]["kk"]):
        assert all(0.0 <= v <= 100.0 for v in metric_scores.values())
    # Predictions: one record per test example, in test-set order.
    tat = list(read_jsonl(out / "predictions" / "tatoeba_turkic" / "kk.jsonl"))
    assert len(tat) == 575 and [r["gold"] for r in tat] == list(range(575))
    pos = list(read_jsonl(out / "predictions" / "udpos_turkic" / "kk.jsonl"))
    assert len(pos) == 1047 and all(len(r["prediction"]) == len(r["gold"]) for r in pos)
    paws = (out / "predictions" / "pawsx" / "de.jsonl").read_text().splitlines()
    assert len(paws) == 2000
    cfg = load_config(EvalConfig, out / "config.yaml")
    assert cfg.tasks == TASKS.split(",") and cfg.finetune.max_steps == 2
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "pawsx" in report and "- pawsx: not comparable: fixture" in report and "Fine-tuning seeds" in report
    for task in ("tatoeba_turkic", "udpos_turkic", "pawsx"):
        assert (out / "charts" / f"{task}.png").stat().st_size > 1000
        assert (out / "finetune" / task / "seed-1" / "stage.json").is_file() or task == "tatoeba_turkic"

    # Engineer B's submit/validate accept what the run wrote.
    sub = out.parent / "submission"
    assert main(["eval", "submit", str(out), "--to", str(sub), "--tasks", "pawsx", "tatoeba_turkic",
                 "udpos_turkic"]) == 0
    assert (sub / "pawsx" / "test-de.tsv").read_text().count("\n") == 2000
    assert main(["eval", "validate", str(sub), "--partial", "--tasks", "pawsx", "tatoeba_turkic",
                 "udpos_turkic"]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.slow
def test_rerun_skips_finished_tasks(eval_run, tiny_encoder, caplog):
    before = (eval_run / "tasks" / "pawsx.json").stat().st_mtime_ns
    caplog.set_level("INFO", logger="eval_xtreme.runner")
    cfg = load_config(EvalConfig, eval_run / "config.yaml")
    run_eval(cfg)
    assert (eval_run / "tasks" / "pawsx.json").stat().st_mtime_ns == before
    assert sum("already evaluated" in r.message for r in caplog.records) == 3


def test_retrieval_run_scores_with_intervals(tiny_encoder, tmp_path):
    from eval_xtreme.metrics import compute

    out = tmp_path / "o"
    rc = main(["eval", "run", "--model", str(tiny_encoder), "--tasks", "tatoeba_turkic:kk,flores_en_ug",
               "--out", str(out), "--threads", "1", "--max-eval", "200"])
    assert rc == 0
    results = read_json(out / "results.json")
    recs = list(read_jsonl(out / "predictions" / "tatoeba_turkic" / "kk.jsonl"))
    iv = results["intervals"]["tasks"]["tatoeba_turkic"]["languages"]["kk"]
    assert iv["score"] == pytest.approx(compute("retrieval_accuracy", [r["prediction"] for r in recs],
                                                [r["gold"] for r in recs])["accuracy"])
    assert iv["n"] == len(recs) and iv["ci95"][0] <= iv["score"] <= iv["ci95"][1]
    # FLORES devtest is held out: its dev split stands in, so it stays out of the suite aggregate.
    assert results["not_comparable"]["flores_en_ug"]["languages"]["ug"][0].startswith("dev-as-test: FLORES-200 dev")
    assert set(results["suite_aggregate"]["tasks"]) == {"tatoeba_turkic"}


def test_missing_data_errors_name_task_language_path(tiny_encoder, tmp_path):
    cfg = EvalConfig(model=str(tiny_encoder), tasks=["tatoeba_turkic:ug"], out=str(tmp_path / "o"),
                     data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"tatoeba_turkic, language ug.*tatoeba\.uig-eng\.uig"):
        run_eval(cfg)
    # Without an explicit language list, languages without data are skipped, but a task with none fails.
    cfg.tasks = ["flores_en_ug"]
    with pytest.raises(FileNotFoundError, match=r"task flores_en_ug: no test data for any of ug"):
        run_eval(cfg)


def test_cli_error_is_reported_not_raised(tmp_path, capsys):
    rc = main(["eval", "run", "--model", str(tmp_path / "nope"), "--tasks", "xnli:zz", "--out", str(tmp_path)])
    assert rc == 2 and "language(s) zz not in its languages" in capsys.readouterr().err


def test_plan_filters_languages():
    cfg = EvalConfig(model="m", tasks=["tatoeba_turkic", "udpos_turkic"], languages=["kk", "ug"])
    assert [(t.name, langs) for t, langs, _ in plan(cfg)] == [("tatoeba_turkic", ("ug", "kk")),
                                                              ("udpos_turkic", ("ug", "kk"))]
    with pytest.raises(ValueError, match="none of its languages"):
        plan(EvalConfig(model="m", tasks=["xnli"], languages=["kk"]))


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").glob("eval-*.yaml")), ids=lambda p: p.name)
def test_recipes_load(recipe):
    cfg = load_config(EvalConfig, recipe)
    assert cfg.tasks and all(plan(cfg))
    assert yaml.safe_load(recipe.read_text())  # plain YAML, no tags


def test_unknown_config_key_is_named(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model: m\nfinetune:\n  learning_rat: 1e-5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"finetune\.learning_rat.*did you mean 'learning_rate'"):
        load_config(EvalConfig, p)


def test_max_eval_applies_to_retrieval_and_is_refused_for_bucc(tiny_encoder, tmp_path):
    out = tmp_path / "o"
    results = run_eval(EvalConfig(model=str(tiny_encoder), tasks=["tatoeba:kk"], out=str(out), threads=1,
                                  max_eval_examples=30))
    records = list(read_jsonl(out / "predictions" / "tatoeba" / "kk.jsonl"))
    # en → xx: one record per kept (sorted) English sentence, naming one of the first 30 sources.
    assert len(records) == 30 and {r["gold"] for r in records} == set(range(30))
    assert {r["query"] for r in records} == {"target"}
    assert results["details"]["tatoeba"]["data"]["kk"]["examples"] == 30
    assert set(results["tasks"]["tatoeba"]["kk"]) == {"accuracy", "accuracy_xx_en", "accuracy_en_xx"}
    assert "tatoeba: accuracy is en→xx, the leaderboard's direction; en→xx / xx→en per language: kk " \
        in (out / "report.md").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="bucc2018 mines the whole corpus"):
        run_eval(EvalConfig(model=str(tiny_encoder), tasks=["bucc2018"], out=str(tmp_path / "b"),
                            max_eval_examples=30))


def test_task_finetune_changes_one_task_only_and_its_fingerprint():
    from eval_xtreme.runner import _settings, finetune_config
    from eval_xtreme.tasks import get_task
    from xling.core.config import from_dict

    cfg = from_dict(EvalConfig, {"tasks": ["udpos_turkic", "kaznerd"], "finetune": {"max_steps": 100},
                                 "task_finetune": {"udpos_turkic": {"max_steps": "600", "learning_rate": 3e-3}}}, "t")
    assert finetune_config(cfg, "udpos_turkic").max_steps == 600  # cast to the field's type
    assert finetune_config(cfg, "udpos_turkic").learning_rate == 3e-3
    assert finetune_config(cfg, "kaznerd").max_steps == 100
    # the change is part of what the finished task's record depends on, for that task only
    assert _settings(cfg, get_task("udpos_turkic"))["max_steps"] == 600
    assert _settings(cfg, get_task("kaznerd"))["max_steps"] == 100
    for bad, match in [({"nope": {"max_steps": 1}}, "not a registered task"),
                       ({"udpos_turkic": {"steps": 1}}, r"task_finetune.udpos_turkic.steps: not a finetune field"),
                       ({"udpos_turkic": {"max_steps": "x"}}, "task_finetune.udpos_turkic")]:
        with pytest.raises(ConfigError, match=match):
            from_dict(EvalConfig, {"tasks": ["udpos_turkic"], "task_finetune": bad}, "t")


def test_force_keep_unchanged_redoes_only_the_changed_task(tiny_encoder, tmp_path):
    import dataclasses

    from xling.core.errors import XlingError

    out = tmp_path / "o"
    rc = main(["eval", "run", "--model", str(tiny_encoder), "--tasks", "tatoeba_turkic:kk,udpos_turkic:kk",
               "--out", str(out), "--max-train", "16", "--max-steps", "1", "--threads", "1", "--max-eval", "20",
               "--set", "finetune.batch_size=8", "--set", "finetune.max_dev_examples=8"])
    assert rc == 0
    retrieval, tagging = out / "tasks" / "tatoeba_turkic.json", out / "tasks" / "udpos_turkic.json"
    before = {p: p.stat().st_mtime_ns for p in (retrieval, tagging)}
    cfg = load_config(EvalConfig, out / "config.yaml")
    changed = dataclasses.replace(cfg, task_finetune={"udpos_turkic": {"dropout": 0.0}})
    with pytest.raises(XlingError, match=r"dropout: <unset> → 0\.0"):
        run_eval(changed)
    run_eval(changed, force=True, keep_unchanged=True)  # what `xling run --force` does
    assert retrieval.stat().st_mtime_ns == before[retrieval]
    assert tagging.stat().st_mtime_ns != before[tagging]
    assert read_json(out / "finetune" / "udpos_turkic" / "stage.json")["fingerprint_body"]["config"]["dropout"] == 0.0
    run_eval(changed, force=True)  # `xling eval run --force`: every task again
    assert retrieval.stat().st_mtime_ns != before[retrieval]


def test_an_averaged_fine_tuning_says_so_in_results_and_the_run_report(tiny_encoder, tmp_path):
    from types import SimpleNamespace

    from eval_xtreme.finetune import FinetuneConfig
    from xling.run_report import eval_section

    out = tmp_path / "out"
    run_eval(EvalConfig(model=str(tiny_encoder), tasks=["udpos_turkic:kk"], out=str(out), threads=1,
                        max_eval_examples=4, finetune=FinetuneConfig(max_steps=4, batch_size=4, max_train_examples=8,
                                                                     max_dev_examples=4, average_every=2,
                                                                     average_from=0.5)))
    ft = read_json(out / "results.json")["details"]["udpos_turkic"]["finetune"]
    said = ("checkpoint averaging: the mean of the weights every 2 steps from 50% of the run on and at the last "
            "step; its dev score (en) is the one reported")
    assert ft["selection"] == said
    assert read_json(out / "finetune" / "udpos_turkic" / "best" / "meta.json")["averaged_checkpoints"] == 1
    plan = SimpleNamespace(evals={"studied": SimpleNamespace(out=str(out))}, arms={"studied": None})
    (tmp_path / "fig").mkdir()
    assert f"- udpos_turkic: {said}." in "\n".join(eval_section(plan, tmp_path / "fig"))


def test_source_level_is_read_on_the_whole_dev_split_with_the_lookups_beside_it(tiny_encoder, tmp_path, data_root):
    """Checkpoint selection reads a subset of the dev split; the source level is then scored on all of it,
    with an interval, and the lookups on the same sentences. Scores against seqeval (XTREME's own scorer
    for UD-POS) on the written records; the record count against the CoNLL-U file itself."""
    from types import SimpleNamespace

    from seqeval.metrics import f1_score

    from eval_xtreme.finetune import FinetuneConfig
    from xling.run_report import eval_section

    out = tmp_path / "out"
    run_eval(EvalConfig(model=str(tiny_encoder), tasks=["udpos_turkic_tr:kk"], out=str(out), threads=1,
                        max_eval_examples=4, bootstrap_resamples=200,
                        finetune=FinetuneConfig(max_steps=2, batch_size=4, max_train_examples=8, max_dev_examples=4,
                                                suffix_features=4, suffix_spelling="turkic")))
    results = read_json(out / "results.json")
    ft = results["details"]["udpos_turkic_tr"]["finetune"]
    assert ft["dev"]["examples"] == 4  # what selection read
    sd = ft["source_dev"]
    conllu = data_root / "udpos" / "UD_Turkish-IMST" / "tr_imst-ud-dev.conllu.xz"
    with lzma.open(conllu, "rt", encoding="utf-8") as f:
        n_sentences = f.read().count("# sent_id")
    assert sd["lang"] == "tr" and sd["examples"] == n_sentences > 1000
    recs = list(read_jsonl(out / "predictions" / "udpos_turkic_tr" / "source-dev" / "tr.jsonl"))
    assert len(recs) == n_sentences
    assert sd["scores"]["f1"] == pytest.approx(100 * f1_score([r["gold"] for r in recs],
                                                              [r["prediction"] for r in recs]))
    assert sd["ci95"][0] <= sd["scores"]["f1"] <= sd["ci95"][1]
    assert set(sd["baselines"]) == {"baseline:mft", "baseline:mft-turkic"}
    for name, b in sd["baselines"].items():
        brecs = list(read_jsonl(out / "baselines" / name.split(":")[1] / "predictions" / "udpos_turkic_tr"
                                / "source-dev" / "tr.jsonl"))
        assert [r["id"] for r in brecs] == [r["id"] for r in recs]
        assert b["scores"]["f1"] == pytest.approx(100 * f1_score([r["gold"] for r in brecs],
                                                                 [r["prediction"] for r in brecs]))
        assert b["ci95"][0] <= b["scores"]["f1"] <= b["ci95"][1]
    # a lookup learnt from IMST train tags IMST dev far better than a 2-step tagger
    assert sd["baselines"]["baseline:mft"]["scores"]["f1"] > 60 > sd["scores"]["f1"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Source language: the fine-tuned model on its whole dev split" in report
    assert f"| udpos_turkic_tr | tr | {n_sentences:,} |" in report

    plan = SimpleNamespace(evals={"studied": SimpleNamespace(out=str(out))}, arms={"studied": None})
    (tmp_path / "fig").mkdir()
    text = "\n".join(eval_section(plan, tmp_path / "fig"))
    row = next(line for line in text.splitlines() if line.startswith(f"| udpos_turkic_tr | tr | {n_sentences:,} |"))
    mft = sd["baselines"]["baseline:mft"]["scores"]["f1"]
    assert f"{mft:.2f} [" in row and "significant" in row  # the lookup's column, and a paired Δ against it
    assert f"{sd['scores']['f1'] - mft:+.2f}".replace("-", "−") in row
