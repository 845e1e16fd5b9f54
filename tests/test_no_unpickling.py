"""No code path may unpickle: checkpoints and states are safetensors + JSON (xling.core.checkpoint).

A pickle runs arbitrary code when loaded, so one crafted file in an output folder would run code on
the next resume. This test reads every Python file of the repository and fails on any call that
unpickles, so the rule survives new code. (`tests/corpora/test_executors.py` reads the executor
file datatrove itself writes with dill, to check what datatrove would run; that is datatrove's
format, not one of ours, and no pipeline code loads it.)
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}
# joined at run time so this file does not match itself
FORBIDDEN = ["torch" + ".load(", "pickle" + ".load", "weights_only" + "=False", "allow_pickle" + "=True",
             "read" + "_pickle(", "joblib" + ".load("]


def _python_files() -> list[Path]:
    return [p for p in ROOT.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(ROOT).parts)]


def test_nothing_in_the_repository_unpickles():
    files = _python_files()
    assert len(files) > 50, f"found only {len(files)} Python files under {ROOT}"
    pattern = re.compile("|".join(re.escape(f) for f in FORBIDDEN))
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
            for p in files for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if pattern.search(line)]
    assert not hits, "unpickling calls (use xling.core.checkpoint: safetensors + JSON):\n" + "\n".join(hits)


def test_the_check_can_fail(tmp_path):
    # the same pattern on a line that does unpickle
    pattern = re.compile("|".join(re.escape(f) for f in FORBIDDEN))
    assert pattern.search("state = " + "torch" + ".load(path, weights_only=True)")
    assert pattern.search("obj = " + "pickle" + ".loads(blob)")
