"""Pipeline steps: apply one parameter record to the samples it selects (shared by the pipelines)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from srlib.degrade.functional import add_gaussian_noise, add_poisson_noise, blur, jpeg_compress
from srlib.degrade.params import JPEGParams, KernelParams, NoiseParams, select


def noise_generator(device: torch.device, seed: Tensor) -> torch.Generator:
    """A generator on ``device`` for the noise images, seeded from the parameters (so replays match)."""
    return torch.Generator(device=device).manual_seed(int(seed))


def on_subset(x: Tensor, mask: Tensor, fn: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Apply ``fn(x[idx], idx)`` to the samples where the CPU ``mask`` is true; the others pass unchanged."""
    idx = torch.nonzero(mask, as_tuple=False).flatten()
    if idx.numel() == 0:
        return x
    if idx.numel() == x.shape[0]:
        return fn(x, idx)
    idx_dev = idx.to(x.device)
    return x.index_copy(0, idx_dev, fn(x.index_select(0, idx_dev), idx))


def blur_step(x: Tensor, params: KernelParams) -> Tensor:
    """Blur the samples whose ``apply`` is set, each with its own kernel (padded to their largest size)."""
    return on_subset(
        x, params.apply, lambda xs, idx: blur(xs, select(params, idx).kernels(x.device, x.dtype))
    )


def noise_step(x: Tensor, params: NoiseParams, generator: torch.Generator) -> Tensor:
    """Add Gaussian noise to the Gaussian samples and Poisson noise to the Poisson ones."""

    def gaussian(xs: Tensor, idx: Tensor) -> Tensor:
        return add_gaussian_noise(xs, params.sigma[idx], params.gray[idx], generator=generator)

    def poisson(xs: Tensor, idx: Tensor) -> Tensor:
        return add_poisson_noise(xs, params.scale[idx], params.gray[idx], generator=generator)

    x = on_subset(x, params.apply & ~params.poisson, gaussian)
    # Gray and colour Poisson samples separately: gray ones need one channel of Poisson draws, not three.
    x = on_subset(x, params.apply & params.poisson & params.gray, poisson)
    return on_subset(x, params.apply & params.poisson & ~params.gray, poisson)


def jpeg_step(x: Tensor, params: JPEGParams, extra: Tensor | None = None) -> Tensor:
    """JPEG-compress the samples whose ``apply`` (and ``extra``, if given) is set."""
    mask = params.apply if extra is None else params.apply & extra
    return on_subset(x, mask, lambda xs, idx: jpeg_compress(xs, params.quality[idx]))
