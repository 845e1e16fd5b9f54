"""The one `versions()`: what produced an output (our version and commit, Python, platform, libraries).

Versions come from installed package metadata, so recording them never imports torch.
"""

from __future__ import annotations

import contextlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from xling import __version__

# The libraries whose version can change a stage's output.
LIBRARIES = ("torch", "transformers", "tokenizers", "sentencepiece", "safetensors", "datatrove", "datasets",
             "numpy", "sacrebleu")


def git_commit() -> str:
    """HEAD of the checkout this code runs from ("" outside a git checkout)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    return ""


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(libraries: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """xling's version and commit, Python, the platform, and each library in `libraries`."""
    v = {"xling": __version__, "python": platform.python_version(), "platform": platform.platform()}
    v.update({name: package_version(name) for name in libraries})
    commit = git_commit()
    if commit:
        v["git_commit"] = commit
    return v
