"""A batched, differentiable JPEG codec that rounds like a real one (baseline JFIF, 4:2:0, libjpeg tables).

Every step follows what libjpeg(-turbo) does with its default settings, so that a quality here means what it
means to ``PIL.Image.save(..., quality=q, subsampling="4:2:0")`` or ``cv2.imencode``:

1. The encoder sees 8-bit RGB and converts it to 8-bit full-range YCbCr (JFIF, BT.601 coefficients, with
   libjpeg's 16-bit fixed-point constants and rounding).
2. Cb and Cr are averaged over 2x2 pixels (4:2:0) into 8-bit samples (libjpeg's alternating tie bias).
3. The planes are padded by edge replication to whole 16x16 MCUs the way libjpeg pads (pixels to the
   right, but downwards only to an even row count before downsampling, then each plane's last row);
   samples are level-shifted by -128 and each 8x8 block goes through the DCT-II, as two batched 8x8
   matrix products (rows, then columns).
4. The coefficients are divided by the IJG standard luminance/chrominance tables (ITU-T T.81 Annex K)
   scaled for the quality as libjpeg's ``jpeg_quality_scaling`` does, and rounded to integers.
5. The decoder multiplies back, applies the inverse DCT (columns, then rows), stores 8-bit samples clipped
   to [0, 255], upsamples chroma with libjpeg's "fancy" triangle filter (bilinear interpolation with
   ``align_corners=False`` at factor 2, edges replicated; plain replication for planes at most 2 samples
   wide, as libjpeg-turbo) into 8-bit samples, converts to RGB and clips.

The DCTs are floating point but round where libjpeg's integer "islow" DCTs hold integers (after the first
1-D pass, and the forward DCT's output in units of 1/8), so they quantise the same coefficients in all but
rare cases. On photos 97-99.9 % of decoded pixels equal PIL's exactly; the rest come from coefficients so
close to a rounding tie that the fixed-point constants inside libjpeg's DCT butterflies tip them the other
way. The PSNR to the original agrees with PIL's to 0.01 dB at qualities 30-95.

Every rounding is hard in the forward pass and the identity in the backward pass (straight-through), so
the output is what an 8-bit codec would produce and gradients still reach the input (and the quality). The
clips to [0, 255] are ordinary clamps (no gradient where they clip). Rounding the decoded pixels to 8 bits
is deliberate: a real decoder outputs uint8, and the degradation pipelines quantise to 8 bits anyway.

Why srlib has its own codec instead of ``kornia.enhance.jpeg_codec_differentiable``: kornia rounds with
``round(x) + (x - round(x))**3``, which keeps part of every rounding error in the forward pass and makes
each quality compress markedly more gently than a real codec (its quality 30 is a real codec's 36-43).
Swapping only the rounding would mean patching kornia's private helpers (``_quantize`` and friends), which
may change in any release; the whole codec is a few matrix products, so srlib owns it.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["jpeg_codec", "jpeg_quality_scale", "jpeg_quantization_tables"]

# IJG standard quantisation tables (ITU-T T.81 Annex K.1 / K.2), natural row-major order (row = vertical
# frequency).
_LUMA_TABLE: tuple[int, ...] = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA_TABLE: tuple[int, ...] = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)  # fmt: skip

# JFIF full-range RGB -> YCbCr (Cb/Cr offset by 128) and back, with libjpeg's 16-bit fixed-point
# constants (jccolor.c / jdcolor.c): the coefficients are FIX(c) = round(c * 2^16), and the results are
# rounded by adding a bias before the shift, so the 8-bit samples match libjpeg's bit for bit.
_RGB_TO_YCC: tuple[tuple[float, float, float], ...] = (
    (0.299, 0.587, 0.114),
    (-0.16874, -0.33126, 0.5),
    (0.5, -0.41869, -0.08131),
)
_ONE = 65536.0  # 1 << SCALEBITS
_YCC_BIAS: tuple[float, float, float] = (_ONE / 2, 128.0 * _ONE + _ONE / 2 - 1, 128.0 * _ONE + _ONE / 2 - 1)
_CR_TO_R, _CB_TO_G, _CR_TO_G, _CB_TO_B = 1.402, -0.34414, -0.71414, 1.772

_MCU = 16  # 4:2:0 MCU: 16x16 luma pixels, one 8x8 block of each chroma plane


def _round_st(x: Tensor) -> Tensor:
    """Round to the nearest integer in the forward pass; identity gradient (straight-through)."""
    return x + (torch.round(x) - x).detach()


def _shift_st(x: Tensor, value: Tensor) -> Tensor:
    """``value`` in the forward pass; identity gradient to ``x`` (``value`` is a rounding of ``x``)."""
    return x + (value - x).detach()


def _floor_st(x: Tensor) -> Tensor:
    """Floor in the forward pass; identity gradient (straight-through)."""
    return x + (torch.floor(x) - x).detach()


def jpeg_quality_scale(quality: Tensor) -> Tensor:
    """libjpeg's quality → table scale in percent: ``5000 / q`` below 50, ``200 - 2 q`` from 50 (floored).

    Qualities are clipped to [1, 100] first, as libjpeg does (quality 0 uses the quality-1 table).
    Fractional qualities are allowed and floor the scale, which for integer qualities is libjpeg's integer
    arithmetic exactly. The floor is straight-through, so the scale is differentiable in the quality.

    Shape:
        - quality: any shape; output: the same shape.

    Example:
        >>> jpeg_quality_scale(torch.tensor([0.0, 10.0, 30.0, 50.0, 75.0, 100.0])).tolist()
        [5000.0, 500.0, 166.0, 100.0, 50.0, 0.0]
    """
    q = quality.clamp(1.0, 100.0)
    return _floor_st(torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q))


def jpeg_quantization_tables(quality: Tensor) -> tuple[Tensor, Tensor]:
    """The luminance and chrominance quantisation tables libjpeg uses at each quality.

    ``table = clip((base · scale + 50) // 100, 1, 255)`` with the IJG base tables and
    :func:`jpeg_quality_scale` (baseline JPEG: at most 255). The floor is straight-through.

    Shape:
        - quality: ``(B,)``; outputs: ``(B, 8, 8)`` each, in natural (row-major) order, on the quality's
          device and in its (floating) dtype.

    Example:
        >>> luma, chroma = jpeg_quantization_tables(torch.tensor([50.0, 100.0]))
        >>> luma[0, 0, :4].tolist(), chroma[1].unique().tolist()
        ([16.0, 11.0, 10.0, 16.0], [1.0])
    """
    scale = jpeg_quality_scale(quality)[:, None, None]
    tables = []
    for base in (_LUMA_TABLE, _CHROMA_TABLE):
        t = torch.tensor(base, device=quality.device, dtype=quality.dtype).view(1, 8, 8)
        tables.append(_floor_st((t * scale + 50.0) / 100.0).clamp(1.0, 255.0))
    return tables[0], tables[1]


def _dct_matrix(device: torch.device, dtype: torch.dtype) -> Tensor:
    """libjpeg's 8-point DCT-II matrix ``[frequency, position]``: the orthonormal one scaled by sqrt 8.

    Row 0 is exactly 1 and row 4 exactly ±1 (as libjpeg computes them with shifts and sums), so that sums
    which are integers or exact halves in libjpeg's integer DCTs are exact in floating point too.
    """
    n = torch.arange(8, dtype=torch.float64)
    basis = math.sqrt(2.0) * torch.cos((2.0 * n[None, :] + 1.0) * n[:, None] * math.pi / 16.0)
    basis[0] = 1.0
    basis[4] = basis[4].sign()
    return basis.to(device=device, dtype=dtype)


def _to_blocks(x: Tensor) -> Tensor:
    """``(B, C, 8 m, 8 n)`` → ``(B, C, m, n, 8, 8)``."""
    b, c, h, w = x.shape
    return x.view(b, c, h // 8, 8, w // 8, 8).transpose(3, 4)


def _from_blocks(x: Tensor) -> Tensor:
    """Inverse of :func:`_to_blocks`."""
    b, c, m, n = x.shape[:4]
    return x.transpose(3, 4).reshape(b, c, m * 8, n * 8)


def _descale_st(x: Tensor) -> Tensor:
    """libjpeg's ``DESCALE``: round half up (``floor(x + 1/2)``); identity gradient (straight-through)."""
    return _shift_st(x, torch.floor(x + 0.5))


def _code_planes(planes: Tensor, table: Tensor, dct: Tensor) -> Tensor:
    """DCT, quantise, dequantise and inverse-DCT 8-bit planes with the roundings of libjpeg's "islow" DCTs.

    libjpeg's integer DCTs work in units scaled by sqrt 8 per 1-D pass (``dct`` is scaled so), keep the first
    pass as integers scaled by 4 (``PASS1_BITS = 2``) and round half up at each descale; the forward DCT
    delivers integers in units of 1/8 of a coefficient, which the quantiser divides by ``8 · step`` rounding
    half away from zero. Doing the same roundings (hard, straight-through) in floating point lands on the
    same quantised coefficients and samples in all but rare cases, where one of libjpeg's fixed-point
    constants tips a value that is within a hair of a rounding tie.

    ``planes`` is ``(B, C, 8 m, 8 n)`` in [0, 255]; ``table`` is ``(B, 8, 8)``; both are computed in the
    dtype of ``dct``. Returns decoded 8-bit samples, clipped to [0, 255] like libjpeg's range limiting.
    """
    x = _to_blocks(planes.to(dct.dtype) - 128.0)  # (B, C, m, n, 8 rows, 8 columns)
    rows = _descale_st(torch.matmul(x, dct.T * 4.0))  # forward pass 1, along rows: sqrt 8 · 4 · 1-D DCT
    coef8 = _descale_st(torch.matmul(dct / 4.0, rows))  # forward pass 2, along columns: 8 · 2-D DCT
    step = table.to(dct.dtype).reshape(table.shape[0], 1, 1, 1, 8, 8)
    ratio = coef8 / (8.0 * step)
    with torch.no_grad():
        level = torch.sign(ratio) * torch.floor(ratio.abs() + 0.5)
    coef = _shift_st(ratio, level) * step  # dequantised, orthonormal scale
    cols = _descale_st(torch.matmul(dct.T * 4.0, coef))  # inverse pass 1, along columns
    out = torch.matmul(cols, dct / 32.0)  # inverse pass 2, along rows
    return (_descale_st(_from_blocks(out)) + 128.0).clamp(0.0, 255.0)


def _fix(c: float) -> float:
    """libjpeg's ``FIX``: a coefficient in 16-bit fixed point, rounded (sign kept, as libjpeg writes -FIX)."""
    return math.copysign(math.floor(abs(c) * _ONE + 0.5), c)


def _rgb_to_ycc(rgb: Tensor) -> Tensor:
    """8-bit RGB → 8-bit full-range YCbCr exactly as libjpeg's ``rgb_ycc_convert`` (straight-through).

    Written as elementwise sums, not a matrix product, so TF32/reduced-precision matmul settings cannot
    round the fixed-point constants; all fixed-point sums stay below 2^24, so they are exact in float32.
    """
    r, g, b = rgb.unbind(1)
    value, samples = [], []
    for (cr, cg, cb), offset, bias in zip(_RGB_TO_YCC, (0.0, 128.0, 128.0), _YCC_BIAS, strict=True):
        value.append(cr * r + cg * g + cb * b + offset)
        with torch.no_grad():
            samples.append(torch.floor((_fix(cr) * r + _fix(cg) * g + _fix(cb) * b + bias) / _ONE))
    return _shift_st(torch.stack(value, dim=1), torch.stack(samples, dim=1))


def _ycc_to_rgb(y: Tensor, cb: Tensor, cr: Tensor) -> Tensor:
    """8-bit YCbCr (Cb, Cr already minus 128) → 8-bit RGB as libjpeg's ``ycc_rgb_convert`` (straight-through).

    Shape:
        - y, cb, cr: ``(B, H, W)``; output: ``(B, 3, H, W)`` in [0, 255].
    """
    value = torch.stack((y + _CR_TO_R * cr, y + _CB_TO_G * cb + _CR_TO_G * cr, y + _CB_TO_B * cb), dim=1)
    with torch.no_grad():
        half = _ONE / 2
        r = torch.floor((_fix(_CR_TO_R) * cr + half) / _ONE)
        g = torch.floor((_fix(_CB_TO_G) * cb + _fix(_CR_TO_G) * cr + half) / _ONE)
        b = torch.floor((_fix(_CB_TO_B) * cb + half) / _ONE)
        samples = y[:, None] + torch.stack((r, g, b), dim=1)
    return _shift_st(value, samples).clamp(0.0, 255.0)


def _alternating(n: int, even: float, odd: float, like: Tensor) -> Tensor:
    """``[even, odd, even, odd, ...]`` of length ``n`` as a row to broadcast over the last axis."""
    return torch.tensor((even, odd), device=like.device, dtype=like.dtype).repeat((n + 1) // 2)[:n]


def _downsample_chroma(c: Tensor) -> Tensor:
    """2x2 average of 8-bit chroma planes into 8-bit samples, rounding ties as libjpeg's ``h2v2_downsample``.

    libjpeg computes ``(sum of 4 + bias) >> 2`` with a bias alternating 1, 2 along each row, so an exact
    half rounds down in even output columns and up in odd ones. Straight-through.
    """
    total = F.avg_pool2d(c, 2) * 4.0
    bias = _alternating(total.shape[-1], 1.0, 2.0, total)
    return _shift_st(total / 4.0, torch.floor((total + bias) / 4.0))


def _pad_edges(x: Tensor, bottom: int, right: int) -> Tensor:
    """Replicate the last row ``bottom`` times and the last column ``right`` times."""
    return F.pad(x, (0, right, 0, bottom), mode="replicate") if bottom or right else x


def _upsample_chroma(c: Tensor) -> Tensor:
    """libjpeg's ``h2v2_fancy_upsample``: 2x triangle filter into 8-bit samples (straight-through rounding).

    The filter is bilinear interpolation with ``align_corners=False`` and replicated edges, i.e. weights
    9/16, 3/16, 3/16, 1/16; libjpeg rounds ``(16 · value + bias) >> 4`` with bias 8 in even output columns
    and 7 in odd ones, so exact halves round up, then down, alternately. Planes at most 2 samples wide are
    upsampled by plain replication instead (libjpeg-turbo's ``h2v2_upsample``), as libjpeg-turbo does.
    """
    if c.shape[-1] <= 2:
        return c.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    up = F.interpolate(c, scale_factor=2.0, mode="bilinear", align_corners=False)
    total = up * 16.0  # an exact integer: the weights are multiples of 1/16
    bias = _alternating(up.shape[-1], 8.0, 7.0, up)
    return _shift_st(up, torch.floor((total + bias) / 16.0))


def _reduced_matmul_precision() -> bool:
    """Whether float32 matrix products may run in TF32/bf16 (``torch.set_float32_matmul_precision``)."""
    return torch.get_float32_matmul_precision() != "highest" or torch.backends.cuda.matmul.allow_tf32


def _no_autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Disable a caller's autocast: 0-255 samples and large DCT coefficients need full precision."""
    if torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def jpeg_codec(x: Tensor, quality: Tensor) -> Tensor:
    """Encode and decode RGB images as baseline 4:2:0 JPEG, each at its own quality (see the module doc).

    Inputs are clipped to [0, 1] and rounded to 8 bits like any encoder's input; the output lies on the
    8-bit grid ``k / 255`` like any decoder's. Roundings are straight-through, so the function is
    differentiable in ``x`` (and in ``quality``, through the tables). float16/bfloat16 inputs are computed in
    float32 with autocast disabled and returned in their dtype.

    Args:
        x: RGB images in [0, 1].
        quality: JPEG quality per image in [0, 100] (libjpeg's scale; 0 acts as 1), or one for all.
            Fractional qualities interpolate the table scale (see :func:`jpeg_quality_scale`).

    Raises:
        ValueError: ``x`` is not a float ``(B, 3, H, W)`` batch, or ``quality`` has the wrong shape or (when
            on the CPU) lies outside [0, 100].

    Shape:
        - x: ``(B, 3, H, W)``, any H, W ≥ 1; quality: ``(B,)``, ``(1,)`` or ``()``; output: like ``x``.

    Example:
        >>> x = torch.rand(2, 3, 20, 24)
        >>> y = jpeg_codec(x, torch.tensor([30.0, 95.0]))
        >>> y.shape, bool((y * 255 - (y * 255).round()).abs().max() < 1e-4)
        (torch.Size([2, 3, 20, 24]), True)
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"jpeg_codec expects RGB images (B, 3, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"jpeg_codec expects a floating-point image in [0, 1], got dtype {x.dtype}")
    b, _, h, w = x.shape
    if quality.ndim > 1 or quality.numel() not in (1, b):
        raise ValueError(f"quality must have shape ({b},), (1,) or (), got {tuple(quality.shape)}")
    # Checked only where it costs no device synchronisation; elsewhere qualities are clipped to [1, 100].
    if quality.device.type == "cpu" and not bool(((quality >= 0) & (quality <= 100)).all()):
        raise ValueError(f"JPEG quality must lie in [0, 100], got {quality.tolist()}")
    out_dtype = x.dtype
    dtype = torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype
    quality = quality.to(device=x.device, dtype=dtype).reshape(-1).expand(b)
    with _no_autocast(x.device):
        luma_table, chroma_table = jpeg_quantization_tables(quality)
        # The DCTs need full float32 products: TF32 (or bf16) matmuls, which torch uses for float32 when
        # set_float32_matmul_precision is "high"/"medium", would round the basis to ~3 digits and move
        # coefficients across rounding boundaries. Do them in float64 then (8x8 products: cheap).
        dct_dtype = torch.float64 if dtype == torch.float32 and _reduced_matmul_precision() else dtype
        dct = _dct_matrix(x.device, dct_dtype)
        rgb = _round_st(x.to(dtype).clamp(0.0, 1.0) * 255.0)
        # Padding as libjpeg's jcprepct/jcsample: pixels are replicated right to whole MCUs but down only to
        # an even row count; each plane is then replicated down to whole blocks *after* downsampling, so a
        # chroma block's padding repeats the last chroma row, not chroma made from repeated pixel rows.
        rgb = _pad_edges(rgb, h % 2, -w % _MCU)
        ycc = _rgb_to_ycc(rgb)
        luma = _pad_edges(ycc[:, :1], -rgb.shape[-2] % _MCU, 0)
        chroma = _downsample_chroma(ycc[:, 1:])
        chroma = _pad_edges(chroma, -chroma.shape[-2] % 8, 0)

        luma = _code_planes(luma, luma_table, dct).to(dtype)[..., :h, :w]
        chroma = _code_planes(chroma, chroma_table, dct).to(dtype)
        # libjpeg upsamples from the ceil(H/2) x ceil(W/2) chroma samples that cover the image, replicating
        # their edges; interpolating the padded planes would read decoded padding instead.
        chroma = chroma[..., : (h + 1) // 2, : (w + 1) // 2]
        cb, cr = (_upsample_chroma(chroma)[..., :h, :w] - 128.0).unbind(1)
        out = _ycc_to_rgb(luma[:, 0], cb, cr) / 255.0
    return out.to(out_dtype)
