"""Images/s of the Real-ESRGAN degradation: srlib's batched pipeline vs a per-image loop of the same steps.

Usage::

    python benchmarks/bench_degradation.py [--batch 16] [--size 256] [--scale 4] [--repeats 5] [--warmup 1]
                                           [--threads N] [--device cpu]

All runs degrade the same HR batch (random crops of scikit-image's bundled photos) with the same per-sample
parameters, drawn once per repeat. Two per-image loops run one image at a time:

- ``straightforward``: the steps as a per-image implementation writes them, BasicSR-style: USM with the
  51 x 51 Gaussian as one 2-D kernel (BasicSR ``USMSharp``/``filter2D``), kornia ``filter2d`` (reflect)
  for the blurs, ``F.interpolate`` for the resizes, the noise formulas and kornia's JPEG codec per image.
- ``srlib ops, batch of 1``: the same loop but with srlib's separable USM, i.e. what batching alone buys.

Prints the median seconds per batch, images/s and the ratios (the goals: batched >= 3x the straightforward
loop and >= 10 images/s at 16 x 256²).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from kornia.filters import filter2d

from srlib.degrade import RealESRGANDegradation, quantize_8bit
from srlib.degrade.functional import (
    RESIZE_MODES,
    add_gaussian_noise,
    add_poisson_noise,
    jpeg_compress,
    usm_sharpen,
)
from srlib.degrade.kernels import gaussian_kernel1d
from srlib.degrade.params import select
from srlib.degrade.realesrgan import RealESRGANParams


def hr_batch(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """``batch`` random ``size``² crops of scikit-image's bundled RGB photos, float in [0, 1]."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    g = torch.Generator().manual_seed(seed)
    crops = []
    for i in range(batch):
        img = torch.from_numpy(photos[i % len(photos)]).permute(2, 0, 1).float() / 255.0
        top = int(torch.randint(0, img.shape[1] - size + 1, (), generator=g))
        left = int(torch.randint(0, img.shape[2] - size + 1, (), generator=g))
        crops.append(img[:, top : top + size, left : left + size])
    return torch.stack(crops)


def usm_2d(img: torch.Tensor, weight: float, radius: int, threshold: float) -> torch.Tensor:
    """BasicSR's ``USMSharp``: the Gaussian applied as one 2-D (radius+1)² kernel with reflect padding."""
    g = gaussian_kernel1d(radius + (1 - radius % 2), device=img.device)
    k2 = torch.outer(g, g)[None]
    residual = img - filter2d(img, k2, border_type="reflect")
    mask = (residual.abs() * 255 > threshold).to(img.dtype)
    soft = filter2d(mask, k2, border_type="reflect")
    sharp = (img + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * img


def per_image_loop(
    deg: RealESRGANDegradation, hr: torch.Tensor, params: RealESRGANParams, *, usm2d: bool
) -> torch.Tensor:
    """The same steps, one image at a time, with the usual single-image ops."""
    c = deg.config
    usm = usm_2d if usm2d else usm_sharpen
    height, width = hr.shape[-2:]
    h, w = height // c.scale, width // c.scale
    out = []

    def blur(x: torch.Tensor, kp) -> torch.Tensor:
        return filter2d(x, kp.kernels(x.device, x.dtype), border_type="reflect") if bool(kp.apply[0]) else x

    def noise(x: torch.Tensor, np_, g: torch.Generator) -> torch.Tensor:
        if not bool(np_.apply[0]):
            return x
        if bool(np_.poisson[0]):
            return add_poisson_noise(x, np_.scale, np_.gray, generator=g)
        return add_gaussian_noise(x, np_.sigma, np_.gray, generator=g)

    def jpeg(x: torch.Tensor, jp) -> torch.Tensor:
        return jpeg_compress(x, jp.quality) if bool(jp.apply[0]) else x

    for i in range(hr.shape[0]):
        q = select(params, torch.tensor([i]))
        g1 = torch.Generator(device=hr.device).manual_seed(int(q.noise1.seed) + i)
        g2 = torch.Generator(device=hr.device).manual_seed(int(q.noise2.seed) + i)
        x = usm(hr[i : i + 1], c.usm.weight, c.usm.radius, c.usm.threshold)
        x = blur(x, q.kernel1)
        s1 = float(q.resize1.scale[0])
        x = F.interpolate(
            x, size=(int(height * s1), int(width * s1)), mode=RESIZE_MODES[int(q.resize1.mode[0])]
        )
        x = jpeg(noise(x, q.noise1, g1), q.jpeg1)
        x = blur(x, q.kernel2)
        s2 = float(q.resize2.scale[0])
        size2 = (int(height / c.scale * s2), int(width / c.scale * s2))
        x = noise(F.interpolate(x, size=size2, mode=RESIZE_MODES[int(q.resize2.mode[0])]), q.noise2, g2)
        final_mode = RESIZE_MODES[int(q.final_mode[0])]
        if bool(q.jpeg_first[0]):
            x = blur(F.interpolate(jpeg(x, q.jpeg2), size=(h, w), mode=final_mode), q.sinc)
        else:
            x = jpeg(blur(F.interpolate(x, size=(h, w), mode=final_mode), q.sinc), q.jpeg2)
        out.append(quantize_8bit(x))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="HR height and width")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    hr = hr_batch(args.batch, args.size).to(device)
    deg = RealESRGANDegradation(scale=args.scale, seed=0)
    # The same parameters on both sides: one draw per repeat, made before timing.
    params = [deg.forward_parameters(hr.shape) for _ in range(args.warmup + args.repeats)]

    def batched(i: int) -> None:
        deg(hr, params=params[i])
        sync()

    def loop_2d(i: int) -> None:
        per_image_loop(deg, hr, params[i], usm2d=True)
        sync()

    def loop_srlib(i: int) -> None:
        per_image_loop(deg, hr, params[i], usm2d=False)
        sync()

    # Interleave the three so a change of machine load hits all of them alike.
    runs: dict[str, list[float]] = {"batched": [], "straightforward": [], "srlib ops, batch of 1": []}
    fns = {"batched": batched, "straightforward": loop_2d, "srlib ops, batch of 1": loop_srlib}
    with torch.inference_mode():
        for i in range(args.warmup + args.repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(i)
                if i >= args.warmup:
                    runs[name].append(time.perf_counter() - start)

    print(
        f"Real-ESRGAN degradation, batch {args.batch} x {args.size}² -> x{args.scale}, device {device}, "
        f"threads {torch.get_num_threads()}, median of {args.repeats} repeats"
    )
    med = {name: statistics.median(t) for name, t in runs.items()}
    for name, t in runs.items():
        print(
            f"  {name:22s} {med[name]:7.3f} s/batch {args.batch / med[name]:7.2f} images/s"
            f"   runs {[round(v, 3) for v in t]}"
        )
    print(f"  speed-up batched vs straightforward loop: {med['straightforward'] / med['batched']:.2f}x")
    print(f"  speed-up batched vs srlib-ops loop:       {med['srlib ops, batch of 1'] / med['batched']:.2f}x")


if __name__ == "__main__":
    main()
