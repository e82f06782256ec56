"""Evaluate models on benchmark sets with the standard SR protocol: one table of quality and cost.

    python -m srlib.evaluate --model vdsr --weights vdsr.safetensors --data path/to/Set5 --scale 4
    python -m srlib.evaluate --model bicubic,fsrcnn_x4.safetensors --model vdsr.safetensors \\
        --data Set5 Set14 --scale 2 3 4 --md table.md --csv table.csv --json table.json \\
        --crops crops/ --plot quality_vs_speed.png

Every (model, set, scale) gets a row. Per image: modcrop the 8-bit ground truth, make the LR input
with MATLAB-compatible bicubic (``uint8``), run the model through :class:`srlib.inference.Upscaler`,
quantise its output to 8 bit and compute PSNR/SSIM on BT.601 Y (gray images on their gray values)
with ``scale`` border pixels ignored (:mod:`srlib.metrics.protocol`); LPIPS when its backbone file is
on this machine (else "unavailable"). Per (model, scale): parameters, size (fp32), FLOPs and the median
frames/s of one input of ``--speed-size`` after warm-up runs.

A weight file for another scale is not run at the requested one: it is skipped with a note, unless
:func:`srlib.models.resolve_model` rebuilds it (architectures whose weights serve every scale, VDSR).
A registered name that does not support a scale is skipped the same way. A run where nothing is left
to evaluate is an error.

Images are checked from their headers before any is decoded; one over the pixel limit
(``--max-pixels``, default ``$SRLIB_MAX_IMAGE_PIXELS`` or 100 megapixels) is refused, naming the file.
Failures print one ``error:`` line and exit with code 2 (``SRLIB_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from srlib._cli import ArgumentParser, check_writable, run_cli
from srlib._fs import atomic_write, write_json
from srlib._logging import setup_cli_logging
from srlib.evaluation import (
    EvaluationResult,
    EvaluationTable,
    ImageScore,
    LpipsScorer,
    ModelCost,
    TableRow,
    evaluate_folder,
    evaluate_images,
    evaluate_table,
    evaluate_video_pairs,
    format_table,
    load_images,
    measure_cost,
    plot_quality_vs_speed,
    super_resolve,
    write_temporal_profile,
)
from srlib.models import resolve_model

__all__ = [
    "EvaluationResult",
    "EvaluationTable",
    "ImageScore",
    "LpipsScorer",
    "ModelCost",
    "TableRow",
    "evaluate_folder",
    "evaluate_images",
    "evaluate_table",
    "load_images",
    "main",
    "measure_cost",
    "plot_quality_vs_speed",
    "resolve_model",
    "super_resolve",
]


def _split(values: Sequence[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``; an existing path is never split at its commas."""
    out = []
    for value in values:
        out += (
            [value]
            if Path(value).expanduser().exists()
            else [v.strip() for v in value.split(",") if v.strip()]
        )
    return out


