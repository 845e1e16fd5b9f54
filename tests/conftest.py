"""Shared fixtures: the real-data root, and thread limits so parallel test workers don't fight."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_root():
    """The real data (../shared/data or $XLING_DATA). Integration tests need it; CI has it."""
    from xling.paths import data_root as find

    return find(required=True)
