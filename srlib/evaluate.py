"""Evaluate a model on a benchmark folder with the standard SR protocol.

    python -m srlib.evaluate --model vdsr --weights vdsr.safetensors --data path/to/Set5 --scale 4
    python -m srlib.evaluate --model runs/best.safetensors --data Set14 --scale 2 --json scores.json

Per image: modcrop the 8-bit ground truth, make the LR input with MATLAB-compatible bicubic
(``uint8``), run the model, quantise its output to 8 bit and compute PSNR/SSIM on BT.601 Y (gray
images on their gray values) with ``scale`` border pixels ignored.

Images are checked from their headers before any is decoded; one over the pixel limit
(``--max-pixels``, default ``$SRLIB_MAX_IMAGE_PIXELS`` or 100 megapixels) is refused, naming the file.
Failures print one ``error:`` line and exit with code 2 (``SRLIB_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from argparse import Namespace
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from srlib._cli import ArgumentParser, check_writable, run_cli
from srlib._fs import atomic_write
from srlib._logging import setup_cli_logging
from srlib.data.image_io import list_images, read_image, scan_images
from srlib.metrics import make_lr, modcrop, prepare_for_protocol
from srlib.metrics.functional import psnr_prepared, ssim_prepared
from srlib.models import resolve_model
from srlib.precision import resolve_dtype

__all__ = [
    "EvaluationResult",
    "ImageScore",
    "evaluate_folder",
    "evaluate_images",
    "main",
    "resolve_model",
    "super_resolve",
]

log = logging.getLogger(__name__)


@dataclass
class ImageScore:
    """Scores of one image."""

    name: str
    psnr: float
    ssim: float


@dataclass
class EvaluationResult:
    """Mean and per-image scores of one model on one folder at one scale."""

    model: str
    data: str
    scale: int
    psnr: float
    ssim: float
    per_image: list[ImageScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def super_resolve(model: nn.Module, lr: Tensor, *, dtype: str | torch.dtype | None = "fp32") -> Tensor:
    """Run ``model`` on a ``(B, 3, h, w)`` [0, 1] batch without gradients.

    ``dtype`` (``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"``) picks the autocast precision with
    :func:`srlib.precision.resolve_dtype`: ``"auto"`` uses reduced precision only where the device
    computes it natively.
    """
    run_dtype = resolve_dtype(dtype, lr.device)
    reduced = run_dtype in (torch.bfloat16, torch.float16)
    ctx = torch.autocast(lr.device.type, dtype=run_dtype) if reduced else nullcontext()
    with torch.inference_mode(), ctx:
        return model(lr).float().clamp(0.0, 1.0)


def evaluate_folder(
    model: nn.Module,
    folder: str | os.PathLike,
    scale: int,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "fp32",
    crop_border: int | None = None,
    name: str | None = None,
    max_pixels: int | None = None,
) -> EvaluationResult:
    """Score ``model`` on every image of ``folder`` with the standard SR protocol.

    Args:
        model: any srlib-contract model (RGB [0, 1] in and out) for ``scale``.
        folder: folder of HR ground-truth images.
        scale: upscaling factor.
        device: where to run (default: the model's device).
        dtype: ``"fp32"`` (default, the protocol's numbers), ``"auto"`` (bf16/fp16 only where the device
            computes it natively; scores may move by ~0.01 dB), ``"bf16"`` or ``"fp16"``.
        crop_border: border ignored by the metrics (default: ``scale``).
        name: label for the report (default: the model class name).
        max_pixels: pixel limit per image, checked from the headers before decoding (default:
            ``$SRLIB_MAX_IMAGE_PIXELS``, else 100 megapixels).

    Returns:
        :class:`EvaluationResult` with mean and per-image PSNR/SSIM.

    Raises:
        ValueError: unreadable, truncated or too large images (all listed, before any is decoded).
    """
    paths = list_images(folder)
    scan_images(paths, max_pixels=max_pixels)
    images = [(p.stem, read_image(p, channels="keep", max_pixels=max_pixels)) for p in paths]
    result = evaluate_images(
        model, images, scale, device=device, dtype=dtype, crop_border=crop_border, name=name
    )
    result.data = str(folder)
    return result


def evaluate_images(
    model: nn.Module,
    images: Sequence[tuple[str, Tensor]],
    scale: int,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "fp32",
    crop_border: int | None = None,
    name: str | None = None,
) -> EvaluationResult:
    """Score ``model`` on ``(name, (C, H, W) uint8 ground truth)`` pairs; see :func:`evaluate_folder`."""
    model_scale = getattr(model, "scale", scale)
    if int(model_scale) != int(scale):
        raise ValueError(
            f"The model upscales x{model_scale} but evaluation asked for x{scale}; "
            f"pass --scale {model_scale} or a model built for x{scale}."
        )
    if not images:
        raise ValueError("No images to evaluate on.")
    device = torch.device(device) if device is not None else _model_device(model)
    model = model.to(device).eval()
    border = scale if crop_border is None else crop_border
    scores = []
    for image_name, image in images:
        hr = modcrop(image, scale).to(device)
        lr = make_lr(hr, scale).float().div(255.0)
        if lr.shape[0] == 1:
            lr = lr.repeat(3, 1, 1)
        sr = super_resolve(model, lr[None], dtype=dtype)
        a, b = prepare_for_protocol(sr, hr[None].float().div(255.0), crop_border=border)
        scores.append(ImageScore(image_name, float(psnr_prepared(a, b)[0]), float(ssim_prepared(a, b)[0])))
    return EvaluationResult(
        model=name or type(model).__name__,
        data=f"{len(images)} images",
        scale=int(scale),
        psnr=sum(s.psnr for s in scores) / len(scores),
        ssim=sum(s.ssim for s in scores) / len(scores),
        per_image=scores,
    )


def _model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def resolve_data(data: str) -> Path:
    """A folder of HR images, or a catalogue name (its test split; DIV2K's valid split).

    Resolved by :func:`srlib.data.resolve_image_dir`, the rule every srlib entry point uses: an
    existing folder wins (``~`` expanded), else a catalogue name (case-insensitive, close matches
    suggested) found under the data directory; anything else raises FileNotFoundError saying what to do.
    """
    from srlib.data.download import resolve_image_dir

    return resolve_image_dir(data, split="test", kind="hr")


def format_table(result: EvaluationResult) -> str:
    """The per-image and mean table printed by the CLI."""
    width = max([len(s.name) for s in result.per_image] + [5])
    lines = [
        f"{result.model} on {result.data}, x{result.scale} (Y channel, {result.scale}px border)",
        f"{'image':<{width}}  {'PSNR':>7}  {'SSIM':>6}",
    ]
    lines += [f"{s.name:<{width}}  {s.psnr:7.2f}  {s.ssim:.4f}" for s in result.per_image]
    lines.append(f"{'mean':<{width}}  {result.psnr:7.2f}  {result.ssim:.4f}")
    return "\n".join(lines)


def write_json(path: str | os.PathLike, payload: dict) -> Path:
    """Write JSON atomically."""
    return atomic_write(path, lambda f: f.write(json.dumps(payload, indent=2).encode()))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.evaluate``)."""
    parser = ArgumentParser(prog="python -m srlib.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="registered name or weight file")
    parser.add_argument("--weights", help="weight file to load into a registered model")
    parser.add_argument("--data", required=True, help="folder of HR images or a benchmark name (Set5, ...)")
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--json", help="write the scores to this JSON file")
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
    args = parser.parse_args(argv)
    setup_cli_logging(logging.INFO)
    return run_cli(lambda: _run(args), outputs=[args.json])


def _run(args: Namespace) -> int:
    if args.json:
        check_writable(args.json)
    net = resolve_model(args.model, scale=args.scale, weights=args.weights)
    folder = resolve_data(args.data)
    result = evaluate_folder(
        net,
        folder,
        args.scale,
        device=args.device,
        dtype=args.dtype,
        name=args.model,
        max_pixels=args.max_pixels,
    )
    print(format_table(result))
    if args.json:
        print(f"scores written to {write_json(args.json, result.to_dict())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