def _scales(text: str) -> list[int]:
    try:
        scales = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid scale {text!r}: give integers such as 2 3 4") from None
    if not scales or min(scales) < 1:
        raise argparse.ArgumentTypeError(f"invalid scale {text!r}: give integers such as 2 3 4")
    return scales


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: give WIDTHxHEIGHT such as 256x144")
    return int(w), int(h)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m srlib.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", action="append", required=True, help="registered name or weight file; repeat or comma-list"
    )
    parser.add_argument("--weights", help="weight file to load into a single registered --model")
    parser.add_argument(
        "--data",
        action="append",
        nargs="+",
        default=[],
        help="folders of HR images or benchmark names (Set5 Set14 BSD100 Urban100)",
    )
    parser.add_argument(
        "--pairs",
        action="append",
        nargs=2,
        default=[],
        metavar=("HR_DIR", "LR_DIR"),
        help="your own LR/HR image pairs (matched by name; repeatable); the models run on your LR",
    )
    parser.add_argument(
        "--video-pairs",
        action="append",
        default=[],
        metavar="DIR",
        help="paired clips DIR/lr/NAME.mp4 + DIR/hr/NAME.mp4: every frame (matched by timestamp) through "
        "each model in order (video models with their window or state), PSNR/SSIM and tdiff_psnr",
    )
    parser.add_argument(
        "--video-policy",
        default=None,
        choices=["none", "resize_lr", "resize_hr", "crop"],
        help="size policy for clip pairs not exactly --scale apart (144p/480p: resize_hr)",
    )
    parser.add_argument(
        "--profile", help="with --video-pairs: write a temporal profile (one pixel row over time) PNG here"
    )
    parser.add_argument("--scale", type=_scales, nargs="+", required=True, help="one or more: --scale 2 3 4")
    parser.add_argument("--json", help="write the table (with per-image scores) to this JSON file")
    parser.add_argument("--md", help="write the markdown table to this file")
    parser.add_argument("--csv", help="write the table to this CSV file")
    parser.add_argument("--crops", help="folder for side-by-side crops per image (PNG)")
    parser.add_argument("--crop-size", type=int, default=48, help="HR pixels of each crop (default 48)")
    parser.add_argument(
        "--crop-zoom", type=int, default=4, help="nearest-neighbour zoom of the crops (default 4)"
    )
    parser.add_argument("--plot", help="write a PSNR vs frames/s scatter plot to this PNG")
    parser.add_argument(
        "--lpips",
        default="alex",
        choices=["alex", "vgg", "squeeze", "none"],
        help="LPIPS backbone (default alex; 'unavailable' without its local file); none to skip",
    )
    parser.add_argument(
        "--lpips-weights",
        default="imagenet",
        help="backbone state dict file, or imagenet (torchvision's file in the local torch hub cache)",
    )
    parser.add_argument(
        "--speed-size", type=_size, default=(256, 144), help="LR input WxH for FLOPs and frames/s (256x144)"
    )
    parser.add_argument("--speed-warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--speed-runs", type=int, default=10, help="timed runs, median reported (0: none)")
    parser.add_argument("--per-image", action="store_true", help="print the per-image scores of every row")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype",
        default="fp32",
        choices=["auto", "bf16", "fp16", "fp32"],
        help="fp32 (default: the protocol's numbers); auto = bf16/fp16 where the device has it natively",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse larger images (pixels; default $SRLIB_MAX_IMAGE_PIXELS or 100000000)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.evaluate``)."""
    args = build_parser().parse_args(argv)
    setup_cli_logging(logging.INFO)
    outputs = [args.json, args.md, args.csv, args.plot, args.profile, args.crops]
    return run_cli(lambda: _run(args), outputs=outputs)


def _run(args: Namespace) -> int:
    for path in (args.json, args.md, args.csv, args.plot, args.profile):
        if path:
            check_writable(path)
    if args.crops:
        check_writable(args.crops, folder=True)
    if args.speed_warmup < 0 or args.speed_runs < 0:
        raise ValueError("--speed-warmup and --speed-runs must be 0 or more.")
    if args.plot and args.speed_runs == 0:
        raise ValueError("--plot needs frames/s: drop --speed-runs 0.")
    if not (args.data or args.pairs or args.video_pairs):
        raise ValueError(
            "Give --data SET (or a folder of HR images), --pairs HR_DIR LR_DIR or --video-pairs DIR."
        )
    scales = [s for group in args.scale for s in group]
    table = None
    if args.data or args.pairs:
        table = evaluate_table(
            _split(args.model),
            _split([d for group in args.data for d in group]),
            scales,
            weights=args.weights,
            device=args.device,
            dtype=args.dtype,
            speed_size=args.speed_size,
            speed_warmup=args.speed_warmup,
            speed_runs=args.speed_runs,
            lpips=None if args.lpips == "none" else args.lpips,
            lpips_weights=args.lpips_weights,
            crops=args.crops,
            crop_size=args.crop_size,
            crop_zoom=args.crop_zoom,
            max_pixels=args.max_pixels,
            pairs=[tuple(p) for p in args.pairs],
        )
    videos = [
        evaluate_video_pairs(
            _split(args.model),
            root,
            scale=scale,
            device=args.device,
            dtype=args.dtype,
            policy={"size_policy": args.video_policy} if args.video_policy else None,
            speed_size=args.speed_size,
            speed_warmup=args.speed_warmup,
            speed_runs=args.speed_runs,
        )
        for root in args.video_pairs
        for scale in dict.fromkeys(scales)
    ]
    markdown = ""
    if table is not None:
        if args.per_image or len(table.evaluated) == 1:
            for row in table.evaluated:
                assert row.result is not None
                print(format_table(row.result) + "\n")
        markdown = table.to_markdown()
    markdown += "".join(("\n" if markdown else "") + v.to_markdown() for v in videos)
    print(markdown, end="")
    outputs = [(args.md, markdown)] + ([(args.csv, table.to_csv())] if table is not None else [])
    for path, text in outputs:
        if path:
            print(f"table written to {atomic_write(path, lambda f, t=text: f.write(t.encode()))}")
    if args.json:
        data = table.to_dict() if table is not None else {}
        if videos:
            data["video"] = [v.to_dict() for v in videos]
        print(f"table written to {write_json(args.json, data)}")
    if args.plot:
        if table is None:
            raise ValueError("--plot draws the image table: give --data or --pairs too.")
        print(f"plot written to {plot_quality_vs_speed(table, args.plot)}")
    if args.profile:
        if not videos:
            raise ValueError("--profile draws a clip of --video-pairs: give --video-pairs DIR.")
        rows = {name: [r[:, None] for r in rows] for name, rows in videos[0].profiles.items()}
        print(f"temporal profile written to {write_temporal_profile(args.profile, rows, row=0)}")
    if args.crops:
        print(f"crops written under {args.crops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
