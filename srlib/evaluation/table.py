"""Models x benchmark sets x scales under the protocol, each with its cost: :func:`evaluate_table`.

A weight file for another scale is not run at the requested one: it is skipped with a note, unless
:func:`srlib.models.resolve_model` rebuilds it (architectures whose weights serve every scale, VDSR).
A registered name that does not support a scale is skipped the same way. A run where nothing is left
to evaluate is an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srlib.evaluation.cost import device_name, measure_cost
from srlib.evaluation.lpips import LpipsScorer
from srlib.evaluation.results import EvaluationTable, ModelCost, TableRow
from srlib.evaluation.scoring import Sample, _result, _score_images, load_images, samples_of
from srlib.evaluation.visuals import _CropSheets
from srlib.inference.engine import Upscaler, model_flags
from srlib.io.images import list_images, scan_images
from srlib.models import WEIGHT_SUFFIXES, model_info, resolve_model

__all__ = ["WEIGHT_SUFFIXES", "evaluate_table", "resolve_data"]

log = logging.getLogger(__name__)


def resolve_data(data: str) -> Path:
    """A folder of HR images, or a catalogue name (its test split; DIV2K's valid split).

    Resolved by :func:`srlib.data.resolve_image_dir`, the rule every srlib entry point uses: an
    existing folder wins (``~`` expanded), else a catalogue name (case-insensitive, close matches
    suggested) found under the data directory; anything else raises FileNotFoundError saying what to do.
    """
    from srlib.data.download import resolve_image_dir

    return resolve_image_dir(data, split="test", kind="hr")


@dataclass
class _Spec:
    label: str
    source: str
    is_file: bool
    loaded: nn.Module | None = None  # a weight file at its own scale, loaded once


def _model_spec(source: str) -> _Spec:
    path = Path(source).expanduser()
    is_file = path.suffix in WEIGHT_SUFFIXES or path.is_file()
    return _Spec(path.stem if is_file else source, source, is_file)


def _unique_labels(specs: list[_Spec]) -> list[_Spec]:
    seen: dict[str, int] = {}
    for spec in specs:
        seen[spec.label] = seen.get(spec.label, 0) + 1
    for spec in specs:
        if seen[spec.label] > 1 and spec.is_file:
            spec.label = spec.source
    return specs


def _build(spec: _Spec, scale: int, weights: str | None) -> tuple[nn.Module | None, str]:
    """The network of ``spec`` at ``scale``, or ``None`` and why it cannot run at that scale."""
    if spec.is_file:
        if spec.loaded is None:
            from srlib.models import load_model

            spec.loaded = load_model(spec.source)  # loading problems are errors, not skips
        native = int(getattr(spec.loaded, "scale", scale))
        if native == scale:
            return spec.loaded, ""
        try:
            net = resolve_model(spec.source, scale=scale)
        except ValueError as err:
            return None, f"skipped: {err}"
        return net, f"x{native} weights rebuilt at x{scale} (its weights serve every scale)"
    scales = model_info(spec.source).scales  # an unknown name is an error (close matches named)
    if scales and scale not in scales:
        return None, f"skipped: {spec.source} supports x{', x'.join(map(str, scales))} only"
    return resolve_model(spec.source, scale=scale, weights=weights), ""


def _data_label(spec: str, folder: Path) -> str:
    return folder.name if Path(spec).expanduser().is_dir() else spec


def evaluate_table(
    models: Sequence[str],
    data: Sequence[str | os.PathLike],
    scales: Sequence[int],
    *,
    weights: str | None = None,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
    speed_size: tuple[int, int] = (256, 144),
    speed_warmup: int = 2,
    speed_runs: int = 10,
    lpips: str | None = "alex",
    lpips_weights: str = "imagenet",
    crops: str | os.PathLike | None = None,
    crop_size: int = 48,
    crop_zoom: int = 4,
    max_pixels: int | None = None,
    pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]] = (),
    video_pairs: Sequence[str | os.PathLike] = (),
) -> EvaluationTable:
    """Models x benchmark sets x scales under the protocol, with each model's cost.

    Args:
        models: registered names or weight files (``.safetensors``, ``.pth``, ...).
        data: folders of HR images or catalogue names (``"Set5"``, ``"Urban100"``), resolved by
            :func:`srlib.data.resolve_image_dir` (test split).
        scales: upscaling factors. A weight file for another scale is skipped with a note unless
            :func:`srlib.models.resolve_model` rebuilds it (weights that serve every scale, VDSR); a name
            that does not support a scale is skipped too.
        weights: weight file loaded into the registered model (only with a single model).
        device, dtype: where and in what precision to run (``"fp32"``: the protocol's numbers).
        speed_size: ``(width, height)`` of the LR input for FLOPs and frames/s.
        speed_warmup, speed_runs: untimed and timed runs (``speed_runs=0``: no timing).
        lpips: LPIPS backbone (``"alex"``, ``"vgg"``, ``"squeeze"``) or ``None``.
        lpips_weights: ``"imagenet"`` (local torch hub cache; "unavailable" when absent) or a file.
        crops: folder for side-by-side crops per image (``SET_xS/IMAGE.png``), or ``None``.
        crop_size, crop_zoom: HR pixels of the crop and its nearest-neighbour zoom.
        max_pixels: pixel limit per image (see :func:`evaluate_folder`).
        pairs: ``(HR folder, LR folder)`` pairs of your own data, matched by name as
            :class:`srlib.data.PairedImageDataset` does; the models run on your LR images.
        video_pairs: folders laid out as ``lr/NAME.mp4`` + ``hr/NAME.mp4``
            (:class:`srlib.data.VideoPairDataModule`'s layout); whole frames matched by timestamp
            (every 25th frame, cached next to the clips).

    Returns:
        :class:`EvaluationTable`, rows in (scale, set, model) order.

    Raises:
        ValueError: bad settings, unknown model names, unreadable images, or nothing left to evaluate.
        FileNotFoundError: a missing folder, weight file or named LPIPS backbone file.
    """
    if not models or not (data or pairs or video_pairs) or not scales:
        raise ValueError("Give at least one model, one data set (or --pairs / --video-pairs) and one scale.")
    specs = _unique_labels([_model_spec(m) for m in models])
    if weights is not None and (len(specs) != 1 or specs[0].is_file):
        raise ValueError(
            "--weights goes with exactly one registered --model name; list weight files as --model."
        )
    if min(scales) < 1:
        raise ValueError(f"Scales must be positive integers, got {list(scales)}.")
    sets = []
    for spec in data:
        folder = resolve_data(str(spec))
        sets.append((_data_label(str(spec), folder), folder))
    for _, folder in sets:  # every header checked before anything is decoded
        scan_images(list_images(folder), max_pixels=max_pixels)
    images: dict[str, Any] = {label: load_images(folder, max_pixels=max_pixels) for label, folder in sets}
    images.update(_paired_sets(pairs, video_pairs))
    scorer = LpipsScorer(lpips, weights=lpips_weights, device=device) if lpips else None
    sheets = _CropSheets(Path(crops), crop_size, crop_zoom) if crops is not None else None
    rows: list[TableRow] = []
    for scale in dict.fromkeys(int(s) for s in scales):
        runners: list[tuple[Upscaler | None, ModelCost | None, str]] = []
        for spec in specs:
            net, note = _build(spec, scale, weights)
            if net is not None and model_flags(net).temporal:
                net, note = None, "skipped: a video model (score it on clips: --video-pairs DIR)"
            if net is None:
                log.warning("%s at x%d %s", spec.label, scale, note)
                runners.append((None, None, note))
                continue
            upscaler = Upscaler(net, device=device, dtype=dtype)
            cost = measure_cost(upscaler, input_size=speed_size, warmup=speed_warmup, runs=speed_runs)
            runners.append((upscaler, cost, note))
        for label in images:
            samples = images[label](scale) if callable(images[label]) else images[label]
            hook = sheets.start() if sheets is not None else None
            if hook is not None and not any(s.source == "bicubic" for s in specs):
                reference = Upscaler(resolve_model("bicubic", scale=scale), device=device, dtype=dtype)
                _score_images(reference, samples, scale, scale, None, hook("bicubic"))
            for spec, (upscaler, cost, note) in zip(specs, runners, strict=True):
                if upscaler is None:
                    rows.append(TableRow(spec.label, spec.source, label, scale, "skipped", note))
                    continue
                log.info("%s on %s x%d", spec.label, label, scale)
                on_output = hook(spec.label) if hook is not None else None
                result = _result(spec.label, upscaler, samples, scale, None, scorer, on_output)
                result.data = label
                rows.append(TableRow(spec.label, spec.source, label, scale, "ok", note, result, cost))
            if sheets is not None:
                sheets.write(label, scale)
    if not any(r.status == "ok" for r in rows):
        notes = dict.fromkeys(f"{r.model} at x{r.scale} {r.note}" for r in rows)
        raise ValueError("Nothing to evaluate: " + "; ".join(notes))
    return EvaluationTable(
        rows=rows,
        device=str(torch.device(device)),
        device_name=device_name(device),
        dtype=dtype,
        speed_size=tuple(speed_size),  # type: ignore[arg-type]
        speed_warmup=speed_warmup,
        speed_runs=speed_runs,
        lpips_net=lpips,
        lpips_available=bool(scorer and scorer.available),
        lpips_reason=scorer.reason if scorer else "",
    )


def _paired_sets(
    pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]], video_pairs: Sequence[str | os.PathLike]
) -> dict[str, Callable[[int], list[Sample]]]:
    """Loaders (by scale) of the user's own LR/HR data: image folder pairs and video clip pairs."""
    from functools import cache

    loaders: dict[str, Callable[[int], list[Sample]]] = {}
    for hr_dir, lr_dir in pairs:
        for folder, role in ((hr_dir, "HR"), (lr_dir, "LR")):
            if not Path(folder).expanduser().is_dir():
                raise FileNotFoundError(f"--pairs {role} folder {folder} does not exist.")

        @cache
        def load_pairs(scale: int, hr_dir: Any = hr_dir, lr_dir: Any = lr_dir) -> list[Sample]:
            from srlib.data.datasets import PairedImageDataset

            return samples_of(
                PairedImageDataset.from_folders(
                    Path(lr_dir).expanduser(), Path(hr_dir).expanduser(), scale=scale
                )
            )

        loaders[f"{Path(hr_dir).name} (pairs)"] = load_pairs
    for root in video_pairs:
        if not Path(root).expanduser().is_dir():
            raise FileNotFoundError(
                f"--video-pairs folder {root} does not exist (it holds lr/ and hr/ clips)."
            )

        @cache
        def load_video(scale: int, root: Any = root) -> list[Sample]:
            from srlib.data.video import VideoFramePairDataset

            return samples_of(
                VideoFramePairDataset(Path(root).expanduser(), scale, sampling={"every_n": 25}, augment=False)
            )

        loaders[f"{Path(root).name} (video)"] = load_video
    return loaders
