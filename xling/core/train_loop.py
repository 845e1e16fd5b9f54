"""The training-loop core shared by pretraining, back-translation and evaluation fine-tuning.

What every loop does the same way lives here, once:
- `lr_at`: the one learning-rate schedule (linear warm-up, then linear/cosine decay or constant);
- `OptimizerStep`: one optimizer step — set the scheduled lr, run the micro-batches of gradient
  accumulation (each loss divided by their number), an optional gradient hook (the data-parallel
  all-reduce), clipping, `optimizer.step()`, `zero_grad`;
- `MetricsLog`: `metrics.jsonl` (+ the trackers of `report_to`: TensorBoard, W&B, MLflow, see
  `xling.core.tracking`), cut back to the resumed step so a resumed run writes each row once;
- `resolve_precision`/`autocast`: `precision: auto` → bf16 autocast where the hardware has bf16
  units (CUDA with bf16, CPUs with AVX512-BF16 or AMX), fp32 elsewhere;
- `rng_state`/`restore_rng` and `save_training`/`resume_training`: checkpoints in the one format of
  `xling.core.checkpoint` (optimizer + RNG + the caller's data position, never unpickled).

The loops keep what is theirs: what a micro-batch is, evaluation, and what a finished run writes.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from xling.core.checkpoint import Checkpoint, latest_checkpoint, load_checkpoint, save_checkpoint
from xling.core.tracking import Tracker

Schedule = Literal["linear", "cosine", "constant"]
Precision = Literal["auto", "fp32", "bf16"]


def resolve_precision(precision: Precision, device: torch.device) -> str:
    """"fp32" or "bf16": `auto` picks bf16 only where it is native."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    # CPU bf16 autocast only pays off with native bf16 instructions; without them (this project's
    # 2-core AMD EPYC) a backward pass measured ~10× slower than fp32.
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bf16" if native else "fp32"


def autocast(precision: Precision, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for the forward pass (weights, gradients and optimizer state stay fp32)."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lr_at(step: int, *, lr: float, warmup_steps: int, total_steps: int, schedule: Schedule = "linear",
          min_lr_ratio: float = 0.0) -> float:
    """The learning rate of optimizer step `step` (0-based): linear warm-up over `warmup_steps`
    (step 0 already gets lr/warmup, never 0), then linear or cosine decay to `lr × min_lr_ratio` at
    `total_steps`, or constant."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    floor = lr * min_lr_ratio
    if schedule == "cosine":
        return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return floor + (lr - floor) * (1.0 - progress)


def grad_norm(params: Sequence[torch.nn.Parameter]) -> torch.Tensor:
    norms = [p.grad.detach().norm() for p in params if p.grad is not None]
    return torch.stack(norms).norm() if norms else torch.zeros(())


class OptimizerStep:
    """One optimizer step with gradient accumulation, the scheduled lr and clipping."""

    def __init__(self, optimizer: torch.optim.Optimizer, params: Sequence[torch.nn.Parameter],
                 lr: Callable[[int], float], clip_norm: float, accumulation: int = 1,
                 grad_hook: Callable[[], None] | None = None) -> None:
        self.optimizer, self.params, self.lr = optimizer, list(params), lr
        self.clip_norm, self.accumulation, self.grad_hook = clip_norm, accumulation, grad_hook

    def __call__(self, step: int, micro: Callable[[int], torch.Tensor]) -> tuple[float, torch.Tensor]:
        """Run `micro(a)` for a = 0..accumulation-1 (each returns its mean loss), then step.
        Returns (the lr used, the gradient norm before clipping). A parameter group's `lr_scale` (default
        1) multiplies the scheduled lr for its parameters."""
        lr = self.lr(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        for a in range(self.accumulation):
            (micro(a) / self.accumulation).backward()
        if self.grad_hook is not None:
            self.grad_hook()
        norm = (torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm) if self.clip_norm > 0
                else grad_norm(self.params))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return lr, norm


# ------------------------------------------------------------------------------------------ logging


class MetricsLog:
    """metrics.jsonl (main process only), and the experiment trackers named in `report_to`."""

    def __init__(self, out: Path, resume_step: int, enabled: bool = True, report_to: Sequence[str] = (),
                 run_name: str | None = None, config: dict[str, Any] | None = None, kind: str = "train") -> None:
        self.path = Path(out) / "metrics.jsonl"
        self.enabled = enabled
        self.tracker: Tracker | None = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            # rows after the checkpoint we resume from are replayed by this run: drop them
            kept = [ln for ln in self.path.read_text(encoding="utf-8").splitlines() if _row_step(ln) <= resume_step]
            self.path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
        if report_to:
            self.tracker = Tracker(Path(out), report_to, run_name or Path(out).resolve().name, config,
                                   resume_step, kind)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        if self.tracker is not None:
            self.tracker.log(row, row["step"])

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None


def _row_step(line: str) -> float:
    """Step of a metrics.jsonl row; a line cut short by a kill counts as after any checkpoint."""
    try:
        return float(json.loads(line).get("step", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return math.inf


# ---------------------------------------------------------------------------------- checkpoint/resume


def rng_state() -> dict[str, Any]:
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])


def save_training(root: Path, step: int, model: torch.nn.Module | None, optimizer_state: dict[str, Any],
                  data: dict[str, Any], meta: dict[str, Any] | None = None, keep_last: int = 1,
                  extra: dict[str, Any] | None = None, write_extra: Callable[[Path], None] | None = None) -> Path:
    """A checkpoint of step `step`: weights, optimizer, RNG, the loop's data position (`data`)."""
    state = {"optimizer": optimizer_state, "rng": rng_state(), "data": {"step": step, **data}, **(extra or {})}
    return save_checkpoint(root, step, model, state, meta or {}, keep_last=keep_last, write_extra=write_extra)


def resume_training(root: Path, model: torch.nn.Module | None, expect: dict[str, Any] | None = None
                    ) -> tuple[Checkpoint | None, dict[str, Any]]:
    """(latest checkpoint, its state) with the weights loaded into `model`; (None, {}) to start fresh.
    The caller restores the optimizer (it may be sharded) and the RNG (`restore_rng`) itself."""
    ckpt = latest_checkpoint(root)
    if ckpt is None:
        return None, {}
    return ckpt, load_checkpoint(ckpt, model, expect or {})
