"""Upscale an image file: ``python -m srlib.upscale IN OUT --model NAME_OR_WEIGHTS --scale S``.

``--model`` takes a registered name (``bicubic``, ``vdsr`` with ``--weights FILE``) or a weight
file (srlib ``.safetensors`` or a recognised foreign ``.pth``). The output is written atomically;
an existing file is only replaced with ``--overwrite``, and never the input itself. An input over the
pixel limit (``--max-pixels``, default ``$SRLIB_MAX_IMAGE_PIXELS`` or 100 megapixels) is refused from
its header, before decoding. Failures print one ``error:`` line and exit with code 2
(``SRLIB_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import logging
import sys
import types
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from srlib._cli import ArgumentParser, check_writable, run_cli
from srlib._logging import setup_cli_logging
from srlib.data.image_io import read_image, write_image
from srlib.inference import upscale
from srlib.models import resolve_model

__all__ = ["main", "upscale"]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.upscale``)."""
    parser = ArgumentParser(prog="python -m srlib.upscale", description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", required=True, help="registered name or weight file")
    parser.add_argument("--weights", help="weight file to load into a registered model")
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bf16", "fp16", "fp32"],
        help="auto (default) = bf16/fp16 only where the device computes it natively, else fp32",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse a larger input (pixels; default $SRLIB_MAX_IMAGE_PIXELS or 100000000)",
    )
    args = parser.parse_args(argv)
    setup_cli_logging(logging.WARNING)
    return run_cli(lambda: _run(args), outputs=[args.output])


def _run(args: Namespace) -> int:
    if args.output.resolve() == args.input.resolve():
        raise ValueError("OUT is the input file; choose another output path so the original is kept.")
    check_writable(args.output)
    if args.output.exists() and not args.overwrite:
        raise ValueError(f"{args.output} exists; pass --overwrite to replace it.")
    image = read_image(args.input, channels="keep", max_pixels=args.max_pixels)
    net = resolve_model(args.model, scale=args.scale, weights=args.weights)
    sr = upscale(image, net, dtype=args.dtype)
    write_image(args.output, sr)
    print(
        f"{args.input} ({image.shape[-1]}x{image.shape[-2]}) -> {args.output} ({sr.shape[-1]}x{sr.shape[-2]})"
    )
    return 0


class _CallableModule(types.ModuleType):
    """Lets ``srlib.upscale(...)`` stay the function after this CLI module has been imported."""

    def __call__(self, *args, **kwargs):
        return upscale(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
