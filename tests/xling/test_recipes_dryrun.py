"""Every shipped recipe loads with its loader; the GPU pretraining recipes pass `xling pretrain --dry-run`
(parameter count of XLM-R base checked against the architecture's arithmetic, no data read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xling.core.io import read_json

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
GPU_RECIPES = ["pretrain-xlmr-base-gpu.yaml", "pretrain-xlmr-base-continue-gpu.yaml"]


def xlmr_mlm_parameters(vocab: int, layers: int, hidden: int, ffn: int, positions: int, types: int = 1) -> int:
    """Unique parameters of XLMRobertaForMaskedLM (no pooler; decoder weight tied to the embeddings)."""
    embeddings = (vocab + positions + types) * hidden + 2 * hidden  # + LayerNorm
    layer = (4 * (hidden * hidden + hidden)  # q, k, v, attention output
             + 2 * hidden  # attention LayerNorm
             + hidden * ffn + ffn + ffn * hidden + hidden  # feed-forward
             + 2 * hidden)  # output LayerNorm
    lm_head = hidden * hidden + hidden + 2 * hidden + vocab  # dense, LayerNorm, decoder bias
    return embeddings + layers * layer + lm_head


def _load_run_recipe(path: Path):
    from xling.run import load_run_recipe

    return load_run_recipe(path)


def _loader(path: Path):
    """The loader each CLI uses for this recipe (by file name, as the recipes are named)."""
    from xling.core.config import load_config, load_yaml_dict

    name = path.name
    if name.startswith("corpus-"):
        from corpora.build import load_recipe

        return load_recipe
    if name.startswith("pretrain-"):
        from xling.pretrain import load_pretrain_config

        return load_pretrain_config
    if name.startswith("eval-"):
        from eval_xtreme.runner import EvalConfig

        return lambda p: load_config(EvalConfig, p)
    if name.startswith("bt-train-"):
        from xling.bt.train import BTTrainConfig

        return lambda p: load_config(BTTrainConfig, p)
    if name.startswith("bt-translate-"):
        from xling.bt.translate import TranslateConfig

        return lambda p: load_config(TranslateConfig, p)
    if name.startswith("parallel-"):
        from xling.parallel import ParallelConfig

        return lambda p: load_config(ParallelConfig, p).all_sources()
    if set(load_yaml_dict(path).get("stages") or []) & {"corpus", "vocab", "pretrain", "eval"}:
        return _load_run_recipe  # `xling run` recipes (corpus → vocab → pretrain → eval)
    pytest.fail(f"no loader known for recipes/{name}: add its prefix to tests/xling/test_recipes_dryrun.py")


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_recipe_loads(path, monkeypatch):
    monkeypatch.chdir(REPO)  # include: paths in recipes are relative to the repository root
    assert _loader(path)(path) is not None


@pytest.fixture
def no_data_reads(monkeypatch):
    """Any attempt to tokenise, read shards or read text/pairs fails the test."""
    import xling.core.io
    import xling.data
    import xling.parallel

    def forbidden(*args, **kwargs):
        raise AssertionError(f"dry run read data: {args[:1]}")

    for module, name in ((xling.data, "prepare_shards"), (xling.data, "load_shards"),
                         (xling.parallel, "load_parallel"), (xling.core.io, "open_text"), (xling.core.io, "read_lines"),
                         (xling.core.io, "read_jsonl")):
        monkeypatch.setattr(module, name, forbidden)


@pytest.mark.parametrize("name", GPU_RECIPES)
def test_gpu_recipe_dry_run(name, tmp_path, monkeypatch, capsys, no_data_reads):
    from xling.pretrain_cli import main

    monkeypatch.chdir(REPO)
    for missing in ("runs/vocab-250k", "models/xlm-roberta-base"):
        assert not Path(missing).exists(), f"{missing} exists here; this test expects the plan without it"
    monkeypatch.setenv("WORLD_SIZE", "8")
    out = tmp_path / "plan"
    assert main([f"recipes/{name}", "--out", str(out), "--dry-run"]) == 0
    assert [p.name for p in out.iterdir()] == ["dry_run.json"]  # nothing else written
    plan = read_json(out / "dry_run.json")
    printed = capsys.readouterr().out

    m = plan["model"]
    assert (m["layers"], m["hidden"], m["heads"], m["ffn"], m["vocab_size"]) == (12, 768, 12, 3072, 250_002)
    expected = xlmr_mlm_parameters(250_002, 12, 768, 3072, m["max_position_embeddings"])
    assert m["max_position_embeddings"] == 514
    assert m["parameters"] == expected == 278_295_186
    b = plan["batch"]
    assert b["processes"] == 8 and b["micro_batch_size"] * 8 * b["accumulation"] == b["global_batch_size"]
    assert b["tokens_per_step"] == b["global_batch_size"] * 512
    mem = plan["memory_gib_per_process"]
    assert mem["weights_grads_adam"] == pytest.approx(278_295_186 * 16 / 1024 ** 3, abs=0.01)
    assert mem["weights_grads_adam"] < mem["total_estimate"]
    assert "278,295,186 parameters" in printed and "does not exist on this machine" in printed
    if name == "pretrain-xlmr-base-continue-gpu.yaml":
        assert [o["name"] for o in plan["objectives"]] == ["mlm", "tlm"]
        assert plan["inputs"]["parallel_sources"] == 22
        assert plan["schedule"]["lr"] == 5e-5 and b["accumulation"] == 2
        assert any("init_from" in n and "preset" in n for n in plan["notes"])


def test_dry_run_reads_an_existing_checkpoint_config(tiny_encoder, tmp_path, no_data_reads):
    """With init_from present, the shape and vocabulary come from its config.json, and the count
    equals that of the real model."""
    from transformers import AutoModelForMaskedLM

    from xling.core.config import load_config
    from xling.model import count_parameters
    from xling.pretrain import PretrainConfig, plan_pretrain

    cfg = load_config(PretrainConfig, None, flags={
        "tokenizer": str(tiny_encoder), "data": {"corpus": [str(tmp_path / "absent")], "max_len": 64},
        "model": {"size": "base", "init_from": str(tiny_encoder)},
        "train": {"global_batch_size": 8, "micro_batch_size": 2}})
    plan = plan_pretrain(cfg, nproc=2)
    real = AutoModelForMaskedLM.from_pretrained(str(tiny_encoder))
    assert plan["model"]["parameters"] == count_parameters(real)
    assert plan["model"]["hidden"] == real.config.hidden_size == 64  # not the `base` preset
    assert plan["model"]["vocab_source"] == f"tokenizer {tiny_encoder}"
    assert plan["batch"]["accumulation"] == 2
    with pytest.raises(ValueError, match="not a multiple"):
        plan_pretrain(cfg, nproc=3)


def test_fsdp_shards_the_optimizer_state(monkeypatch, no_data_reads):
    from xling.pretrain import load_pretrain_config, plan_pretrain

    monkeypatch.chdir(REPO)
    large = load_pretrain_config("recipes/pretrain-xlmr-large-gpu.yaml")
    plan = plan_pretrain(large, nproc=8)
    params = plan["model"]["parameters"]
    assert params == xlmr_mlm_parameters(250_002, 24, 1024, 4096, 514)
    assert plan["memory_gib_per_process"]["weights_grads_adam"] == pytest.approx(params * 16 / 8 / 1024 ** 3, abs=0.01)
