"""Reproduce the VDSR paper's Set5/Set14 table with the reference weights and srlib's protocol.

    python benchmarks/reproduce_vdsr.py [--dtype auto|bf16|fp32] [--shared ../shared]

Prints bicubic and VDSR Y-PSNR/SSIM per set and scale beside the published numbers
(Kim et al., CVPR 2016, Table 3) and the differences.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import srlib
from srlib.evaluation import evaluate_folder

PAPER = {  # (bicubic, VDSR) PSNR in dB
    ("Set5", 2): (33.66, 37.53),
    ("Set5", 3): (30.39, 33.66),
    ("Set5", 4): (28.42, 31.35),
    ("Set14", 2): (30.24, 33.03),
    ("Set14", 3): (27.55, 29.77),
    ("Set14", 4): (26.00, 28.01),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--dtype", default="fp32", help="fp32 (the protocol), auto or bf16 for VDSR")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    args = parser.parse_args()
    weights = args.shared / "weights" / "vdsr_model_epoch_50.safetensors"
    print(
        f"{'set':<6} {'x':>2}  {'bicubic':>8} {'paper':>6} {'diff':>6}   "
        f"{'VDSR':>6} {'paper':>6} {'diff':>6}  {'SSIM':>6}  {'s':>5}"
    )
    for name in args.sets:
        for scale in (2, 3, 4):
            folder = args.shared / "data" / name
            started = time.perf_counter()
            bic = evaluate_folder(srlib.create_model("bicubic", scale=scale), folder, scale)
            vdsr = evaluate_folder(srlib.load_model(weights, scale=scale), folder, scale, dtype=args.dtype)
            pb, pv = PAPER[(name, scale)]
            print(
                f"{name:<6} {scale:>2}  {bic.psnr:8.3f} {pb:6.2f} {bic.psnr - pb:+6.3f}   "
                f"{vdsr.psnr:6.3f} {pv:6.2f} {vdsr.psnr - pv:+6.3f}  {vdsr.ssim:.4f}  "
                f"{time.perf_counter() - started:5.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
