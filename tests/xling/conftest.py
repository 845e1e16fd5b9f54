"""Fixtures for the pretraining engine: a tiny, fast pretraining config on real kk/ug/ru/en text."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_LANGS = ("kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn")


@pytest.fixture(scope="session")
def shard_cache(tmp_path_factory):
    """One token-shard cache for the session: every tiny run reuses the same tokenised text."""
    return tmp_path_factory.mktemp("token-shards")


@pytest.fixture
def tiny_pretrain(tiny_spm, tiny_text, shard_cache):
    """`make(**overrides)` → a PretrainConfig for a 2-layer, 64-wide model on 32-token sequences."""
    from xling.core.config import load_config
    from xling.pretrain import PretrainConfig

    def make(*overrides: str, **base_updates) -> PretrainConfig:
        base = {
            "tokenizer": str(tiny_spm),
            "seed": 0,
            "data": {"files": {lang: str(tiny_text[lang]) for lang in TINY_LANGS}, "max_len": 32,
                     "alpha": 0.3, "cache_dir": str(shard_cache), "eval_fraction": 0.05, "eval_max_docs": 20},
            "model": {"size": "tiny", "dropout": 0.1, "attention_dropout": 0.1},
            "train": {"max_steps": 4, "global_batch_size": 4, "micro_batch_size": 2, "lr": 1e-3, "warmup_steps": 2,
                      "log_every": 1, "eval_every": 0, "eval_sequences": 4, "save_every": 2, "keep_last": 2,
                      "progress": False, "report_to": [], "threads": 1, "precision": "fp32"},
        }
        base.update(base_updates)
        return load_config(PretrainConfig, None, list(overrides), flags=base)

    return make
