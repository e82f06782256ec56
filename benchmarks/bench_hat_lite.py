"""Median forward time of ``hat_lite``: fp32 vs bf16 autocast + channels_last.

Usage::

    python benchmarks/bench_hat_lite.py [--size 64] [--scale 4] [--repeats 10] [--warmup 2] [--threads N]

Prints one line per mode and the fp32 / bf16 ratio (> 1 means bf16 + channels_last is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import srlib


def median_ms(model: torch.nn.Module, x: torch.Tensor, *, bf16: bool, repeats: int, warmup: int) -> float:
    """Median wall time of one forward in milliseconds (after ``warmup`` untimed runs)."""
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="LR height and width")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = srlib.create_model("hat_lite", scale=args.scale).eval()
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    params = sum(p.numel() for p in model.parameters())
    print(
        f"hat_lite x{args.scale}, {params:,} params, LR {args.size}x{args.size}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )

    fp32 = median_ms(model, x, bf16=False, repeats=args.repeats, warmup=args.warmup)
    model_cl = model.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    bf16 = median_ms(model_cl, x_cl, bf16=True, repeats=args.repeats, warmup=args.warmup)
    print(f"fp32                          : {fp32:8.1f} ms (median of {args.repeats})")
    print(f"bf16 autocast + channels_last : {bf16:8.1f} ms (median of {args.repeats})")
    print(f"ratio fp32 / bf16             : {fp32 / bf16:8.2f}x")


if __name__ == "__main__":
    main()
