"""srlib's JPEG codec against a real one (PIL's libjpeg) on real photos, plus gradients, batching and dtypes.

The reference is ``PIL.Image.save(..., "JPEG", quality=q, subsampling="4:2:0")`` decoded by PIL: baseline
JFIF with the IJG tables, as ``cv2.imencode`` and Real-ESRGAN's data pipeline use. The required property is
that a quality means the same in srlib as in libjpeg (PSNR to the original within 0.3 dB); srlib actually
reproduces libjpeg's decoded pixels closely, which is checked too.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image

from srlib.degrade.functional import jpeg_compress
from srlib.degrade.jpeg import jpeg_codec, jpeg_quality_scale, jpeg_quantization_tables
from tests.conftest import shared_path

QUALITIES = (30, 50, 70, 95)
PHOTOS = ("astronaut", "chelsea", "coffee")  # bundled with scikit-image: no download
SET5 = ("baby", "bird", "butterfly", "head", "woman")


def _pil_jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality, subsampling="4:2:0")
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 255.0


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


def _check_matches_pil(img: np.ndarray) -> None:
    x = _tensor(img)
    ours = jpeg_compress(x.expand(len(QUALITIES), -1, -1, -1), torch.tensor(QUALITIES, dtype=torch.float32))
    for q, y in zip(QUALITIES, ours, strict=True):
        ref = _tensor(_pil_jpeg(img, q))
        ours_db, pil_db = _psnr(y, x), _psnr(ref, x)
        assert abs(ours_db - pil_db) <= 0.3, f"quality {q}: srlib {ours_db:.2f} dB vs PIL {pil_db:.2f} dB"
        # Not just the same PSNR: nearly the same pixels. Measured on these images: >= 51 dB between the two
        # and >= 96.7 % identical pixels (kornia's codec: 36-51 dB); a near-tie DCT coefficient that libjpeg's
        # fixed-point constants tip the other way accounts for the rest.
        between = _psnr(y, ref)
        identical = float(((y * 255).round() == (ref * 255).round()).float().mean())
        assert between > 48.0 and identical > 0.93, f"quality {q}: {between:.1f} dB, {identical:.2%} same"


@pytest.mark.parametrize("name", PHOTOS)
def test_psnr_matches_libjpeg_on_photos(name: str) -> None:
    _check_matches_pil(getattr(skimage.data, name)())


@pytest.mark.parametrize("name", SET5)
def test_psnr_matches_libjpeg_on_set5(name: str) -> None:
    path = shared_path("data", "Set5", f"{name}.png")
    _check_matches_pil(np.asarray(Image.open(path).convert("RGB")))


def test_quality_30_is_not_milder_than_libjpeg() -> None:
    # The reported bug: kornia's soft rounding made q=30 about 0.4-1 dB milder than a real codec's q=30.
    img = skimage.data.astronaut()[128:384, 128:384]
    x = _tensor(img)
    ours = _psnr(jpeg_compress(x[None], torch.tensor([30.0]))[0], x)
    pil = _psnr(_tensor(_pil_jpeg(img, 30)), x)
    assert ours <= pil + 0.3


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (17, 16), (37, 53), (8, 250), (64, 4)])
def test_odd_sizes_match_libjpeg(size: tuple[int, int]) -> None:
    # Sizes that are no multiple of 16 still decode to (nearly) PIL's pixels: libjpeg pads pixels to whole
    # MCUs across but only to even rows down, then pads each plane's blocks; chroma planes at most 2 samples
    # wide are upsampled by replication. Getting either wrong leaves ~50 % of such images' pixels different.
    h, w = size
    img = np.ascontiguousarray(skimage.data.astronaut()[100 : 100 + h, 150 : 150 + w])
    for q in (30, 95):
        ours = jpeg_compress(_tensor(img)[None], torch.tensor([float(q)]))[0]
        diff = ((ours - _tensor(_pil_jpeg(img, q))).abs() * 255).round()
        assert float((diff == 0).float().mean()) > 0.8 and float(diff.max()) <= 4, (size, q)


def test_quantization_tables_are_libjpegs() -> None:
    img = np.zeros((16, 16, 3), dtype=np.uint8)
    qualities = (1, 10, 25, 30, 49, 50, 51, 75, 90, 95, 100)
    luma, chroma = jpeg_quantization_tables(torch.tensor(qualities, dtype=torch.float64))
    for i, q in enumerate(qualities):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=q, subsampling="4:2:0")
        tables = Image.open(buf).quantization  # natural order
        assert luma[i].flatten().tolist() == list(tables[0]), q
        assert chroma[i].flatten().tolist() == list(tables[1]), q
    assert jpeg_quality_scale(torch.tensor([0.0, 37.6, 62.5])).tolist() == [5000.0, 132.0, 75.0]


def _smooth(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(b, 3, 6, 7, generator=g), size=(h, w), mode="bicubic").clamp(0, 1)


def test_hard_rounding_with_straight_through_gradient() -> None:
    x = (0.2 + 0.6 * _smooth(2, 37, 45)).requires_grad_()
    q = torch.tensor([30.0, 90.0], requires_grad=True)
    y = jpeg_compress(x, q)
    levels = y.detach() * 255
    assert float((levels - levels.round()).abs().max()) < 1e-4  # hard rounding: decoded pixels are 8-bit
    y.sum().backward()
    assert x.grad is not None and q.grad is not None
    assert bool(torch.isfinite(x.grad).all()) and bool(torch.isfinite(q.grad).all())
    # Straight-through: the backward pass is the codec without its roundings, a linear map that preserves
    # sums (orthonormal DCTs; averaging and interpolating chroma), so d(sum y)/dx is 1 where nothing clips.
    torch.testing.assert_close(x.grad, torch.ones_like(x.grad), atol=1e-4, rtol=0)
    # And a weighted sum gives a nonzero, input-dependent gradient.
    x2 = x.detach().clone().requires_grad_()
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    (jpeg_compress(x2, q.detach()) * w).sum().backward()
    assert x2.grad is not None and float(x2.grad.abs().mean()) > 0.1


def test_per_sample_quality_matches_one_at_a_time() -> None:
    x = _smooth(4, 40, 56, seed=2)
    q = torch.tensor([10.0, 37.5, 70.0, 100.0])
    y = jpeg_compress(x, q)
    for i in range(4):
        torch.testing.assert_close(y[i : i + 1], jpeg_compress(x[i : i + 1], q[i : i + 1]), atol=1e-6, rtol=0)
    errors = [float(((y[i] - x[i]) ** 2).mean()) for i in range(4)]
    assert errors == sorted(errors, reverse=True)
    # One quality for all, as (1,) or a 0-d tensor, is the same as repeating it.
    torch.testing.assert_close(jpeg_codec(x, torch.tensor(50.0)), jpeg_codec(x, torch.full((4,), 50.0)))


def test_gray_input() -> None:
    gray = _smooth(2, 24, 24)[:, :1]
    q = torch.tensor([30.0, 80.0])
    y = jpeg_compress(gray, q)
    assert y.shape == gray.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    img = (gray[0, 0] * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(np.stack([img] * 3, axis=-1)).save(buf, "JPEG", quality=30, subsampling="4:2:0")
    ref = torch.from_numpy(np.asarray(Image.open(buf).convert("L")).copy()).float()
    assert float((y[0, 0] * 255 - ref).abs().mean()) < 0.5


def test_dtypes_autocast_and_clamping() -> None:
    x = _smooth(2, 32, 32) * 1.2 - 0.1  # partly outside [0, 1]: clipped first
    q = torch.tensor([40.0, 90.0])
    ref = jpeg_compress(x, q)
    assert float(ref.min()) >= 0 and float(ref.max()) <= 1
    y64 = jpeg_compress(x.double(), q)
    # float64 maths may tip a near-tie coefficient the other way, nothing more.
    assert y64.dtype == torch.float64 and float((y64.float() - ref).abs().mean()) < 0.1 / 255
    for dtype in (torch.float16, torch.bfloat16):
        xd = x.to(dtype)
        y = jpeg_compress(xd, q)
        assert y.dtype == dtype  # computed in float32, rounded once to the input dtype
        torch.testing.assert_close(y.float(), jpeg_compress(xd.float(), q), atol=1 / 255, rtol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(jpeg_compress(x, q), ref)
    before = torch.get_float32_matmul_precision()
    try:  # TF32/bf16 float32 matmuls (a common training setting) must not reach the DCTs
        torch.set_float32_matmul_precision("medium")
        y = jpeg_compress(x, q)
    finally:
        torch.set_float32_matmul_precision(before)
    assert y.dtype == torch.float32 and float((y - ref).abs().mean()) < 0.1 / 255


def test_bad_arguments() -> None:
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        jpeg_compress(x, torch.tensor([50.0, 101.0]))
    with pytest.raises(ValueError, match="shape"):
        jpeg_compress(x, torch.tensor([50.0, 60.0, 70.0]))
    with pytest.raises(ValueError, match="RGB"):
        jpeg_codec(torch.rand(2, 2, 16, 16), torch.tensor([50.0, 60.0]))
