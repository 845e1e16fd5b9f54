"""Checkpoints: `OUT/checkpoints/step-XXXXXX/`, written atomically, loaded without unpickling.

A step folder holds
- `model.safetensors` — the weights (safetensors: no code execution on load; tied output layer stored once),
- `trainer_state.pt` — optimizer state, RNG state, data position, parallel-stream state, saved
  with `torch.save` but only tensors and plain containers, and loaded with `weights_only=True`,
- `meta.json` — step, tokens seen, vocabulary size and tokenizer hash, model shape, world size.

The folder is assembled under a temporary name and renamed into place (`xling.core.io.atomic_path`),
with `meta.json` written last: a folder without `meta.json` (a half-copied or hand-made one) is
ignored with a warning, never resumed from.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xling.core.errors import InputError, XlingError
from xling.core.io import atomic_path, read_json, write_json_atomic

log = logging.getLogger(__name__)

STEP_RE = re.compile(r"^step-(\d{6,})$")
FORMAT = 1


class CheckpointError(XlingError, ValueError):
    pass


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def step_dir(root: Path, step: int) -> Path:
    return Path(root) / f"step-{step:06d}"


def list_checkpoints(root: Path) -> list[Checkpoint]:
    """Complete checkpoints under `root`, oldest first. Corrupt metadata is an error naming the folder."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        m = STEP_RE.match(d.name)
        if not m or not d.is_dir():
            continue
        meta_path = d / "meta.json"
        if not meta_path.is_file():
            log.warning("ignoring %s: no meta.json (an incomplete checkpoint)", d)
            continue
        try:
            meta = read_json(meta_path)
            if not isinstance(meta, dict) or int(meta["step"]) != int(m.group(1)):
                raise InputError("meta.json step does not match the folder name")
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"corrupted checkpoint {d}: unreadable meta.json ({e}). Delete the folder to "
                                  "resume from the previous checkpoint.") from None
        out.append(Checkpoint(d, meta))
    return sorted(out, key=lambda c: c.step)


def latest_checkpoint(root: Path) -> Checkpoint | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def save_checkpoint(root: Path, step: int, model: torch.nn.Module, trainer_state: dict[str, Any],
                    meta: dict[str, Any], keep_last: int | None = None) -> Path:
    """Write `root/step-XXXXXX/` atomically, then delete all but the newest `keep_last` checkpoints."""
    from safetensors.torch import save_model

    target = step_dir(root, step)
    with atomic_path(target) as tmp:
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        torch.save(trainer_state, tmp / "trainer_state.pt")
        write_json_atomic(tmp / "meta.json", {"format": FORMAT, "step": step, **meta})
    if keep_last:
        for old in list_checkpoints(root)[:-keep_last]:
            # meta.json first: a deletion cut short leaves an ignored folder, not a broken checkpoint
            (old.path / "meta.json").unlink(missing_ok=True)
            shutil.rmtree(old.path, ignore_errors=True)
    return target


def load_checkpoint(ckpt: Checkpoint, model: torch.nn.Module, expect: dict[str, Any]) -> dict[str, Any]:
    """Load weights into `model` and return the trainer state; checks `expect` against meta.json.

    `expect` holds values that must match (vocab_size, tokenizer_sha256, model_shape); a mismatch
    is a clear error rather than a shape error deep inside torch.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    for key, want in expect.items():
        have = ckpt.meta.get(key)
        if have is not None and have != want:
            if key == "vocab_size":
                raise CheckpointError(f"{ckpt.path}: vocabulary mismatch — the checkpoint was trained with "
                                      f"{have} pieces, the tokenizer has {want}. Use the same tokenizer or a new --out.")
            if key == "tokenizer_sha256":
                raise CheckpointError(f"{ckpt.path}: vocabulary mismatch — the checkpoint was trained with a "
                                      "different tokenizer (tokenizer.json hash differs). Use the same tokenizer "
                                      "or a new --out.")
            raise CheckpointError(f"{ckpt.path}: {key} is {have!r} in the checkpoint but {want!r} now; resume "
                                  "with the same settings or use a new --out")
    weights = ckpt.path / "model.safetensors"
    state_path = ckpt.path / "trainer_state.pt"
    for p in (weights, state_path):
        if not p.is_file():
            raise CheckpointError(f"corrupted checkpoint {ckpt.path}: {p.name} is missing. Delete the folder to "
                                  "resume from the previous checkpoint.")
    try:
        missing, unexpected = load_model(model, str(weights), strict=False)
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"corrupted checkpoint {ckpt.path}: cannot read model.safetensors ({e}). Delete the "
                              "folder to resume from the previous checkpoint.") from None
    if missing or unexpected:
        raise CheckpointError(f"{ckpt.path}: weights do not fit the model (missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}); was it written by a different model config?")
    try:
        return torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated/foreign files
        raise CheckpointError(f"corrupted checkpoint {ckpt.path}: cannot read trainer_state.pt safely "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]}). Delete the folder to resume "
                              "from the previous checkpoint.") from None
