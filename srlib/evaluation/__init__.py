"""Evaluation under the standard SR protocol: scoring, cost, the table of models x sets x scales, visuals.

The library behind ``python -m srlib.evaluate`` and the training run's final evaluation; it imports
neither Lightning nor any command line. One concept per module:

- :mod:`~srlib.evaluation.results`: :class:`ImageScore`, :class:`EvaluationResult`, :class:`ModelCost`,
  :class:`TableRow`, :class:`EvaluationTable` (markdown, CSV, JSON) and :func:`format_table`.
- :mod:`~srlib.evaluation.scoring`: the protocol loop (:func:`evaluate_images`, :func:`evaluate_folder`,
  :func:`sample_input`, :func:`samples_of`, :func:`super_resolve`, :func:`load_images`).
- :mod:`~srlib.evaluation.lpips`: :class:`LpipsScorer`, from a backbone file on this machine only.
- :mod:`~srlib.evaluation.cost`: :func:`measure_cost` (parameters, size, FLOPs, frames/s) and
  :func:`device_name`.
- :mod:`~srlib.evaluation.table`: :func:`evaluate_table`, models x sets x scales with each model's cost.
- :mod:`~srlib.evaluation.video`: :func:`evaluate_video_pairs`, every frame of paired clips through
  image and video models alike, with ``tdiff_psnr`` (flicker) and the cost per output frame.
- :mod:`~srlib.evaluation.visuals`: crop sheets (:func:`detail_window`) and :func:`plot_quality_vs_speed`.

Example:
    >>> import torch
    >>> from srlib.models import resolve_model
    >>> hr = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    >>> result = evaluate_images(resolve_model("bicubic", scale=2), [("noise", hr)], 2, name="bicubic")
    >>> result.model, result.scale, len(result.per_image), 0 < result.ssim <= 1
    ('bicubic', 2, 1, True)
"""

from __future__ import annotations

from srlib.evaluation.cost import device_name, measure_cost
from srlib.evaluation.lpips import LpipsScorer
from srlib.evaluation.results import (
    CSV_COLUMNS,
    PROTOCOL,
    UNAVAILABLE,
    EvaluationResult,
    EvaluationTable,
    ImageScore,
    ModelCost,
    TableRow,
    format_table,
)
from srlib.evaluation.scoring import (
    OutputHook,
    Sample,
    evaluate_folder,
    evaluate_images,
    load_images,
    sample_input,
    samples_of,
    super_resolve,
)
from srlib.evaluation.table import WEIGHT_SUFFIXES, evaluate_table, resolve_data
from srlib.evaluation.video import ClipScore, VideoEvaluation, VideoRow, evaluate_clips, evaluate_video_pairs
from srlib.evaluation.visuals import (
    detail_window,
    plot_quality_vs_speed,
    profile_row,
    temporal_profile,
    write_temporal_profile,
)

__all__ = [
    "CSV_COLUMNS",
    "PROTOCOL",
    "UNAVAILABLE",
    "WEIGHT_SUFFIXES",
    "ClipScore",
    "EvaluationResult",
    "EvaluationTable",
    "ImageScore",
    "LpipsScorer",
    "ModelCost",
    "OutputHook",
    "Sample",
    "TableRow",
    "VideoEvaluation",
    "VideoRow",
    "detail_window",
    "device_name",
    "evaluate_clips",
    "evaluate_folder",
    "evaluate_images",
    "evaluate_table",
    "evaluate_video_pairs",
    "format_table",
    "load_images",
    "measure_cost",
    "plot_quality_vs_speed",
    "profile_row",
    "resolve_data",
    "sample_input",
    "samples_of",
    "super_resolve",
    "temporal_profile",
    "write_temporal_profile",
]
