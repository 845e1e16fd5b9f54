"""Fixtures shared by the corpus-stage tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module", autouse=True)
def index_cache(tmp_path_factory):
    """Keep decontamination's on-disk index cache inside the test session's tmp folder."""
    old = os.environ.get("XLING_CACHE")
    os.environ["XLING_CACHE"] = str(tmp_path_factory.getbasetemp() / "xling_cache")  # shared by modules
    yield
    if old is None:
        os.environ.pop("XLING_CACHE", None)
    else:
        os.environ["XLING_CACHE"] = old
