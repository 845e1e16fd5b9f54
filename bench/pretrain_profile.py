"""Where an MLM training step's time goes, per part (torch.profiler, CPU): the rest of MFU.

    .venv/bin/python bench/pretrain_profile.py [--layers 4 --hidden 256] [--vocab 8001] [--batch 16] [--threads 1]

The step is xling's: `mask_tokens` (15 %, 80/10/10) → `masked_lm_loss` (encoder once, LM head at the
selected positions only) → backward → AdamW (decoupled weight decay, as the trainer). Random token ids
stand in for text: the cost of a step does not depend on which ids it sees. The first step is a
warm-up; the rest are profiled. Forward time is split per part by profiler ranges around the
embeddings, each layer's attention and feed-forward blocks and the LM head; backward and the
optimizer are whole ranges (autograd does not keep module names), and the top operators follow.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict


def main(argv: list[str] | None = None) -> int:
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from xling.model import ModelConfig, build_model
    from xling.objectives.base import SpecialIds, mask_tokens, masked_lm_loss

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=8001)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3, help="profiled steps (after one warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    v = args.vocab
    special = SpecialIds(bos=0, eos=2, pad=1, unk=3, mask=v - 1, vocab_size=v, all_special=(0, 1, 2, 3, v - 1))
    mcfg = ModelConfig(num_layers=args.layers, hidden_size=args.hidden, num_heads=max(args.hidden // 64, 1),
                       intermediate_size=4 * args.hidden)
    model = build_model(mcfg, special, args.seq)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)

    # forward ranges per part, by hooks (names group every layer's block under one part)
    parts = {"embeddings": model.roberta.embeddings, "lm_head": model.lm_head}
    for i, layer in enumerate(model.roberta.encoder.layer):
        parts[f"attention.{i}"] = layer.attention
        parts[f"feed_forward.{i}"] = layer.intermediate
        parts[f"feed_forward_out.{i}"] = layer.output
    ranges: dict = {}

    def pre(name):
        def hook(module, inputs):
            ranges[name] = record_function(f"part::{name.split('.')[0]}")
            ranges[name].__enter__()
        return hook

    def post(name):
        def hook(module, inputs, output):
            ranges.pop(name).__exit__(None, None, None)
        return hook

    for name, module in parts.items():
        module.register_forward_pre_hook(pre(name))
        module.register_forward_hook(post(name))

    def step() -> None:
        with record_function("step::data (ids + masking)"):
            ids = torch.randint(4, v - 1, (args.batch, args.seq), generator=gen)
            ids[:, 0], ids[:, -1] = special.bos, special.eos
            attn = torch.ones_like(ids)
            masked, labels = mask_tokens(ids, attn.bool() & (ids > 3), special, gen)
        with record_function("step::forward"):
            loss, _, _ = masked_lm_loss(model, masked, attn, labels)
        with record_function("step::backward"):
            loss.backward()
        with record_function("step::optimizer"):
            opt.step()
            opt.zero_grad(set_to_none=True)

    step()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    events = prof.key_averages()
    totals: dict[str, float] = defaultdict(float)
    for e in events:
        if e.key.startswith(("step::", "part::")):
            totals[e.key] += e.cpu_time_total / 1e3 / args.steps
    step_ms = sum(t for k, t in totals.items() if k.startswith("step::"))
    print(f"model {args.layers}×{args.hidden}, vocab {v}, batch {args.batch}×{args.seq}, {args.threads} thread(s); "
          f"{step_ms:.0f} ms per step (mean of {args.steps})")
    print("| part | ms/step | share of step |\n|---|---:|---:|")
    for k in sorted(totals, key=lambda k: (not k.startswith("step::"), -totals[k])):
        print(f"| {k} | {totals[k]:.1f} | {totals[k] / step_ms:.1%} |")
    print("\ntop operators by self CPU time:")
    print(events.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40))
    from benchlib import conditions, emit, peak_rss_mb

    for k in ("step::forward", "step::backward", "step::optimizer", "step::data (ids + masking)"):
        emit("pretrain_profile", f"{k.split('::')[1]} share of a step ({args.layers}x{args.hidden}, vocab {v})",
             round(totals[k] / step_ms, 3), None, ms_per_step=round(step_ms), peak_rss_mb=round(peak_rss_mb()),
             **conditions())
    return 0


if __name__ == "__main__":
    sys.exit(main())
