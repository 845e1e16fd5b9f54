"""The training loop: config errors, exact resume, golden loss curve, final outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xling.core.config import ConfigError
from xling.core.io import read_jsonl


def _losses(out: Path) -> list[tuple[int, float]]:
    rows = list(read_jsonl(out / "metrics.jsonl"))
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_lr_schedule():
    from xling.trainer import TrainConfig

    tc = TrainConfig(max_steps=110, warmup_steps=10, lr=1.0, schedule="linear", min_lr_ratio=0.1)
    assert tc.lr_at(0) == pytest.approx(0.1) and tc.lr_at(9) == pytest.approx(1.0)
    assert tc.lr_at(60) == pytest.approx(0.55) and tc.lr_at(110) == pytest.approx(0.1)
    cos = TrainConfig(max_steps=110, warmup_steps=10, lr=1.0, schedule="cosine")
    assert cos.lr_at(60) == pytest.approx(0.5) and cos.lr_at(110) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("override", "message"), [
    ("train.max_stepz=3", "unknown config key 'train.max_stepz' (did you mean 'max_steps'?)"),
    ("train.lr=fast", "train.lr: expected a number"),
    ("model.size=huge", "model.size: expected one of"),
    ("data.max_len=many", "data.max_len: expected an integer"),
])
def test_config_errors_name_the_key_before_any_work(tiny_pretrain, tmp_path, override, message):
    with pytest.raises(ConfigError) as e:
        tiny_pretrain(override)
    assert message in str(e.value)


def test_objective_options_are_checked(tiny_pretrain):
    with pytest.raises(ConfigError, match=r"unknown config key 'objectives\[0\].mask_rate'"):
        tiny_pretrain(objectives=[{"name": "mlm", "mask_rate": 0.2}])
    with pytest.raises(ConfigError, match="unknown objective 'mlmm'"):
        tiny_pretrain(objectives=[{"name": "mlmm"}])
    with pytest.raises(ConfigError, match="weight"):
        tiny_pretrain(objectives=[{"name": "mlm", "weight": -1}])


def test_cli_rejects_bad_recipe_key_without_creating_outputs(tmp_path, tiny_spm):
    from xling.pretrain_cli import run

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"tokenizer: {tiny_spm}\ndata: {{files: {{}}}}\ntrain: {{warmup: 3}}\n")
    import argparse

    with pytest.raises(ConfigError, match=r"train\.warmup"):
        run(argparse.Namespace(config=str(bad), out=str(tmp_path / "out"), overrides=[]))
    assert not (tmp_path / "out").exists()


def test_global_batch_must_divide(tiny_pretrain, tmp_path):
    from xling.pretrain import pretrain

    with pytest.raises(ValueError, match="not a multiple"):
        pretrain(tiny_pretrain("train.global_batch_size=3"), tmp_path / "run")


def test_kill_and_resume_gives_the_same_loss_curve_and_weights(tiny_pretrain, tmp_path):
    from xling.pretrain import pretrain

    full = tmp_path / "full"
    final = pretrain(tiny_pretrain(), full)
    assert final == full / "final"

    part = tmp_path / "part"
    assert pretrain(tiny_pretrain("train.max_steps_this_run=3"), part) == part  # stops early (checkpoint at 3)
    assert [s for s, _ in _losses(part)] == [1, 2, 3]
    # an interrupted write of a later checkpoint (no meta.json) must be ignored on resume
    (part / "checkpoints" / "step-000004").mkdir()
    pretrain(tiny_pretrain(), part)

    a, b = _losses(full), _losses(part)
    assert [s for s, _ in a] == [s for s, _ in b] == [1, 2, 3, 4]
    assert [x for _, x in a] == pytest.approx([x for _, x in b], rel=1e-5)
    wa, wb = _weights(full / "final"), _weights(part / "final")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


def test_final_loads_with_auto_classes_and_rerun_is_a_no_op(tiny_pretrain, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from xling.pretrain import pretrain

    out = tmp_path / "run"
    cfg = tiny_pretrain("train.max_steps=2", "train.eval_every=1")
    final = pretrain(cfg, out)
    model = AutoModelForMaskedLM.from_pretrained(str(final))
    tok = AutoTokenizer.from_pretrained(str(final))
    enc = tok(["Ақ көңілдің аты арып"], return_tensors="pt")
    assert model(**enc).logits.shape[-1] == len(tok)
    assert (out / "config.yaml").is_file() and (out / "report.md").is_file() and (out / "loss.png").is_file()
    rows = list(read_jsonl(out / "metrics.jsonl"))
    evals = [r for r in rows if "eval_loss" in r]
    assert {"kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn", "mean"} <= set(evals[-1]["eval_loss"])
    assert set(rows[0]["repeats"]) == {"kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn"}
    before = (final / "model.safetensors").stat().st_mtime_ns
    pretrain(cfg, out)  # finished: resumes at max_steps, trains nothing, keeps final/
    assert (final / "model.safetensors").stat().st_mtime_ns == before
    assert len(_losses(out)) == 2


def test_another_tokenizer_on_a_started_run_is_refused_naming_it(tiny_pretrain, tmp_path, tiny_text):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2
    from transformers import XLMRobertaTokenizer

    from xling.core.stage import StageError
    from xling.pretrain import pretrain

    out = tmp_path / "run"
    pretrain(tiny_pretrain("train.max_steps_this_run=2"), out)
    other = tmp_path / "tok600"
    other.mkdir()
    spm.SentencePieceTrainer.train(input=str(tiny_text["kaz_Cyrl"]), model_prefix=str(other / "sentencepiece.bpe"),
                                   vocab_size=600, bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2,
                                   num_threads=1)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((other / "sentencepiece.bpe.model").read_bytes())
    XLMRobertaTokenizer(vocab=[(p.piece, p.score) for p in proto.pieces] + [("<mask>", 0.0)]).save_pretrained(str(other))
    # the stage contract refuses before the checkpoint is even opened (which would also refuse:
    # tests/xling/test_checkpoint.py::test_vocab_and_shape_mismatch)
    with pytest.raises(StageError, match=r"started \(unfinished\) with other settings: input tokenizer \(.*tok600\): "
                                         r"\"folder 4 files [0-9a-f]+\" → \"folder 4 files [0-9a-f]+\""):
        pretrain(tiny_pretrain(f"tokenizer={other}"), out)


# Golden loss curve of the debug recipe (recipes/pretrain-debug.yaml) on the tiny_spm tokenizer, reduced
# with --set to 6 steps of 8 × 64 tokens. fp32 on CPU; regenerate only when a change is meant to alter training.
GOLDEN_DEBUG = [6.9613, 6.7846, 6.6932, 6.5724, 6.3680, 6.2442]


@pytest.mark.slow
def test_golden_loss_curve_of_the_debug_recipe(tiny_spm, tmp_path, shard_cache):
    from xling.pretrain import load_pretrain_config, pretrain

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "pretrain-debug.yaml"
    cfg = load_pretrain_config(recipe, [f"tokenizer={tiny_spm}", "train.max_steps=6", "train.warmup_steps=2",
                                        "train.global_batch_size=8", "train.micro_batch_size=8", "data.max_len=64",
                                        "train.log_every=1", "train.eval_every=0", "train.progress=false",
                                        "train.report_to=[]", "train.precision=fp32", "train.threads=1",
                                        f"data.cache_dir={shard_cache}"])
    out = tmp_path / "debug"
    pretrain(cfg, out)
    losses = [x for _, x in _losses(out)]
    print("debug recipe losses:", [round(x, 4) for x in losses])
    assert losses == pytest.approx(GOLDEN_DEBUG, abs=0.02)


@pytest.fixture
def kk_ru_pairs(tmp_path, data_root):
    """120 real kk-ru sentence pairs (apertium gov corpus, pretraining-safe) as an aligned file pair."""
    from xling.core.io import read_lines

    base = data_root / "parallel" / "kk-ru" / "apertium_kaz_rus_CORPUS"
    kk, ru = tmp_path / "pairs.kk", tmp_path / "pairs.ru"
    kk.write_text("\n".join(read_lines(base / "afn-kaz-1550.xz")[:120]) + "\n", encoding="utf-8")
    ru.write_text("\n".join(read_lines(base / "afn-ru.xz")[:120]) + "\n", encoding="utf-8")
    return {"sources": [{"src": str(kk), "tgt": str(ru), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl"}]}


def test_mixed_objectives_with_parallel_data_resume_exactly(tiny_pretrain, tmp_path, kk_ru_pairs):
    from xling.objectives import OBJECTIVES
    from xling.pretrain import pretrain

    objectives = [{"name": "mlm", "weight": 1.0}]
    objectives += [{"name": n, "weight": 1.0} for n in ("tlm", "camlm", "btmlm") if n in OBJECTIVES]
    kw = {"objectives": objectives, "parallel": kk_ru_pairs}
    full = tmp_path / "full"
    pretrain(tiny_pretrain("data.max_len=48", **kw), full)
    part = tmp_path / "part"
    pretrain(tiny_pretrain("data.max_len=48", "train.max_steps_this_run=2", **kw), part)
    pretrain(tiny_pretrain("data.max_len=48", **kw), part)
    a, b = _losses(full), _losses(part)
    assert [x for _, x in a] == pytest.approx([x for _, x in b], rel=1e-5)
    rows = list(read_jsonl(full / "metrics.jsonl"))
    used = {k[len("loss_"):] for r in rows for k in r if k.startswith("loss_")}
    assert len(used) >= 2  # the schedule mixes objectives across micro-batches
    wa, wb = _weights(full / "final"), _weights(part / "final")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


def test_parallel_objective_without_parallel_section_fails_early(tiny_pretrain):
    from xling.objectives import OBJECTIVES

    if "tlm" not in OBJECTIVES:
        pytest.skip("tlm objective not registered")
    with pytest.raises(ConfigError, match="parallel"):
        tiny_pretrain(objectives=[{"name": "mlm"}, {"name": "tlm"}])


def test_xling_cli_reports_config_errors_with_exit_code_2(tmp_path, tiny_spm, capsys):
    from xling.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"tokenizer: {tiny_spm}\ndata: {{max_len: 32}}\nmodel: {{size: 7}}\n")
    assert main(["pretrain", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "xling: error:" in err and "model.size" in err
    assert not (tmp_path / "out").exists()
