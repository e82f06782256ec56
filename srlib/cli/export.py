"""Export and combine weights: ``python -m srlib.export WEIGHTS OUT.onnx`` and ``... blend A B OUT``.

``python -m srlib.export WEIGHTS OUT.onnx [--scale S] [--static HxW]`` writes an ONNX file with a
dynamic batch, height and width (``--static`` fixes the input size for networks that only export at
one size) and checks it with onnxruntime against PyTorch at two input sizes, printing the largest
absolute difference. WEIGHTS is a weight file or a registered name (random weights, for a try-out).

``python -m srlib.export blend A B OUT --weight-b 0.3`` writes ``0.7 * A + 0.3 * B`` as an srlib
``.safetensors`` file (network interpolation; Real-ESRGAN's denoise strength). A and B are weight
files of the same network.

Failures print one ``error:`` line and exit with code 2 (``SRLIB_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import logging
import sys
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from srlib._cli import ArgumentParser, check_writable, run_cli
from srlib._logging import setup_cli_logging

__all__ = ["main"]


def _size(text: str) -> tuple[int, int]:
    """``HxW`` (e.g. ``144x256``) -> ``(height, width)``."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--static takes HEIGHTxWIDTH, e.g. 144x256; got {text!r}.") from None
    if min(h, w) < 1:
        raise ValueError(f"--static needs a positive size, got {text!r}.")
    return h, w


def _check_output(path: Path, overwrite: bool, *sources: str) -> None:
    for source in sources:
        if Path(source).exists() and Path(source).resolve() == path.resolve():
            raise ValueError(f"OUT {path} is one of the inputs; choose another path so the original is kept.")
    check_writable(path)
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists; pass --overwrite to replace it.")


def _export(args: Namespace) -> int:
    from srlib.inference.onnx import export_onnx
    from srlib.models import create_model, load_model

    _check_output(args.output, args.overwrite, args.weights)
    if Path(args.weights).exists() or Path(args.weights).suffix in (".safetensors", ".pth", ".pt"):
        net = load_model(args.weights, **({"scale": args.scale} if args.scale else {}))
    else:
        net = create_model(args.weights, **({"scale": args.scale} if args.scale else {}))
    report = export_onnx(net, args.output, static=_size(args.static) if args.static else None)
    errors = ", ".join(f"{shape}: {err:.1e}" for shape, err in report.max_abs_error.items())
    kind = "dynamic batch/height/width" if report.dynamic else f"static input {args.static}"
    print(f"{args.output} ({report.bytes / 2**20:.2f} MB, {kind}); max |onnxruntime - torch|: {errors}")
    return 0


def _blend(args: Namespace) -> int:
    from srlib.models import blend_models, save_model

    _check_output(args.output, args.overwrite, args.a, args.b)
    out = save_model(blend_models(args.a, args.b, args.weight_b), args.output)
    print(f"{out}: {1 - args.weight_b:g} x {args.a} + {args.weight_b:g} x {args.b}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.export``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["blend"]:
        parser = ArgumentParser(prog="python -m srlib.export blend", description="Blend two weight files.")
        parser.add_argument("a", help="first weight file (weight 1 - WEIGHT_B)")
        parser.add_argument("b", help="second weight file of the same network")
        parser.add_argument("output", type=Path, help=".safetensors file to write")
        parser.add_argument("--weight-b", type=float, required=True, help="share of B, in [0, 1]")
        parser.add_argument("--overwrite", action="store_true")
        args = parser.parse_args(argv[1:])
        setup_cli_logging(logging.WARNING)
        return run_cli(lambda: _blend(args), outputs=[args.output])
    parser = ArgumentParser(prog="python -m srlib.export", description=__doc__.split("\n")[0])
    parser.add_argument("weights", help="weight file (or a registered name: random weights)")
    parser.add_argument("output", type=Path, help=".onnx file to write")
    parser.add_argument("--scale", type=int, default=None, help="build for this scale (multi-scale nets)")
    parser.add_argument("--static", metavar="HxW", help="export one fixed input size instead of dynamic")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    setup_cli_logging(logging.WARNING)
    return run_cli(lambda: _export(args), outputs=[args.output])


if __name__ == "__main__":
    sys.exit(main())
