"""Peak matmul FLOP/s of this CPU for fp32 and bf16 with a given torch thread count: the ceiling MFU is measured against.

    .venv/bin/python bench/matmul_peak.py [--threads 2] [--n 2048] [--trials 5]

One square n × n @ n × n product is 2·n³ FLOPs; the best of `--trials` timed products (after a
warm-up) is reported, since on a shared machine the best trial is the least disturbed one.
`bench/pretrain_throughput.py` divides model FLOPs/s by this number.
"""

from __future__ import annotations

import argparse
import sys
import time


def peak_matmul_flops(dtype_name: str = "fp32", threads: int = 2, n: int = 2048, trials: int = 5) -> float:
    """Best-of-`trials` FLOP/s of one n×n matmul in `dtype_name` ('fp32' or 'bf16') on `threads` threads."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen).to(dtype)
        b = torch.randn(n, n, generator=gen).to(dtype)
        out = torch.empty(n, n, dtype=dtype)
        torch.mm(a, b, out=out)  # warm-up: thread pool, packing buffers
        best = float("inf")
        for _ in range(trials):
            t0 = time.perf_counter()
            torch.mm(a, b, out=out)
            best = min(best, time.perf_counter() - t0)
        return 2 * n ** 3 / best
    finally:
        torch.set_num_threads(old)


def main(argv: list[str] | None = None) -> int:
    from benchlib import conditions, emit, peak_rss_mb

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args(argv)
    peaks = {d: peak_matmul_flops(d, args.threads, args.n, args.trials) for d in ("fp32", "bf16")}
    for d, f in peaks.items():
        print(f"{d}: {f / 1e9:8.1f} GFLOP/s  ({args.n}² matmul, {args.threads} threads, best of {args.trials})")
    emit("matmul_peak", f"bf16 / fp32 peak matmul ({args.threads} threads)", round(peaks["bf16"] / peaks["fp32"], 3),
         None, fp32_gflops=round(peaks["fp32"] / 1e9, 1), bf16_gflops=round(peaks["bf16"] / 1e9, 1),
         peak_rss_mb=round(peak_rss_mb()), **conditions())
    return 0


if __name__ == "__main__":
    sys.exit(main())
