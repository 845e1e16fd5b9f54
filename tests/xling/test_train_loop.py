"""The shared loop core: the one lr schedule against transformers' schedules, accumulation, logging."""

from __future__ import annotations

import json

import pytest
import torch

from xling.core.train_loop import MetricsLog, OptimizerStep, lr_at


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_lr_at_matches_transformers_after_warmup_and_is_one_step_ahead_during_it(schedule):
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    warmup, total, lr = 7, 50, 2e-3
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    make = get_linear_schedule_with_warmup if schedule == "linear" else get_cosine_schedule_with_warmup
    hf = make(opt, warmup, total)
    reference = []
    for _ in range(total):
        reference.append(opt.param_groups[0]["lr"])
        opt.step()
        hf.step()
    ours = [lr_at(k, lr=lr, warmup_steps=warmup, total_steps=total, schedule=schedule) for k in range(total)]
    # transformers' warm-up trains step k at lr·k/W (step 0 at lr 0); ours at lr·(k+1)/W
    assert ours[:warmup - 1] == pytest.approx(reference[1:warmup])
    assert ours[warmup:] == pytest.approx(reference[warmup:])
    assert reference[0] == 0.0 and ours[0] == pytest.approx(lr / warmup)


def test_accumulated_micro_batches_give_the_full_batch_gradient():
    torch.manual_seed(0)
    x, y = torch.randn(8, 3), torch.randn(8)
    full = torch.nn.Linear(3, 1)
    split = torch.nn.Linear(3, 1)
    split.load_state_dict(full.state_dict())

    opt_full = torch.optim.SGD(full.parameters(), lr=0.1)
    torch.nn.functional.mse_loss(full(x).squeeze(-1), y).backward()
    opt_full.step()

    opt = torch.optim.SGD(split.parameters(), lr=999.0)  # the scheduled lr (0.1) must replace it
    step = OptimizerStep(opt, list(split.parameters()), lambda s: 0.1, clip_norm=0.0, accumulation=2)
    lr, _ = step(0, lambda a: torch.nn.functional.mse_loss(split(x[4 * a:4 * a + 4]).squeeze(-1), y[4 * a:4 * a + 4]))
    assert lr == 0.1
    for a, b in zip(full.parameters(), split.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert all(p.grad is None for p in split.parameters())


def test_a_groups_lr_scale_multiplies_the_scheduled_lr():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr_scale": 10.0}], lr=1.0)
    step = OptimizerStep(opt, [a, b], lambda s: 0.01, clip_norm=0.0)
    lr, _ = step(0, lambda _: (a + b).sum())  # gradient 1 for every element
    assert lr == 0.01  # the schedule's lr is what is reported
    # SGD by hand: p ← p − lr · scale · 1
    torch.testing.assert_close(a.detach(), torch.full((2,), -0.01))
    torch.testing.assert_close(b.detach(), torch.full((2,), -0.1))


def test_metrics_log_drops_rows_after_the_resumed_step(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3, 4))
                                            + '{"step": 5, "lo')  # a line cut short by a kill
    log = MetricsLog(tmp_path, resume_step=2)
    log.write({"step": 3, "loss": 1.0})
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_precision_resolution_and_autocast(monkeypatch):
    from xling.core.train_loop import autocast, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    for native, want in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda native=native: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        assert resolve_precision("auto", cpu) == want
    x = torch.ones(2, 2)
    with autocast("bf16", cpu):
        assert (x @ x).dtype == torch.bfloat16
    with autocast("fp32", cpu):
        assert (x @ x).dtype == torch.float32
