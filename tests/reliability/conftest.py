"""Helpers for the reliability suite: running the CLI in a subprocess, as root without DAC."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("OMP_NUM_THREADS", "1")
    e.setdefault("OPENBLAS_NUM_THREADS", "1")
    return e


def xling(*args: str, cwd: Path, without_dac: bool = False, timeout: float = 120,
          **kw) -> subprocess.CompletedProcess:
    """`python -m xling.cli ARGS` in `cwd`; `without_dac`: as root but without the capability to
    bypass file permissions (so permission errors happen as for an ordinary user)."""
    cmd = [sys.executable, "-m", "xling.cli", *args]
    if without_dac:
        cmd = [*NO_DAC, *cmd]
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout, **kw)


NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
          "--bounding-set=-dac_override,-dac_read_search"]


def _can_drop_dac() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run([*NO_DAC, "cat", "/proc/self/status"], capture_output=True, text=True)
    return probe.returncode == 0


needs_setpriv = pytest.mark.skipif(not _can_drop_dac(), reason="needs root and setpriv to drop CAP_DAC_OVERRIDE")


def kk_lines(n: int, seed: int = 0) -> str:
    """Kazakh-looking lines, distinct, for tiny corpora."""
    import random

    r = random.Random(seed)
    words = ["бала", "мектеп", "қала", "кітап", "жазу", "оқу", "үй", "жол", "адам", "тіл", "сөз", "ел", "жер", "су", "тау"]
    return "".join(" ".join(r.choice(words) for _ in range(10)) + f" {i} сөйлем.\n" for i in range(n))
