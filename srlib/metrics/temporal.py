"""Temporal metrics of video SR under the SR protocol: per-frame PSNR/SSIM of clips and a flicker measure.

Every frame goes through the same protocol as an image (:func:`~srlib.metrics.prepare_for_protocol`:
quantised to 8 bit, BT.601 studio-range Y rounded to integers or the gray values of a gray ground truth,
``crop_border`` pixels removed at each side), so a clip's per-frame scores equal
:func:`~srlib.metrics.psnr` / :func:`~srlib.metrics.ssim` of its frames.

* :func:`clip_psnr`, :func:`clip_ssim`: the mean over a clip's frames of the per-frame scores.
* :func:`tdiff_psnr`: temporal-difference PSNR, a flicker measure that needs no optical flow. With
  ``Y_t`` the protocol's Y of frame ``t``, ``d_t = Y_{t+1} - Y_t`` for the output and for the ground truth;
  ``tdiff_psnr = 10 log10(255² / MSE(d_sr, d_hr))`` with the MSE over all ``T - 1`` differences and pixels
  of the clip. The peak is 255 on the 0-255 scale, the convention of srlib's PSNR (peak 1.0 on [0, 1]
  images), and the same ``1e-10`` floor on the MSE (about 148 dB for identical motion). An output that
  changes from frame to frame where the ground truth does not (flicker, shimmering texture, noise that
  moves) scores low; a steady output whose error is the same in every frame scores high whatever its
  per-frame PSNR. Higher is steadier.
* :class:`TemporalScores`: all three for one video fed frame by frame, holding only the previous frame.

The torchmetrics ``Metric`` twins (:class:`~srlib.metrics.ClipPSNR`, :class:`~srlib.metrics.ClipSSIM`,
:class:`~srlib.metrics.TDiffPSNR`) live in :mod:`srlib.metrics.temporal_metrics`, so that this module
loads without torchmetrics.

Clips are ``(B, T, C, H, W)`` float tensors in [0, 1] (``C`` 3, or 1 for a gray ground truth); a 4-D
``(T, C, H, W)`` tensor is one clip. Results are per clip, ``(B,)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from srlib.metrics.functional import prepare_for_protocol, psnr_prepared, ssim_prepared

__all__ = ["TemporalScore", "TemporalScores", "clip_psnr", "clip_ssim", "tdiff_psnr"]


def _as_clips(sr: Tensor, hr: Tensor, what: str) -> tuple[Tensor, Tensor]:
    if not isinstance(sr, Tensor) or not isinstance(hr, Tensor):
        raise TypeError(f"{what} expects two tensors, got {type(sr).__name__} and {type(hr).__name__}.")
    if sr.ndim != hr.ndim or sr.ndim not in (4, 5):
        raise ValueError(
            f"{what} expects clips (B, T, C, H, W) or one clip (T, C, H, W); got sr {tuple(sr.shape)} "
            f"and hr {tuple(hr.shape)}."
        )
    if sr.ndim == 4:
        sr, hr = sr.unsqueeze(0), hr.unsqueeze(0)
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(
            f"{what}: output and ground truth differ in clips or frames: sr {tuple(sr.shape)} vs hr "
            f"{tuple(hr.shape)}; score the same frames of the same clips."
        )
    return sr, hr


def _prepared(
    sr: Tensor, hr: Tensor, what: str, crop_border: int, y_channel: bool, quantize: bool
) -> tuple[Tensor, Tensor]:
    """The protocol's view of every frame, ``(B, T, C', H', W')`` float64 in 0-255."""
    sr, hr = _as_clips(sr, hr, what)
    b, t = sr.shape[:2]
    a, g = prepare_for_protocol(
        sr.flatten(0, 1), hr.flatten(0, 1), crop_border=crop_border, y_channel=y_channel, quantize=quantize
    )
    return a.view(b, t, *a.shape[1:]), g.view(b, t, *g.shape[1:])


def _diff_psnr(mse: Tensor) -> Tensor:
    return (10.0 * torch.log10(255.0**2 / mse.clamp_min(1e-10))).float()


def clip_psnr(
    sr: Tensor, hr: Tensor, *, crop_border: int = 0, y_channel: bool = True, quantize: bool = True
) -> Tensor:
    """Per-frame protocol PSNR (dB) averaged over each clip's frames.

    Args:
        sr: output clips, float in [0, 1].
        hr: ground-truth clips (1 channel for gray video).
        crop_border: pixels ignored at each border (use the scale).
        y_channel: compare on BT.601 studio-range Y (ignored for a gray ground truth).
        quantize: round to 8-bit levels first (the protocol does).

    Shape:
        - sr, hr: ``(B, T, C, H, W)`` or ``(T, C, H, W)``; output: ``(B,)`` (``(1,)`` for one clip).

    Example:
        >>> hr = torch.full((2, 3, 3, 8, 8), 128 / 255)
        >>> [round(float(v), 2) for v in clip_psnr(hr + 1 / 255, hr, crop_border=1)]
        [48.13, 48.13]
    """
    a, g = _prepared(sr, hr, "clip_psnr", crop_border, y_channel, quantize)
    return psnr_prepared(a.flatten(0, 1), g.flatten(0, 1)).view(a.shape[:2]).mean(dim=1)


def clip_ssim(
    sr: Tensor, hr: Tensor, *, crop_border: int = 0, y_channel: bool = True, quantize: bool = True
) -> Tensor:
    """Per-frame protocol SSIM averaged over each clip's frames; arguments as :func:`clip_psnr`.

    Shape:
        - sr, hr: ``(B, T, C, H, W)`` or ``(T, C, H, W)`` with ``H, W >= 11 + 2 crop_border``;
          output: ``(B,)``.

    Example:
        >>> clip = torch.rand(1, 4, 3, 16, 16)
        >>> float(clip_ssim(clip, clip, crop_border=2)[0])
        1.0
    """
    a, g = _prepared(sr, hr, "clip_ssim", crop_border, y_channel, quantize)
    return ssim_prepared(a.flatten(0, 1), g.flatten(0, 1)).view(a.shape[:2]).mean(dim=1)


def tdiff_psnr(
    sr: Tensor, hr: Tensor, *, crop_border: int = 0, y_channel: bool = True, quantize: bool = True
) -> Tensor:
    """PSNR (dB, peak 255) of the output's frame-to-frame differences against the ground truth's.

    Higher is steadier; see the module docstring for the formula. Arguments as :func:`clip_psnr`.

    Shape:
        - sr, hr: ``(B, T, C, H, W)`` or ``(T, C, H, W)`` with ``T >= 2``; output: ``(B,)``.

    Example:
        >>> hr = torch.full((1, 4, 3, 8, 8), 0.5)
        >>> steady = hr + 4 / 255  # wrong by the same amount in every frame: no flicker
        >>> flicker = hr + torch.tensor([4.0, -4.0, 4.0, -4.0]).view(1, 4, 1, 1, 1) / 255
        >>> float(tdiff_psnr(steady, hr)[0]) > 100, round(float(tdiff_psnr(flicker, hr)[0]), 1)
        (True, 31.2)
    """
    a, g = _prepared(sr, hr, "tdiff_psnr", crop_border, y_channel, quantize)
    if a.shape[1] < 2:
        raise ValueError(
            f"tdiff_psnr needs clips of at least 2 frames (it compares frame-to-frame changes); got "
            f"{a.shape[1]} frame(s) per clip."
        )
    err = (a[:, 1:] - a[:, :-1]) - (g[:, 1:] - g[:, :-1])
    return _diff_psnr((err**2).flatten(1).mean(dim=1))


class TemporalScore(NamedTuple):
    """Scores of one video: mean per-frame PSNR (dB) and SSIM, ``tdiff_psnr`` (dB), frames scored."""

    psnr: float
    ssim: float
    tdiff_psnr: float
    frames: int


class TemporalScores:
    """Protocol PSNR, SSIM and ``tdiff_psnr`` of one video, fed frame by frame.

    Holds running sums and the previous frame's protocol view only, so memory does not grow with the
    video. :meth:`compute` equals :func:`clip_psnr`, :func:`clip_ssim` and :func:`tdiff_psnr` of the whole
    video as one clip. Sums stay on the frames' device; :meth:`compute` reads them once.

    Args:
        crop_border: pixels ignored at each border (use the scale).
        y_channel: compare on BT.601 studio-range Y (ignored for a gray ground truth).
        quantize: round to 8-bit levels first (the protocol does).

    Shape:
        - sr, hr of :meth:`add`: one frame ``(C, H, W)`` or consecutive frames ``(N, C, H, W)``.

    Example:
        >>> scores = TemporalScores(crop_border=2)
        >>> for t in range(3):
        ...     hr = torch.full((3, 16, 16), (100 + 10 * t) / 255)
        ...     scores.add(hr + 2 / 255, hr)  # wrong by two levels, steadily
        >>> s = scores.compute()
        >>> round(s.psnr, 1), s.ssim > 0.99, s.tdiff_psnr > 100, s.frames
        (42.1, True, True, 3)
    """

    def __init__(self, *, crop_border: int = 0, y_channel: bool = True, quantize: bool = True) -> None:
        self.crop_border, self.y_channel, self.quantize = int(crop_border), y_channel, quantize
        self.reset()

    def reset(self) -> None:
        """Start a new video."""
        self.frames = 0
        self._psnr: Tensor | float = 0.0
        self._ssim: Tensor | float = 0.0
        self._diff_sq: Tensor | float = 0.0
        self._diff_count = 0
        self._previous: tuple[Tensor, Tensor] | None = None

    def add(self, sr: Tensor, hr: Tensor) -> None:
        """Score the next frame (or the next ``N`` consecutive frames) of the video."""
        if sr.ndim == 3 and hr.ndim == 3:
            sr, hr = sr.unsqueeze(0), hr.unsqueeze(0)
        if sr.ndim != 4 or hr.ndim != 4:
            raise ValueError(
                f"TemporalScores.add takes a frame (C, H, W) or consecutive frames (N, C, H, W); got sr "
                f"{tuple(sr.shape)} and hr {tuple(hr.shape)}."
            )
        a, g = prepare_for_protocol(
            sr, hr, crop_border=self.crop_border, y_channel=self.y_channel, quantize=self.quantize
        )
        if self._previous is not None and self._previous[0].shape[1:] != a.shape[1:]:
            raise ValueError(
                f"TemporalScores: frame {self.frames} has size {tuple(a.shape[-2:])} after cropping, the "
                f"previous ones {tuple(self._previous[0].shape[-2:])}; call reset() between videos."
            )
        self._psnr = self._psnr + psnr_prepared(a, g).to(torch.float64).sum()
        self._ssim = self._ssim + ssim_prepared(a, g).to(torch.float64).sum()
        if self._previous is not None:
            a, g = torch.cat([self._previous[0], a]), torch.cat([self._previous[1], g])
        if a.shape[0] > 1:
            err = (a[1:] - a[:-1]) - (g[1:] - g[:-1])
            self._diff_sq = self._diff_sq + (err**2).sum()
            self._diff_count += err.numel()
        self._previous = (a[-1:], g[-1:])
        self.frames += sr.shape[0]

    def compute(self) -> TemporalScore:
        """The video's scores so far (at least two frames: ``tdiff_psnr`` compares consecutive ones)."""
        if self.frames < 2:
            raise ValueError(
                f"TemporalScores has {self.frames} frame(s); tdiff_psnr needs at least 2 consecutive frames."
            )
        mse = torch.as_tensor(self._diff_sq, dtype=torch.float64) / self._diff_count
        return TemporalScore(
            psnr=float(self._psnr) / self.frames,
            ssim=float(self._ssim) / self.frames,
            tdiff_psnr=float(_diff_psnr(mse)),
            frames=self.frames,
        )
