"""Checkpoints: `ROOT/step-XXXXXX/`, written atomically, loaded without unpickling.

One format for every training loop (pretraining, back-translation, evaluation fine-tuning). A step
folder holds
- `model.safetensors` — the weights (safetensors: no code runs on load; tied weights stored once),
  or whatever `write_extra` adds (fine-tuning writes a `save_pretrained` folder there, so a
  checkpoint loads with `from_pretrained`);
- `state.safetensors` + `state.json` — the trainer state (optimizer, RNG, data position, ...):
  every tensor in the safetensors file, the structure around them (dicts, lists, tuples, numbers,
  strings) as JSON, so reading it back never unpickles anything;
- `meta.json` — written last: format, step, what the caller records (vocabulary size, tokenizer
  hash, model shape, ...) and the sha256 of every other file in the folder.

The folder is assembled under a temporary name and renamed into place (`xling.core.io.atomic_path`). A
folder without `meta.json` (a half-copied or hand-made one) is ignored with a warning, never
resumed from. On load every file is checked against its recorded sha256 and no file may be missing
or added: a tampered, truncated or foreign checkpoint (e.g. a pickled `trainer_state.pt` from an
older version) is refused with a message naming the folder and the file.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xling.core.errors import XlingError
from xling.core.io import atomic_path, read_json, sha256_file, write_json_atomic

log = logging.getLogger(__name__)

STEP_RE = re.compile(r"^step-(\d{6,})$")
FORMAT = 2  # 1: trainer_state.pt (torch.save); 2: state.safetensors + state.json + sha256 manifest
META_FILE = "meta.json"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


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
        meta_path = d / META_FILE
        if not meta_path.is_file():
            log.warning("ignoring %s: no meta.json (an incomplete checkpoint)", d)
            continue
        try:
            meta = read_json(meta_path)
            if not isinstance(meta, dict) or int(meta["step"]) != int(m.group(1)):
                raise ValueError("meta.json step does not match the folder name")
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"corrupted checkpoint {d}: unreadable meta.json ({e}). Delete the folder to "
                                  "resume from the previous checkpoint.") from None
        out.append(Checkpoint(d, meta))
    return sorted(out, key=lambda c: c.step)


def latest_checkpoint(root: Path) -> Checkpoint | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


# ------------------------------------------------------------------------------------ trainer state
# The state is a tree of dicts/lists/tuples around tensors and JSON scalars. Tensors go to the
# safetensors file under "t<N>"; the JSON keeps the tree with {"$t": "t<N>"} in their place. Dicts
# whose keys are not all plain strings (optimizer state is keyed by parameter index) are written
# as {"$d": [[key, value], ...]}, tuples as {"$tuple": [...]}, so the tree comes back identical.

_TAGS = ("$t", "$d", "$tuple")


def encode_state(obj: Any, tensors: dict[str, torch.Tensor], where: str = "state") -> Any:
    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        # a private contiguous CPU copy: safetensors refuses views and tensors sharing storage
        tensors[name] = obj.detach().to("cpu", copy=True).contiguous()
        return {"$t": name}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: encode_state(v, tensors, f"{where}.{k}") for k, v in obj.items()}
        for k in obj:
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"{where}: dict key {k!r} of type {type(k).__name__} cannot be saved")
        return {"$d": [[k, encode_state(v, tensors, f"{where}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"$tuple": [encode_state(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode_state(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{where}: a {type(obj).__name__} cannot be saved in a checkpoint (tensors, numbers, strings, "
                    "lists, tuples and dicts only)")


def decode_state(obj: Any, tensors: dict[str, torch.Tensor], where: str = "state") -> Any:
    if isinstance(obj, list):
        return [decode_state(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    tag = next((t for t in _TAGS if t in obj), None)
    if tag is None:
        return {k: decode_state(v, tensors, f"{where}.{k}") for k, v in obj.items()}
    if len(obj) != 1:
        raise ValueError(f"{where}: {tag} entry with extra keys {sorted(obj)}")
    val = obj[tag]
    if tag == "$t":
        if not isinstance(val, str) or val not in tensors:
            raise ValueError(f"{where}: names tensor {val!r}, which {STATE_TENSORS} does not hold")
        return tensors[val]
    if tag == "$tuple":
        if not isinstance(val, list):
            raise ValueError(f"{where}: $tuple is not a list")
        return tuple(decode_state(v, tensors, f"{where}[{i}]") for i, v in enumerate(val))
    if not isinstance(val, list) or not all(isinstance(kv, list) and len(kv) == 2 for kv in val):
        raise ValueError(f"{where}: $d is not a list of [key, value] pairs")
    return {k: decode_state(v, tensors, f"{where}.{k}") for k, v in val}



def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != META_FILE)


# ---------------------------------------------------------------------------------------- save/load


def save_checkpoint(root: Path, step: int, model: torch.nn.Module | None, trainer_state: dict[str, Any],
                    meta: dict[str, Any], keep_last: int | None = None,
                    write_extra: Callable[[Path], None] | None = None) -> Path:
    """Write `root/step-XXXXXX/` atomically, then delete all but the newest `keep_last` checkpoints.

    `model`: its weights go to `model.safetensors` (None when `write_extra` writes the weights, as
    `save_pretrained` does). `write_extra(folder)`: adds files before `meta.json` seals the folder.
    """
    from safetensors.torch import save_file, save_model

    target = step_dir(root, step)
    with atomic_path(target) as tmp:
        tmp.mkdir(parents=True)
        if model is not None:
            save_model(model, str(tmp / "model.safetensors"))
        if write_extra is not None:
            write_extra(tmp)
        tensors: dict[str, torch.Tensor] = {}
        tree = encode_state(trainer_state, tensors)
        save_file(tensors, str(tmp / STATE_TENSORS))
        # allow_nan: a best-so-far score starts at -inf; Python's json reads it back exactly
        (tmp / STATE_JSON).write_text(json.dumps(tree), encoding="utf-8")
        files = {name: sha256_file(tmp / name) for name in _files(tmp)}
        write_json_atomic(tmp / META_FILE, {"format": FORMAT, "step": step, **meta, "files": files})
    if keep_last:
        for old in list_checkpoints(root)[:-keep_last]:
            # meta.json first: a deletion cut short leaves an ignored folder, not a broken checkpoint
            (old.path / META_FILE).unlink(missing_ok=True)
            shutil.rmtree(old.path, ignore_errors=True)
    return target


def verify_checkpoint(ckpt: Checkpoint) -> None:
    """Every file present, none added, each matching the sha256 that meta.json recorded."""
    hint = "Delete the folder to resume from the previous checkpoint."
    if ckpt.meta.get("format") != FORMAT or not isinstance(ckpt.meta.get("files"), dict):
        legacy = " (it holds trainer_state.pt, a pickle, which is never loaded)" \
            if (ckpt.path / "trainer_state.pt").exists() else ""
        raise CheckpointError(f"checkpoint {ckpt.path} has format {ckpt.meta.get('format')!r}, this version reads "
                              f"format {FORMAT}{legacy}. {hint}")
    recorded: dict[str, Any] = ckpt.meta["files"]
    present = set(_files(ckpt.path))
    for name in sorted(set(recorded) - present):
        raise CheckpointError(f"corrupted checkpoint {ckpt.path}: {name} is missing. {hint}")
    for name in sorted(present - set(recorded)):
        raise CheckpointError(f"checkpoint {ckpt.path}: {name} was added after the checkpoint was written "
                              f"(meta.json does not list it); refusing to load it. {hint}")
    for name, want in sorted(recorded.items()):
        if sha256_file(ckpt.path / name) != want:
            raise CheckpointError(f"checkpoint {ckpt.path}: {name} changed after the checkpoint was written (its "
                                  f"sha256 differs from meta.json); refusing to load it. {hint}")


def load_state(ckpt: Checkpoint) -> dict[str, Any]:
    """The trainer state of a verified checkpoint (call `verify_checkpoint` first)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(ckpt.path / STATE_TENSORS), device="cpu")
        state = decode_state(read_json(ckpt.path / STATE_JSON), tensors)
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise CheckpointError(f"corrupted checkpoint {ckpt.path}: cannot read the trainer state ({e}). Delete "
                              "the folder to resume from the previous checkpoint.") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"corrupted checkpoint {ckpt.path}: {STATE_JSON} does not hold a dict")
    return state


def load_checkpoint(ckpt: Checkpoint, model: torch.nn.Module | None, expect: dict[str, Any]) -> dict[str, Any]:
    """Verify the folder, load weights into `model` (unless None) and return the trainer state.

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
    verify_checkpoint(ckpt)
    if model is not None:
        weights = ckpt.path / "model.safetensors"
        try:
            missing, unexpected = load_model(model, str(weights), strict=False)
        except (SafetensorError, OSError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"corrupted checkpoint {ckpt.path}: cannot read model.safetensors ({e}). Delete "
                                  "the folder to resume from the previous checkpoint.") from None
        if missing or unexpected:
            raise CheckpointError(f"{ckpt.path}: weights do not fit the model (missing {sorted(missing)[:5]}, "
                                  f"unexpected {sorted(unexpected)[:5]}); was it written by a different model config?")
    return load_state(ckpt)
