"""The scoring loop every evaluation runs: the standard SR protocol on images or on the user's own pairs.

Per image: modcrop the 8-bit ground truth, make the LR input with MATLAB-compatible bicubic (or take
the sample's own LR), run the model through :class:`srlib.inference.Upscaler`, quantise its output to
8 bit and compute PSNR/SSIM on BT.601 Y with ``scale`` border pixels ignored
(:mod:`srlib.metrics.protocol`); LPIPS with an :class:`~srlib.evaluation.LpipsScorer`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from srlib.evaluation.lpips import LpipsScorer
from srlib.evaluation.results import EvaluationResult, ImageScore
from srlib.inference.engine import Upscaler
from srlib.io.images import list_images, read_image, scan_images
from srlib.metrics import protocol_pair, protocol_scores

__all__ = [
    "OutputHook",
    "Sample",
    "evaluate_folder",
    "evaluate_images",
    "load_images",
    "sample_input",
    "samples_of",
    "super_resolve",
]


def super_resolve(model: nn.Module, lr: Tensor, *, dtype: str | torch.dtype | None = "fp32") -> Tensor:
    """Run ``model`` on a ``(B, 3, h, w)`` [0, 1] batch through :class:`srlib.inference.Upscaler`.

    ``dtype`` (``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"``) picks the precision with
    :func:`srlib.precision.resolve_dtype`: ``"auto"`` uses reduced precision only where the device
    computes it natively. The output is on ``lr``'s device.
    """
    return Upscaler(model, device=lr.device, dtype=dtype)(lr).to(lr.device)


OutputHook = Callable[[str, Tensor, Tensor, ImageScore], None]
#: One scored sample: ``(name, (C, H, W) uint8 ground truth)``, or
#: ``(name, ground truth, (3, h, w) uint8 LR)`` when the LR input is the user's own (paired images or
#: video frames) rather than the protocol's bicubic.
Sample = tuple[str, Tensor] | tuple[str, Tensor, Tensor]


def sample_input(sample: Sample, scale: int) -> tuple[Tensor, Tensor]:
    """``(lr, hr)`` floats in [0, 1] of one sample: its own LR when it has one, else the protocol's.

    A paired ground truth is cropped to ``scale`` times its LR (bottom/right), as the datasets do.

    Example:
        >>> hr = torch.zeros(3, 10, 9, dtype=torch.uint8)
        >>> [tuple(t.shape) for t in sample_input(("a", hr, torch.zeros(3, 2, 2, dtype=torch.uint8)), 4)]
        [(3, 2, 2), (3, 8, 8)]
    """
    if len(sample) == 2:
        return protocol_pair(sample[1], scale)
    _, hr, lr = sample
    h, w = lr.shape[-2] * scale, lr.shape[-1] * scale
    if hr.shape[-2] < h or hr.shape[-1] < w:
        raise ValueError(
            f"{sample[0]}: the LR input ({lr.shape[-1]}x{lr.shape[-2]}) times {scale} is larger than its "
            f"ground truth ({hr.shape[-1]}x{hr.shape[-2]}); pass the scale the pairs were made for."
        )
    lr_f = lr.float().div(255.0)
    if lr_f.shape[-3] == 1:
        lr_f = lr_f.repeat_interleave(3, dim=-3)
    return lr_f, hr[..., :h, :w].float().div(255.0)


def samples_of(dataset: Any) -> list[Sample]:
    """The samples of a validation dataset (items with ``"hr"``, ``"name"`` and maybe ``"lr"``, uint8)."""
    out: list[Sample] = []
    for index in range(len(dataset)):
        item = dataset[index]
        name = str(item.get("name") or index)
        out.append((name, item["hr"], item["lr"]) if "lr" in item else (name, item["hr"]))
    return out


def _score_images(
    upscaler: Upscaler,
    images: Sequence[Sample],
    scale: int,
    border: int,
    lpips: LpipsScorer | None = None,
    on_output: OutputHook | None = None,
) -> list[ImageScore]:
    """The protocol on each sample (:data:`Sample`): the one loop every evaluation runs."""
    scores = []
    for sample in images:
        name = sample[0]
        lr, hr = sample_input(sample, scale)
        sr = upscaler(lr[None])
        psnr, ssim = protocol_scores(sr, hr[None], crop_border=border)
        lp = lpips(sr, hr[None], border) if lpips is not None else None
        score = ImageScore(name, float(psnr[0]), float(ssim[0]), lp)
        scores.append(score)
        if on_output is not None:
            on_output(name, sr[0], hr, score)
    return scores


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present and len(present) == len(values) else None


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
    lpips: LpipsScorer | None = None,
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
        lpips: an :class:`LpipsScorer` to add LPIPS (``None``: not measured).

    Returns:
        :class:`EvaluationResult` with mean and per-image PSNR/SSIM.

    Raises:
        ValueError: unreadable, truncated or too large images (all listed, before any is decoded).
    """
    result = evaluate_images(
        model,
        load_images(folder, max_pixels=max_pixels),
        scale,
        device=device,
        dtype=dtype,
        crop_border=crop_border,
        name=name,
        lpips=lpips,
    )
    result.data = str(folder)
    return result


def load_images(folder: str | os.PathLike, *, max_pixels: int | None = None) -> list[tuple[str, Tensor]]:
    """``(stem, (C, H, W) uint8)`` of every image in ``folder``; all headers are checked before decoding."""
    paths = list_images(folder)
    scan_images(paths, max_pixels=max_pixels)
    return [(p.stem, read_image(p, channels="keep", max_pixels=max_pixels)) for p in paths]


def evaluate_images(
    model: nn.Module,
    images: Sequence[Sample],
    scale: int,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "fp32",
    crop_border: int | None = None,
    name: str | None = None,
    lpips: LpipsScorer | None = None,
    on_output: OutputHook | None = None,
) -> EvaluationResult:
    """Score ``model`` on samples (:data:`Sample`: a ground truth, or a ground truth and its own LR).

    See :func:`evaluate_folder`; samples with an LR input are scored on it instead of the protocol's.

    ``on_output(name, sr, hr, score)`` is called with each output and its ground truth (floats in [0, 1]).
    """
    model_scale = getattr(model, "scale", scale)
    if int(model_scale) != int(scale):
        raise ValueError(
            f"The model upscales x{model_scale} but evaluation asked for x{scale}; "
            f"pass --scale {model_scale} or a model built for x{scale}."
        )
    if not images:
        raise ValueError("No images to evaluate on.")
    upscaler = Upscaler(model, device=device, dtype=dtype)
    return _result(name or type(model).__name__, upscaler, images, scale, crop_border, lpips, on_output)


def _result(
    name: str,
    upscaler: Upscaler,
    images: Sequence[Sample],
    scale: int,
    crop_border: int | None,
    lpips: LpipsScorer | None,
    on_output: OutputHook | None,
) -> EvaluationResult:
    border = scale if crop_border is None else crop_border
    scores = _score_images(upscaler, images, scale, border, lpips, on_output)
    return EvaluationResult(
        model=name,
        data=f"{len(images)} images",
        scale=int(scale),
        psnr=sum(s.psnr for s in scores) / len(scores),
        ssim=sum(s.ssim for s in scores) / len(scores),
        per_image=scores,
        lpips=_mean_or_none([s.lpips for s in scores]) if lpips is not None and lpips.available else None,
    )
