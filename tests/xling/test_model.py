"""Model presets build Hugging Face XLM-R models; bad shapes and vocabularies fail clearly."""

from __future__ import annotations

import pytest

from xling.core.config import ConfigError, from_dict
from xling.model import PRESETS, ModelConfig, build_model, check_vocab, count_parameters
from xling.objectives.base import SpecialIds

SPECIAL = SpecialIds(bos=0, pad=1, eos=2, unk=3, mask=999, vocab_size=1000, all_special=(0, 1, 2, 3, 999))


@pytest.mark.parametrize("size", sorted(PRESETS))
def test_presets_map_to_xlmr_configs(size):
    cfg = ModelConfig(size=size).hf_config(SPECIAL, 512)
    layers, hidden, heads, ffn = PRESETS[size]
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size) == (
        layers, hidden, heads, ffn)
    assert cfg.max_position_embeddings == 514  # XLM-R's 512 + pad + 1
    assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id, cfg.vocab_size) == (1, 0, 2, 1000)


def test_overrides_and_build():
    cfg = from_dict(ModelConfig, {"size": "tiny", "num_layers": 1, "hidden_size": 32})
    model = build_model(cfg, SPECIAL, 64)
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    assert count_parameters(model) < sum(p.numel() for p in model.state_dict().values())  # tied head counted once


def test_max_positions_leaves_room_for_longer_continuations():
    # A base trained on 64-token blocks keeps slots for 128-token arms: 128 + pad (1) + 1 = 130.
    assert ModelConfig(size="tiny", max_positions=128).hf_config(SPECIAL, 64).max_position_embeddings == 130
    assert ModelConfig(size="tiny").hf_config(SPECIAL, 64).max_position_embeddings == 66
    assert ModelConfig(size="tiny", max_positions=32).hf_config(SPECIAL, 64).max_position_embeddings == 66
    with pytest.raises(ValueError, match="max_positions"):
        ModelConfig(size="tiny", max_positions=0)


def test_bad_shapes_and_sizes():
    with pytest.raises(ValueError, match="not divisible"):
        ModelConfig(size="tiny", hidden_size=30, num_heads=4)
    with pytest.raises(ConfigError, match="size: expected one of"):
        from_dict(ModelConfig, {"size": "gigantic"})
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        check_vocab(250002, 1000, "model.init_from x")


def test_init_from_checks_vocabulary(tiny_encoder):
    from transformers import AutoTokenizer

    special = SpecialIds.from_tokenizer(AutoTokenizer.from_pretrained(str(tiny_encoder)))
    model = build_model(ModelConfig(init_from=str(tiny_encoder)), special, 64)
    assert model.config.hidden_size == 64
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        build_model(ModelConfig(init_from=str(tiny_encoder)), SPECIAL, 64)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        build_model(ModelConfig(init_from=str(tiny_encoder)), special, 512)
