"""Real-ESRGAN's second-order degradation, batched with per-sample parameters.

Wang, Xie, Dong, Shan, "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data",
ICCVW 2021, https://arxiv.org/abs/2107.10833. Published settings: xinntao/Real-ESRGAN
``options/train_realesrgan_x4plus.yml`` and ``realesrgan/data/realesrgan_dataset.py`` (kernels);
formulas: BasicSR ``basicsr/data/degradations.py`` and ``basicsr/utils/img_process_util.py``.

Steps (HR ``H × W`` → LR ``H/s × W/s``)::

    [USM sharpen] → blur₁ → resize₁ → noise₁ → JPEG₁
                  → blur₂ (p 0.8) → resize₂ (to H/s·r₂) → noise₂
                  → either  resize to H/s + sinc (p 0.8) + JPEG₂   or   JPEG₂ + resize to H/s + sinc
                  → 8-bit rounding

How the batch stays batched. The reference implementation draws the resize factors, interpolation modes,
noise type and final order once per batch (and mixes batches through a queue to make up for it). Here
every one of them is drawn per sample; only the output size is common to the batch. Per-sample sizes in the
middle of the pipeline are handled so:

- Each resize is a pair of batched matrix products that give every sample its own size and mode
  (:func:`~srlib.degrade.functional.resize`), written onto a common canvas whose spare rows and columns
  hold the sample's mirror continuation; the second blur therefore sees exactly the reflect padding it
  would see on the sample alone.
- After the first resize the samples are sorted by size and split into at most ``max_groups`` contiguous
  groups (chosen by a small dynamic programme that minimises the total canvas area), so a batch mixing
  0.15× and 1.5× samples does not pay 1.5² for all of them in noise, JPEG and blur. Each group is one
  batched call per step. The second resize brings all groups onto one canvas again.
- Steps that apply to some samples only (second blur, sinc, JPEG order, noise type) run on that subset in
  one call.

Known departures from the reference, all statistically neutral: JPEG blocks at a sample's bottom/right
edge see its canvas continuation where a per-image codec sees kornia's replicate padding; noise images are
drawn group by group on the canvases from one seeded generator; the first resize maps coordinates from the
output size (``F.interpolate(size=...)``) where BasicSR passes ``scale_factor``, which moves sample
positions by a fraction of a pixel. With noise and JPEG off, the batched result equals the per-image
computation (tested).

Clips (``clip_consistent=True``): a ``(B, T, C, H, W)`` batch draws the parameters above once per clip and
shares them across its frames (kernels, resize factors and filters, noise kind, colour and level, step
order, which steps apply); per frame only the JPEG qualities (± ``clip.jpeg_quality_jitter`` points) and
the noise levels (× 1 ± ``clip.noise_level_jitter``) move, and every frame gets its own noise images (see
:class:`~srlib.degrade.ClipConfig` and :class:`~srlib.degrade.RandomDegradation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from srlib.degrade._steps import blur_step, jpeg_step, noise_generator, noise_step
from srlib.degrade.base import RandomDegradation
from srlib.degrade.config import (
    BlurConfig,
    ClipConfig,
    JPEGConfig,
    NoiseConfig,
    ResizeConfig,
    USMConfig,
    _check_prob,
    build_config,
    interpolate_filters,
)
from srlib.degrade.functional import RESIZE_FILTERS, mirror_fill, resize, usm_sharpen
from srlib.degrade.params import (
    JPEGGenerator,
    JPEGParams,
    KernelGenerator,
    KernelParams,
    NoiseGenerator,
    NoiseParams,
    ResizeGenerator,
    ResizeParams,
    SincGenerator,
    _bernoulli,
    select,
)

__all__ = ["RealESRGANConfig", "RealESRGANDegradation", "RealESRGANParams", "partition_by_size"]


@dataclass(frozen=True)
class RealESRGANConfig:
    """Settings of :class:`RealESRGANDegradation`; the defaults are the published x4plus ones.

    Attributes:
        scale: output is ``H/scale × W/scale`` (1 = restoration at the same size).
        blur1, resize1, noise1, jpeg1: first stage (σ ∈ [0.2, 3]; up/down/keep 0.2/0.7/0.1 over
            [0.15, 1.5]; Gaussian p 0.5 with σ 1-30 else Poisson 0.05-3, gray p 0.4; quality 30-95).
        blur2, resize2, noise2, jpeg2: second stage (blur p 0.8, σ ∈ [0.2, 1.5]; 0.3/0.4/0.3 over
            [0.3, 1.2]; σ 1-25 / Poisson 0.05-2.5; quality 30-95). ``jpeg2`` is the final JPEG.
        final_sinc_prob: probability of the final sinc filter (size 7-21, cut-off in [π/3, π]).
        final_modes: filters of the final resize to the output size (``torch_*``, as ``ResizeConfig.modes``).
        jpeg_first_prob: probability of the order JPEG → resize → sinc (else resize → sinc → JPEG).
        usm: unsharp masking of the HR (target and/or degradation input).
        quantize: round the LR to 8-bit levels.
        max_groups: at most this many size groups after the first resize (1 = one canvas for all).
        clip: per-frame variation of clips (used with ``clip_consistent=True`` only): JPEG quality
            ± 5 points, noise level × (1 ± 0.1) by default.
    """

    scale: int = 4
    blur1: BlurConfig = field(default_factory=BlurConfig)
    resize1: ResizeConfig = field(default_factory=ResizeConfig)
    noise1: NoiseConfig = field(default_factory=NoiseConfig)
    jpeg1: JPEGConfig = field(default_factory=JPEGConfig)
    blur2: BlurConfig = field(default_factory=lambda: BlurConfig(prob=0.8, sigma=(0.2, 1.5)))
    resize2: ResizeConfig = field(
        default_factory=lambda: ResizeConfig(probs=(0.3, 0.4, 0.3), scale_range=(0.3, 1.2))
    )
    noise2: NoiseConfig = field(
        default_factory=lambda: NoiseConfig(sigma=(1.0, 25.0), poisson_scale=(0.05, 2.5))
    )
    jpeg2: JPEGConfig = field(default_factory=JPEGConfig)
    final_sinc_prob: float = 0.8
    final_modes: tuple[str, ...] = RESIZE_FILTERS
    jpeg_first_prob: float = 0.5
    usm: USMConfig = field(default_factory=USMConfig)
    quantize: bool = True
    max_groups: int = 4
    clip: ClipConfig = field(default_factory=ClipConfig)

    def __post_init__(self) -> None:
        if int(self.scale) < 1:
            raise ValueError(f"RealESRGANConfig.scale must be a positive integer, got {self.scale}.")
        _check_prob("RealESRGANConfig", "final_sinc_prob", self.final_sinc_prob)
        _check_prob("RealESRGANConfig", "jpeg_first_prob", self.jpeg_first_prob)
        object.__setattr__(
            self, "final_modes", interpolate_filters("RealESRGANConfig", "final_modes", self.final_modes)
        )
        if int(self.max_groups) < 1:
            raise ValueError(f"RealESRGANConfig.max_groups must be >= 1, got {self.max_groups}.")


@dataclass
class RealESRGANParams:
    """Everything random about one degraded batch (``(B,)`` CPU tensors); pass it back to replay the batch."""

    kernel1: KernelParams
    resize1: ResizeParams
    noise1: NoiseParams
    jpeg1: JPEGParams
    kernel2: KernelParams
    resize2: ResizeParams
    noise2: NoiseParams
    jpeg2: JPEGParams
    final_mode: Tensor
    sinc: KernelParams
    jpeg_first: Tensor


def partition_by_size(heights: Tensor, widths: Tensor, margin: int, max_groups: int) -> list[Tensor]:
    """Split samples into at most ``max_groups`` groups of similar size, minimising the total canvas area.

    A group's canvas is its largest height and width plus ``margin``; samples are sorted by area and
    each group is a contiguous run of that order (an optimal partition of a sorted list is contiguous
    when sizes grow together, as they do for one aspect ratio).

    Shape:
        - heights, widths: ``(B,)`` CPU integers; returns index tensors covering ``0..B-1`` once.

    Example:
        >>> sizes = torch.tensor([10, 90, 12, 88])
        >>> [g.tolist() for g in partition_by_size(sizes, sizes, 0, 2)]
        [[0, 2], [1, 3]]
    """
    n = heights.shape[0]
    order = torch.argsort(heights * widths, stable=True)
    hs = [int(v) + margin for v in heights[order]]
    ws = [int(v) + margin for v in widths[order]]
    groups = max(1, min(int(max_groups), n))
    # cost[i][j]: samples order[i:j] on one canvas.
    cost = [[0.0] * (n + 1) for _ in range(n + 1)]
    for i in range(n):
        mh = mw = 0
        for j in range(i + 1, n + 1):
            mh, mw = max(mh, hs[j - 1]), max(mw, ws[j - 1])
            cost[i][j] = (j - i) * mh * mw
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(groups + 1)]
    cut = [[0] * (n + 1) for _ in range(groups + 1)]
    best[0][0] = 0.0
    for g in range(1, groups + 1):
        for j in range(1, n + 1):
            for i in range(g - 1, j):
                c = best[g - 1][i] + cost[i][j]
                if c < best[g][j]:
                    best[g][j], cut[g][j] = c, i
    # Fewest groups among the cheapest (ties go to fewer calls).
    g = min(range(1, groups + 1), key=lambda k: (best[k][n], k))
    bounds, j = [], n
    while g > 0:
        i = cut[g][j]
        bounds.append((i, j))
        j, g = i, g - 1
    return [torch.sort(order[i:j]).values for i, j in reversed(bounds)]


class RealESRGANDegradation(RandomDegradation[RealESRGANParams]):
    """Real-ESRGAN second-order degradation with per-sample random parameters (see the module docstring).

    Args:
        config: a :class:`RealESRGANConfig` (default: the published settings).
        seed: seed of the module's own generator (``None``: torch's default generator).
        generator: a CPU ``torch.Generator`` to draw from instead.
        clip_consistent: also degrade clips ``(B, T, C, H, W)`` with one parameter set per clip (module
            docstring); :attr:`last_params` then holds the ``B·T`` per-frame parameters.
        **overrides: fields of :class:`RealESRGANConfig` to change; nested ones may be mappings, e.g.
            ``noise2={"sigma": (1, 10)}``.

    Shape:
        - hr: ``(B, C, H, W)`` float in [0, 1], ``C`` ∈ {1, 3}, ``H, W`` divisible by ``scale``; with
          ``clip_consistent`` also ``(B, T, C, H, W)``.
        - lr: ``(B, C, H/scale, W/scale)`` (``(B, T, ...)`` for clips) on 8-bit levels; returned hr: like the
          input (USM-sharpened when ``usm.sharpen_target``).

    Example:
        >>> deg = RealESRGANDegradation(scale=4, seed=0)
        >>> lr, hr = deg(torch.rand(2, 3, 64, 64))
        >>> lr.shape
        torch.Size([2, 3, 16, 16])
        >>> lr2, _ = deg(hr=torch.rand(2, 3, 64, 64), params=deg.last_params)  # replay the parameters
        >>> clips = RealESRGANDegradation(scale=4, seed=0, clip_consistent=True)
        >>> lr, hr = clips(torch.rand(2, 5, 3, 32, 32))  # two clips of five frames
        >>> lr.shape, len(clips.last_params.jpeg2)
        (torch.Size([2, 5, 3, 8, 8]), 10)
    """

    def __init__(
        self,
        config: RealESRGANConfig | None = None,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        clip_consistent: bool = False,
        **overrides: Any,
    ) -> None:
        super().__init__(seed=seed, generator=generator, clip_consistent=clip_consistent)
        self.config = build_config(RealESRGANConfig, config, **overrides)
        c = self.config
        self._kernel1, self._kernel2 = KernelGenerator(c.blur1), KernelGenerator(c.blur2)
        self._resize1, self._resize2 = ResizeGenerator(c.resize1), ResizeGenerator(c.resize2)
        self._noise1, self._noise2 = NoiseGenerator(c.noise1), NoiseGenerator(c.noise2)
        self._jpeg1, self._jpeg2 = JPEGGenerator(c.jpeg1), JPEGGenerator(c.jpeg2)
        self._sinc = SincGenerator(c.final_sinc_prob, (7, 21), (math.pi / 3, math.pi))
        self._final_modes = torch.tensor([RESIZE_FILTERS.index(m) for m in c.final_modes])

    def sample_parameters(self, batch_size: int, height: int, width: int) -> RealESRGANParams:
        n, g = batch_size, self.generator
        return RealESRGANParams(
            kernel1=self._kernel1(n, g),
            resize1=self._resize1(n, g),
            noise1=self._noise1(n, g),
            jpeg1=self._jpeg1(n, g),
            kernel2=self._kernel2(n, g),
            resize2=self._resize2(n, g),
            noise2=self._noise2(n, g),
            jpeg2=self._jpeg2(n, g),
            final_mode=self._final_modes[torch.randint(0, len(self._final_modes), (n,), generator=g)],
            sinc=self._sinc(n, g),
            jpeg_first=_bernoulli(n, self.config.jpeg_first_prob, g),
        )

    def apply_parameters(self, hr: Tensor, params: RealESRGANParams) -> tuple[Tensor, Tensor]:
        c, p = self.config, params
        _, _, height, width = hr.shape
        h, w = height // c.scale, width // c.scale
        device = hr.device

        # USM: Real-ESRGAN degrades the sharpened image and trains L1/perceptual on it.
        x, target = hr, hr
        if c.usm.sharpen_input or c.usm.sharpen_target:
            sharp = usm_sharpen(hr, c.usm.weight, c.usm.radius, c.usm.threshold)
            x = sharp if c.usm.sharpen_input else hr
            target = sharp if c.usm.sharpen_target else hr

        # ---- first order: blur, resize (per-sample size), noise, JPEG ----
        x = blur_step(x, p.kernel1)
        size1 = torch.stack(
            [
                torch.floor(height * p.resize1.scale).long().clamp(min=1),
                torch.floor(width * p.resize1.scale).long().clamp(min=1),
            ],
            dim=1,
        )
        # Second-stage size: BasicSR's int(ori_h / scale * r2).
        size2 = torch.stack(
            [
                torch.floor(height / c.scale * p.resize2.scale).long().clamp(min=1),
                torch.floor(width / c.scale * p.resize2.scale).long().clamp(min=1),
            ],
            dim=1,
        )
        canvas2 = (int(size2[:, 0].max()), int(size2[:, 1].max()))
        blurred2 = p.kernel2.apply
        margin = int(p.kernel2.size[blurred2].max()) // 2 if bool(blurred2.any()) else 0
        gen1 = noise_generator(device, p.noise1.seed)

        parts, order = [], []
        groups = partition_by_size(size1[:, 0], size1[:, 1], margin, c.max_groups)
        for idx in groups:
            q = select(p, idx)
            s1 = size1[idx]
            xg = x if len(groups) == 1 else x.index_select(0, idx.to(device))
            xg = resize(xg, s1, q.resize1.mode)  # canvas: the group's largest size
            xg = noise_step(xg, q.noise1, gen1)
            xg = jpeg_step(xg, q.jpeg1)
            # ---- second order: blur, resize, noise ----
            if bool(q.kernel2.apply.any()):
                # Reflect continuation (over the noise/JPEG'd canvas edge) wide enough for the blur.
                canvas1 = (int(s1[:, 0].max()) + margin, int(s1[:, 1].max()) + margin)
                xg = mirror_fill(xg, s1[:, 0], s1[:, 1], canvas1)
                xg = blur_step(xg, q.kernel2)
            parts.append(resize(xg, size2[idx], q.resize2.mode, in_size=s1, canvas=canvas2))
            order.append(idx)
        x = parts[0] if len(parts) == 1 else torch.cat(parts)
        perm = torch.cat(order)
        if not bool((perm == torch.arange(perm.numel())).all()):
            x = x.index_select(0, torch.argsort(perm).to(device))

        x = noise_step(x, p.noise2, noise_generator(device, p.noise2.seed))
        # ---- final stage, in the sample's order ----
        x = jpeg_step(x, p.jpeg2, extra=p.jpeg_first)
        full = torch.tensor([[h, w]], dtype=torch.long).expand(x.shape[0], 2)
        x = resize(x, full, p.final_mode, in_size=size2, canvas=(h, w))
        x = blur_step(x, p.sinc)
        x = jpeg_step(x, p.jpeg2, extra=~p.jpeg_first)
        return x, target

    def extra_repr(self) -> str:
        c = self.config
        clips = f", clip_consistent=True, clip={c.clip}" if self.clip_consistent else ""
        return f"scale={c.scale}, sharpen_target={c.usm.sharpen_target}, max_groups={c.max_groups}{clips}"
