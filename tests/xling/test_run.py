"""`xling run`: recipe checks before any work, a reduced end-to-end demo, resume, and the report check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from report_check import check_report

from xling.cli import main
from xling.core.config import ConfigError
from xling.core.io import read_json, read_jsonl
from xling.core.stage import StageError
from xling.run import load_run_recipe, plan_run, run

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recipes" / "kk-ug-demo.yaml"


def _demo_dict() -> dict:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict, name: str = "recipe.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def test_demo_recipe_checks_out(data_root, tmp_path):
    plan = plan_run(load_run_recipe(DEMO), tmp_path / "run")
    assert list(plan.arms) == ["mlm", "mlm-continued", "xling"]
    assert plan.arm_parent == {"mlm-continued": "mlm", "xling": "mlm"}
    tlm = plan.arms["xling"]
    assert tlm.model.init_from == str(tmp_path / "run" / "pretrain" / "mlm" / "final")
    base = plan.arms["mlm"].train  # the arm's own `set:` reaches it: 600 steps so that it leaves the unigram plateau
    assert tlm.train.max_steps == 600 and (base.max_steps, base.warmup_steps, base.lr) == (600, 60, 1.0e-3)
    # pretraining samples languages with the corpus recipe's temperature
    assert plan.arms["mlm"].data.alpha == 0.3 and plan.arms["mlm"].data.max_repeats == 10
    assert plan.arms["mlm"].data.corpus == [str(tmp_path / "run" / "corpus" / "decontam")]
    assert plan.vocab.inputs == [str(tmp_path / "run" / "corpus" / "decontam")]
    assert set(plan.evals) == {"mlm-continued", "xling"}  # the control and the studied arm
    assert [o["name"] for o in tlm.objectives] == ["mlm", "tlm", "xlco"]
    for key in ("max_steps", "global_batch_size", "micro_batch_size", "lr", "warmup_steps"):  # the same budget
        assert getattr(tlm.train, key) == getattr(plan.arms["mlm-continued"].train, key), key
    assert not (tmp_path / "run").exists()  # checking writes nothing


@pytest.mark.parametrize("key, value, named", [
    (("pretrain", "common", "train", "max_stepz"), 5, "max_stepz"),
    (("vocab", "vocab_sise"), 100, "vocab_sise"),
    (("corpus", "mix", "alpha"), "high", "corpus.mix.alpha"),
    (("eval", "finetune", "learning_rat"), 0.1, "learning_rat"),
    (("evaluation",), {}, "evaluation"),
])
def test_wrong_key_fails_before_any_work(data_root, tmp_path, capsys, key, value, named):
    data = _demo_dict()
    node = data
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value
    recipe = _write(tmp_path, data)
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert named in err and str(recipe) in err
    assert not out.exists()


def test_wrong_arm_settings_name_the_arm(data_root, tmp_path):
    data = _demo_dict()
    data["pretrain"]["arms"][2]["set"] = {"train.max_stepz": 3}
    with pytest.raises(ConfigError, match=r"pretrain\.arms\[2\] \(xling\)\.train.*max_stepz"):
        plan_run(load_run_recipe(_write(tmp_path, data)), tmp_path / "run")
    data = _demo_dict()
    data["pretrain"]["arms"][0]["init_from"] = "xling"
    with pytest.raises(ConfigError, match="comes later"):
        plan_run(load_run_recipe(_write(tmp_path, data)), tmp_path / "run")
    data = _demo_dict()
    data["eval"]["models"] = ["mlm", "xlmr"]
    with pytest.raises(ConfigError, match="'xlmr' is not a pretraining arm"):
        plan_run(load_run_recipe(_write(tmp_path, data)), tmp_path / "run")
    data = _demo_dict()  # a base with positions for 64 tokens only: refused before it trains, naming the fix
    data["pretrain"]["arms"][0]["set"] = {"data.max_len": 64}
    with pytest.raises(ConfigError, match=r"arms\[1\] \(mlm-continued\): data.max_len 128 .* 'mlm'.*\(64\).*"
                                          r"model.max_positions: 128"):
        plan_run(load_run_recipe(_write(tmp_path, data)), tmp_path / "run")
    data = _demo_dict()
    data["eval"]["tasks"] = ["udpos_turkik"]
    with pytest.raises(ConfigError, match="udpos_turkik"):
        plan_run(load_run_recipe(_write(tmp_path, data)), tmp_path / "run")


def test_missing_data_fails_before_any_work(data_root, tmp_path, capsys):
    data = _demo_dict()
    data["corpus"]["clean"]["inputs"].append("$XLING_DATA/mono/kk/no-such-file.txt.xz")
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, data)), "--out", str(out)]) == 2
    assert "no-such-file.txt.xz" in capsys.readouterr().err
    assert not out.exists()
    data = _demo_dict()
    data["pretrain"]["arms"][2]["parallel"] = {"sources": [
        {"src": str(tmp_path / "missing.tsv"), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl", "format": "tsv"}]}
    with pytest.raises(ConfigError, match=r"missing\.tsv"):
        plan_run(load_run_recipe(_write(tmp_path, data)), out)


def _reduced(tmp_path: Path) -> Path:
    """The demo recipe shrunk to a CI-sized run: same stages, arms and task kinds."""
    data = _demo_dict()
    data["corpus"]["clean"]["limit"] = 150  # documents per input file
    data["vocab"].update(vocab_size=400, stats_lines=200)
    common = data["pretrain"]["common"]
    common["data"].update(max_len=32, eval_max_docs=10)
    common["model"] = {"size": "tiny"}
    common["train"].update(max_steps=4, global_batch_size=4, micro_batch_size=4, warmup_steps=1, log_every=1,
                           eval_every=2, eval_sequences=4, save_every=2, threads=1)
    # the base on shorter blocks with room for the arm's, as the demo does
    data["pretrain"]["arms"][0]["set"] = {"data.max_len": 16, "model.max_positions": 32}
    del data["pretrain"]["arms"][1]  # the MLM-only control arm: the same code path as xling, minus TLM/XLCo
    data["eval"]["models"] = ["mlm", "xling"]
    data["pretrain"]["arms"][1]["set"] = {"train.max_steps": 3, "train.warmup_steps": 1}
    data["pretrain"]["arms"][1]["parallel"]["max_chars"] = 200
    data["eval"]["tasks"] = ["tatoeba_turkic:kk+ug", "udpos_turkic:ug"]
    data["eval"]["max_eval_examples"] = 20
    data["eval"]["finetune"].update(max_steps=2, max_train_examples=32, max_dev_examples=8, eval_every=2,
                                    batch_size=8, max_seq_length=32)
    return _write(tmp_path, data)


@pytest.mark.slow
def test_reduced_demo_end_to_end_resumes_and_reports(data_root, tmp_path, monkeypatch):
    import xling.run

    recipe = load_run_recipe(_reduced(tmp_path))
    out = tmp_path / "run"

    # An interrupted arm (here: paused by train.max_steps_this_run) stops the run; the next run resumes it.
    paused = load_run_recipe(tmp_path / "recipe.yaml", ["pretrain.common.train.max_steps_this_run=2"])
    run(paused, out, argv=["xling", "run", "reduced.yaml"], progress=False)
    state = read_json(out / "run.json")
    assert {k: v["status"] for k, v in state["stages"].items()} == {
        "corpus": "ran", "vocab": "ran", "pretrain/mlm": "paused"}
    assert not (out / "pretrain" / "xling").exists()
    assert check_report(out) == []  # a partial run still has a valid report

    # A failing stage keeps what earlier stages wrote; the next run continues from there.
    def broken(cfg, force=False, keep_unchanged=False):
        raise RuntimeError("evaluation crashed")

    monkeypatch.setattr(xling.run, "run_eval", broken)  # the name the pipeline calls
    with pytest.raises(RuntimeError, match="evaluation crashed"):
        run(recipe, out, argv=["xling", "run", "reduced.yaml"], progress=False)
    state = read_json(out / "run.json")
    assert {k: v["status"] for k, v in state["stages"].items()} == {
        "corpus": "skipped (finished)", "vocab": "skipped (finished)", "pretrain/mlm": "ran",
        "pretrain/xling": "ran"}
    steps = [json.loads(line)["step"] for line in (out / "pretrain/mlm/metrics.jsonl").read_text().splitlines()
             if '"loss"' in line]
    assert steps == [1, 2, 3, 4]  # resumed at step 2, nothing repeated
    assert (out / "pretrain" / "xling" / "final" / "model.safetensors").is_file()
    monkeypatch.undo()

    report = run(recipe, out, argv=["xling", "run", "reduced.yaml"], progress=False)
    state = read_json(out / "run.json")
    statuses = {k: v["status"] for k, v in state["stages"].items()}
    assert statuses == {"corpus": "skipped (finished)", "vocab": "skipped (finished)",
                        "pretrain/mlm": "skipped (finished)", "pretrain/xling": "skipped (finished)",
                        "eval/mlm": "ran", "eval/xling": "ran"}

    # the continued arm really started from the baseline's weights and trained on translation pairs
    tlm_metrics = list(read_jsonl(out / "pretrain/xling/metrics.jsonl"))
    assert any("loss_tlm" in r or "loss_xlco" in r for r in tlm_metrics)
    saved = yaml.safe_load((out / "pretrain/xling/config.yaml").read_text(encoding="utf-8"))
    assert saved["model"]["init_from"] == str(out / "pretrain" / "mlm" / "final")
    for label in ("mlm", "xling"):
        results = read_json(out / "eval" / label / "results.json")
        assert set(results["tasks"]) == {"tatoeba_turkic", "udpos_turkic"}
        assert results["model"] == str(out / "pretrain" / label / "final")

    assert check_report(out) == []
    md = report.read_text(encoding="utf-8")
    for section in ("## Corpus", "## Vocabulary", "## Pretraining", "## Evaluation", "## Commands and versions"):
        assert section in md
    assert "uig_Arab" in md and "kaz_Cyrl" in md and "| tatoeba_turkic | ug |" in md
    for png in ("language_shares", "fertility", "loss_curves", "eval_means", "eval_udpos_turkic"):
        assert (out / "figures" / f"{png}.png").is_file()
    assert (out / "recipe.yaml").is_file()
    from huggingface_hub import ModelCard

    for label in ("mlm", "xling"):  # the model card `xling run` writes into every arm's final/
        card = ModelCard.load(out / "pretrain" / label / "final" / "README.md")
        assert {"kk", "ug"} <= set(card.data.language)
        assert card.data.eval_results and {r.task_name for r in card.data.eval_results} == {"tatoeba_turkic",
                                                                                            "udpos_turkic"}

    # An arm finished elsewhere (another run folder, another commit) and copied in: the report names the
    # commit and time of its own record, not those of the arm it replaced.
    record_path = out / "pretrain/xling/stage.json"
    record = read_json(record_path)
    assert record["commit"] and record["commit"] == state["stages"]["pretrain/xling"]["commit_when_run"]
    record.update(commit="feedbeef" * 5, seconds=1234.5)
    record_path.write_text(json.dumps(record), encoding="utf-8")

    # Everything finished: a third run only redraws the report.
    run(recipe, out, argv=["xling", "run", "reduced.yaml"], progress=False)
    state = read_json(out / "run.json")
    assert all(v["status"] == "skipped (finished)" for v in state["stages"].values())
    copied = state["stages"]["pretrain/xling"]
    assert (copied["commit_when_run"], copied["seconds_when_run"]) == ("feedbeef" * 5, 1234.5)
    assert "| pretrain/xling | skipped (finished) |" in (out / "report.md").read_text(encoding="utf-8")
    assert "`feedbeeffe`" in (out / "report.md").read_text(encoding="utf-8")
    assert main(["run", str(tmp_path / "recipe.yaml"), "--out", str(out), "--report-only"]) == 0
    assert check_report(out) == []

    # Editing a finished arm's setting is refused, naming the key (it used to say "skipped (finished)"
    # and a resumed arm overwrote config.yaml); nothing of the arm is touched.
    config_before = (out / "pretrain/mlm/config.yaml").read_bytes()
    edited = load_run_recipe(tmp_path / "recipe.yaml", ["pretrain.common.train.lr=0.000123"])
    with pytest.raises(StageError, match=r"pretrain stage in .*pretrain/mlm finished with other settings: "
                                         r"train\.lr: [0-9.e-]+ → 0\.000123\. Re-run with --force"):
        run(edited, out, argv=["xling", "run", "reduced.yaml"], progress=False)
    assert (out / "pretrain/mlm/config.yaml").read_bytes() == config_before


def test_check_report_finds_problems(tmp_path):
    (tmp_path / "report.md").write_text("# r\n\n![a](figures/missing.png)\n", encoding="utf-8")
    (tmp_path / "report.html").write_text(
        "<html><body><table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>"
        "<tr><td>x</td><td>1.5</td></tr><tr><td>y</td><td>n/a</td></tr></tbody></table>"
        '<img src="figures/missing.png"><div></body></html>', encoding="utf-8")
    problems = check_report(tmp_path)
    assert any("missing.png does not exist" in p for p in problems)
    assert any("not embedded PNG" in p for p in problems)
    assert any("without a number: y | n/a" in p for p in problems)
    assert any("</body> closes <div>" in p for p in problems)


def test_missing_eval_data_fails_before_any_work(data_root, tmp_path, monkeypatch):
    # a data root without UD Uyghur: the named udpos_turkic:ug test file is missing
    root = tmp_path / "data"
    root.mkdir()
    for sub in data_root.iterdir():
        if sub.name != "udpos":
            (root / sub.name).symlink_to(sub)
    (root / "udpos").mkdir()
    for sub in (data_root / "udpos").iterdir():
        if "Uyghur" not in sub.name:
            (root / "udpos" / sub.name).symlink_to(sub)
    monkeypatch.setenv("XLING_DATA", str(root))
    data = _demo_dict()
    data["eval"]["tasks"] = ["udpos_turkic:ug"]
    with pytest.raises(ConfigError, match=r"udpos_turkic.*ug"):
        plan_run(load_run_recipe(_write(tmp_path, data)), tmp_path / "run")
