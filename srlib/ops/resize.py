"""Resampling: one vocabulary of filter names and one function, :func:`resize`, for all of srlib.

:func:`imresize` is MATLAB's ``imresize(x, s, 'bicubic')``, which the SR literature makes its
low-resolution inputs and bicubic baselines with: Keys' cubic kernel with ``a = -0.5``, the kernel
stretched by ``1/s`` when downscaling (antialiasing), symmetric (mirror) padding at the borders, and for
``uint8`` images a rounding back to ``uint8`` after each of the two 1-D passes (the dimension with the
smaller scale first, rows on a tie). Everything is done, on any device, as two small matrix products.

The filter names (:data:`FILTERS`), the same wherever srlib resizes (:func:`resize`, the degradations'
``resize_modes``/``modes``, :class:`srlib.data.FramePairPolicy`'s ``filter``):

==================  ================================================================================
``"bicubic"``       MATLAB-compatible bicubic, antialiased when shrinking (:func:`imresize`).
``"bilinear"``      triangle filter, antialiased when shrinking (like ``F.interpolate(...,
                    antialias=True)``); taps beyond the border are dropped and the rest renormalised.
``"area"``          exact pixel-area averaging (each output pixel averages the input area it covers,
                    fractional pixels weighted by their overlap).
``"torch_bicubic"`` ``F.interpolate(mode="bicubic", align_corners=False)``: Keys' kernel with
                    ``a = -0.75``, no antialiasing, borders clamped (Real-ESRGAN's random resizes).
``"torch_bilinear"`` ``F.interpolate(mode="bilinear", align_corners=False)``, no antialiasing.
``"torch_area"``    ``F.interpolate(mode="area")``: adaptive average pooling over integer windows.
==================  ================================================================================

Older spellings still accepted (:data:`FILTER_ALIASES`): ``"matlab"`` for ``"bicubic"`` (the name
``FirstOrderConfig.resize_modes`` used). Any other name is refused with the list of valid ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["FILTERS", "FILTER_ALIASES", "imresize", "interpolate_matrix", "resize", "resolve_filter"]

#: The resampling filters, by name (see the module docstring).
FILTERS: tuple[str, ...] = ("bicubic", "bilinear", "area", "torch_bicubic", "torch_bilinear", "torch_area")
#: Older spellings and the filter each means.
FILTER_ALIASES: dict[str, str] = {"matlab": "bicubic"}
#: The filters that resample by an exact factor (output grid fixed by the factor, not by the size).
FACTOR_FILTERS: tuple[str, ...] = ("bicubic", "bilinear", "area")
_CUBIC_A = -0.75  # PyTorch's bicubic (upsample_bicubic2d) uses Keys' kernel with a = -0.75.


def resolve_filter(name: str, *, allowed: Sequence[str] = FILTERS, where: str = "filter") -> str:
    """The canonical name of filter ``name`` (an alias such as ``"matlab"`` is mapped).

    Args:
        name: a filter name or alias.
        allowed: the filters the caller supports (default: all of :data:`FILTERS`).
        where: what to call the setting in the error message (e.g. ``"FramePairPolicy.filter"``).

    Raises:
        ValueError: an unknown name, or one the caller does not support, with the list of valid ones.

    Example:
        >>> resolve_filter("matlab"), resolve_filter("torch_area")
        ('bicubic', 'torch_area')
    """
    canonical = FILTER_ALIASES.get(name, name) if isinstance(name, str) else name
    if canonical in allowed:
        return canonical
    aliases = [f"{a}={c}" for a, c in FILTER_ALIASES.items() if c in allowed]
    known = "" if canonical not in FILTERS else f" ({canonical!r} is not available here)"
    raise ValueError(
        f"Unknown resize filter {name!r} in {where}{known}; choose one of {', '.join(allowed)}"
        + (f" (aliases: {', '.join(aliases)})." if aliases else ".")
    )


def _cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (the one MATLAB uses)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def _weights_cpu(in_len: int, out_len: int, scale: float, antialias: bool) -> Tensor:
    """The resize matrix, cached in eager mode; computed afresh while torch traces (export, compile).

    A tensor made during tracing is a fake one: cached, it would poison every later eager call.
    """
    if torch.compiler.is_compiling():
        return _matrix(in_len, out_len, scale, antialias)
    return _cached_matrix(in_len, out_len, scale, antialias)


def _matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> Tensor:
    """``(out_len, in_len)`` float64 matrix mapping one image line to its resized line."""
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width /= scale
    out_pos = torch.arange(1, out_len + 1, dtype=torch.float64)
    # Centre of each output pixel in input coordinates (1-based, as in MATLAB).
    centre = out_pos / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(centre - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = centre[:, None] - idx
    weights = scale * _cubic(scale * dist) if shrink else _cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # Mirror out-of-range taps: MATLAB indexes [1..n, n..1] periodically.
    zero_based = (idx - 1).long() % (2 * in_len)
    zero_based = torch.where(zero_based >= in_len, 2 * in_len - 1 - zero_based, zero_based)
    matrix = torch.zeros(out_len, in_len, dtype=torch.float64)
    matrix.scatter_add_(1, zero_based, weights)
    return matrix


_cached_matrix = lru_cache(maxsize=64)(_matrix)


def _weights(in_len: int, out_len: int, scale: float, antialias: bool, like: Tensor) -> Tensor:
    dtype = like.dtype if like.is_floating_point() and like.dtype != torch.float16 else torch.float32
    if like.dtype == torch.float64:
        dtype = torch.float64
    return _weights_cpu(in_len, out_len, scale, antialias).to(device=like.device, dtype=dtype)


def imresize(
    image: Tensor,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> Tensor:
    """Resize like MATLAB's ``imresize(image, scale, 'bicubic')``.

    Args:
        image: ``(..., H, W)`` tensor; float (any range) or ``uint8``. ``uint8`` input is rounded and
            clamped to ``uint8`` after each 1-D pass, exactly as MATLAB does.
        scale: factor for both sides (``0.5`` halves); output size is ``ceil(H * scale)``.
        size: explicit output ``(height, width)`` instead of ``scale``.
        antialias: stretch the kernel when shrinking (MATLAB's default).

    Returns:
        The resized tensor, same dtype and device.

    Shape:
        - image: ``(..., H, W)``
        - output: ``(..., ceil(H*scale), ceil(W*scale))``

    Example:
        >>> x = torch.rand(2, 3, 8, 8)
        >>> imresize(x, 0.5).shape
        torch.Size([2, 3, 4, 4])
        >>> torch.allclose(imresize(torch.ones(1, 6, 6), 2.0), torch.ones(1, 12, 12))
        True
    """
    if image.ndim < 2:
        raise ValueError(f"imresize needs a tensor of shape (..., H, W); got shape {tuple(image.shape)}.")
    in_h, in_w = image.shape[-2:]
    if size is not None:
        out_h, out_w = int(size[0]), int(size[1])
        scale_h, scale_w = out_h / in_h, out_w / in_w
    elif scale is not None:
        if scale <= 0:
            raise ValueError(f"imresize scale must be positive, got {scale}.")
        scale_h = scale_w = float(scale)
        out_h, out_w = math.ceil(in_h * scale_h - 1e-9), math.ceil(in_w * scale_w - 1e-9)
    else:
        raise ValueError("imresize needs either scale or size.")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"imresize of a {in_h}x{in_w} image by {scale_h:g} gives an empty image.")

    is_uint8 = image.dtype == torch.uint8
    x = image.float() if is_uint8 or image.dtype in (torch.float16, torch.bfloat16) else image
    # MATLAB resizes the dimension with the smaller scale first (rows on a tie).
    order = ("h", "w") if scale_h <= scale_w else ("w", "h")
    for dim in order:
        if dim == "h":
            matrix = _weights(in_h, out_h, scale_h, antialias, x)
            x = torch.matmul(matrix, x)
        else:
            matrix = _weights(in_w, out_w, scale_w, antialias, x)
            x = torch.matmul(x, matrix.T)
        if is_uint8:
            x = x.round().clamp_(0, 255)
    if is_uint8:
        return x.to(torch.uint8)
    return x.to(image.dtype)


# ----------------------------------------------------------------------------------------------------
# The other filters' 1-D matrices
# ----------------------------------------------------------------------------------------------------


def _factor_matrix(in_len: int, out_len: int, factor: float, kind: str) -> Tensor:
    """``(out_len, in_len)`` float64 matrix of the antialiased ``"bilinear"`` or exact ``"area"`` filter.

    Output pixel ``j`` is centred on input coordinate ``(j + 0.5) / factor - 0.5`` (pixel centres,
    0-based): the output grid starts at the input's left edge and advances ``1 / factor`` input pixels
    per output pixel, whatever ``out_len`` is.
    """
    src = torch.arange(in_len, dtype=torch.float64)
    dst = torch.arange(out_len, dtype=torch.float64)
    if kind == "area":
        # Output pixel j covers [j/f, (j+1)/f) in edge coordinates; weight = overlap with [i, i+1).
        lo, hi = dst / factor, (dst + 1) / factor
        overlap = torch.minimum(hi[:, None], src[None, :] + 1) - torch.maximum(lo[:, None], src[None, :])
        weights = overlap.clamp(min=0)
    else:
        # Triangle filter, stretched by 1/f when shrinking (antialiasing, as torch's antialias=True);
        # taps outside the image are dropped and the rest renormalised.
        stretch = max(1.0 / factor, 1.0)
        centre = (dst + 0.5) / factor - 0.5
        weights = (1.0 - (src[None, :] - centre[:, None]).abs() / stretch).clamp(min=0)
    total = weights.sum(dim=1, keepdim=True)
    if bool((total <= 0).any()):
        # An output pixel beyond the input's far edge (only when cropping to more than exists): use the
        # nearest input pixel.
        nearest = ((dst + 0.5) / factor - 0.5).round().clamp(0, in_len - 1).long()
        fallback = torch.zeros_like(weights).scatter_(1, nearest[:, None], 1.0)
        weights = torch.where(total > 0, weights, fallback)
        total = weights.sum(dim=1, keepdim=True)
    return weights / total


def _cubic_factor_matrix(in_len: int, out_len: int, factor: float) -> Tensor:
    """MATLAB bicubic by ``factor`` (``ceil(in_len * factor)`` lines), cut or extended to ``out_len``
    lines (extra lines repeat the last one)."""
    full = _weights_cpu(in_len, math.ceil(in_len * factor - 1e-9), factor, True)
    if full.shape[0] < out_len:
        full = torch.cat([full, full[-1:].expand(out_len - full.shape[0], in_len)])
    return full[:out_len]


def _tap_matrix(idx: Tensor, weights: Tensor, in_canvas: int) -> Tensor:
    out = torch.zeros(*idx.shape[:-1], in_canvas, device=idx.device, dtype=weights.dtype)
    return out.scatter_add_(-1, idx, weights)


def _torch_area(in_len: Tensor, dst: Tensor, out_len: Tensor, in_canvas: int) -> Tensor:
    # adaptive_avg_pool: output i averages input [floor(i*in/out), ceil((i+1)*in/out)).
    start = torch.div(dst * in_len, out_len, rounding_mode="floor")
    end = torch.div((dst + 1) * in_len + out_len - 1, out_len, rounding_mode="floor")
    j = torch.arange(in_canvas, device=dst.device)
    inside = (j >= start[..., None]) & (j < end[..., None])
    return inside.float() / (end - start)[..., None].float()


def _torch_bilinear(in_len: Tensor, dst: Tensor, out_len: Tensor, in_canvas: int) -> Tensor:
    ratio = in_len.float() / out_len.float()
    src = ((dst.float() + 0.5) * ratio - 0.5).clamp(min=0.0)
    i0 = src.floor().long()
    frac = src - i0.float()
    i1 = torch.minimum(i0 + 1, in_len - 1)
    i0 = torch.minimum(i0, in_len - 1)
    idx = torch.stack((i0, i1), dim=-1)
    return _tap_matrix(idx, torch.stack((1.0 - frac, frac), dim=-1), in_canvas)


def _cubic_weights(t: Tensor) -> Tensor:
    a = _CUBIC_A

    def near(s: Tensor) -> Tensor:  # |s| <= 1
        return ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0

    def far(s: Tensor) -> Tensor:  # 1 < |s| < 2
        return ((a * s - 5.0 * a) * s + 8.0 * a) * s - 4.0 * a

    return torch.stack((far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)), dim=-1)


def _torch_bicubic(in_len: Tensor, dst: Tensor, out_len: Tensor, in_canvas: int) -> Tensor:
    ratio = in_len.float() / out_len.float()
    src = (dst.float() + 0.5) * ratio - 0.5  # bicubic does not clamp the source position
    i0 = src.floor()
    t = src - i0
    offsets = torch.arange(-1, 3, device=dst.device)
    idx = (i0.long()[..., None] + offsets).clamp(min=0)
    idx = torch.minimum(idx, (in_len - 1)[..., None])
    return _tap_matrix(idx, _cubic_weights(t), in_canvas)


_INTERPOLATE = {"torch_area": _torch_area, "torch_bilinear": _torch_bilinear, "torch_bicubic": _torch_bicubic}


def interpolate_matrix(filter: str, in_len: Tensor, dst: Tensor, out_len: Tensor, in_canvas: int) -> Tensor:
    """Rows of ``F.interpolate``'s 1-D resampling for a ``torch_*`` filter, for many lengths at once.

    Row ``r`` computes output position ``dst[..., r]`` of a line of ``in_len`` inputs resized to
    ``out_len`` (``align_corners=False``, no antialiasing); columns ``>= in_len`` are zero. Built on
    ``dst``'s device in float32, batched over per-sample lengths (used by
    :func:`srlib.degrade.functional.resize`).

    Args:
        filter: ``"torch_area"``, ``"torch_bilinear"`` or ``"torch_bicubic"``.
        in_len: input length per row group, broadcastable against ``dst``.
        dst: output positions.
        out_len: output length per row group, broadcastable against ``dst``.
        in_canvas: number of columns.

    Shape:
        - in_len, out_len: ``(B, 1)``; dst: ``(B, R)``; output: ``(B, R, in_canvas)`` float32.
    """
    name = resolve_filter(filter, allowed=tuple(_INTERPOLATE), where="interpolate_matrix")
    return _INTERPOLATE[name](in_len, dst, out_len, in_canvas)


def _line_matrix(name: str, in_len: int, out_len: int, factor: float | None, like: Tensor) -> Tensor:
    """``(out_len, in_len)`` matrix of one 1-D pass, in the dtype the pass computes in."""
    if name == "bicubic":
        # imresize's own matrix when the lengths are the factor's, so both give the same numbers.
        f = out_len / in_len if factor is None else factor
        matrix = _cubic_factor_matrix(in_len, out_len, f)
    elif name in FACTOR_FILTERS:
        matrix = _factor_matrix(in_len, out_len, out_len / in_len if factor is None else factor, name)
    else:
        pos = torch.arange(out_len)[None]
        matrix = interpolate_matrix(name, torch.tensor([[in_len]]), pos, torch.tensor([[out_len]]), in_len)[0]
    return matrix.to(device=like.device, dtype=like.dtype)


def resize(
    image: Tensor,
    size: Sequence[int] | None = None,
    *,
    scale: float | Sequence[float] | None = None,
    filter: str = "bicubic",
) -> Tensor:
    """Resize to a size, or by a factor, with a named filter (see :data:`FILTERS`).

    - ``size`` only: the whole image, edge to edge, becomes ``size``.
    - ``scale`` only: per-axis factors ``(f_h, f_w)`` (or one for both); the output has
      ``ceil(H * f_h) x ceil(W * f_w)`` pixels. ``"bicubic"`` with one factor is exactly :func:`imresize`.
    - both (``"bicubic"``, ``"bilinear"``, ``"area"``): the factor fixes the geometry (output pixel ``j``
      sits at input position ``(j + 0.5) / f - 0.5``) and ``size`` how much of that grid is kept, from the
      top-left, so a cropped image and one resampled by the same factor stay aligned to the pixel.

    ``uint8`` images come back as ``uint8``; ``"bicubic"`` rounds after each 1-D pass, as MATLAB does.

    Args:
        image: ``(..., H, W)`` float (any range) or uint8 tensor.
        size: output ``(height, width)``.
        scale: factor(s); ``0.5`` halves.
        filter: a name of :data:`FILTERS` (or an alias such as ``"matlab"``).

    Returns:
        The resized tensor, same dtype and device.

    Raises:
        ValueError: an unknown filter (the valid ones are listed), neither or a bad ``size``/``scale``,
            or both with a ``torch_*`` filter (those always resize edge to edge).

    Shape:
        - image: ``(..., H, W)``; output: ``(..., *size)`` or ``(..., ceil(H * f_h), ceil(W * f_w))``.

    Example:
        >>> x = torch.rand(1, 3, 12, 18)
        >>> resize(x, (6, 9), filter="area").shape
        torch.Size([1, 3, 6, 9])
        >>> torch.equal(resize(x, scale=0.5), imresize(x, 0.5))
        True
        >>> resize(x, scale=(1 / 3, 0.5), filter="bilinear").shape
        torch.Size([1, 3, 4, 9])
    """
    name = resolve_filter(filter, where="resize")
    if image.ndim < 2:
        raise ValueError(f"resize needs a tensor of shape (..., H, W); got shape {tuple(image.shape)}.")
    in_h, in_w = image.shape[-2:]
    if scale is None:
        if size is None:
            raise ValueError("resize needs size=(height, width), scale=, or both.")
        factors = None
    else:
        pair = (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
        if len(pair) != 2:
            raise ValueError(f"resize scale must be one factor or (f_h, f_w), got {scale!r}.")
        fh, fw = float(pair[0]), float(pair[1])
        if not (fh > 0 and fw > 0):
            raise ValueError(f"resize scale must be positive, got {scale!r}.")
        factors = (fh, fw)
        if size is not None and name not in FACTOR_FILTERS:
            raise ValueError(
                f"Filter {name!r} resizes edge to edge (F.interpolate(size=...)): pass size= or scale=, "
                f"not both (the filters that keep a factor's geometry: {', '.join(FACTOR_FILTERS)})."
            )
        if size is None:
            size = (math.ceil(in_h * fh - 1e-9), math.ceil(in_w * fw - 1e-9))
            if name == "bicubic" and fh == fw:
                return imresize(image, fh)
    out_h, out_w = int(size[0]), int(size[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resize of a {in_h}x{in_w} image gives an empty {out_h}x{out_w} image.")
    if factors is None:
        if (out_h, out_w) == (in_h, in_w):
            return image
        if name == "bicubic":
            return imresize(image, size=(out_h, out_w))
        factors = (out_h / in_h, out_w / in_w)
    return _resize_by_factor(image, factors, (out_h, out_w), name)


def _resize_by_factor(
    x: Tensor, factors: tuple[float, float], out_size: tuple[int, int], name: str
) -> Tensor:
    """Resample ``x`` with per-axis ``factors``, keeping the top-left ``out_size`` of the grid."""
    is_uint8 = x.dtype == torch.uint8
    y = x.float() if is_uint8 or x.dtype in (torch.float16, torch.bfloat16) else x
    in_h, in_w = y.shape[-2:]
    out_h, out_w = out_size
    edge_to_edge = name not in FACTOR_FILTERS
    # MATLAB's order: the axis with the smaller factor first (rows on a tie).
    axes = (-2, -1) if factors[0] <= factors[1] else (-1, -2)
    for axis in axes:
        f = factors[0] if axis == -2 else factors[1]
        in_len, out_len = (in_h, out_h) if axis == -2 else (in_w, out_w)
        if f == 1.0 and out_len == in_len:
            continue
        m = _line_matrix(name, in_len, out_len, None if edge_to_edge else f, y)
        y = torch.matmul(m, y) if axis == -2 else torch.matmul(y, m.T)
        if is_uint8 and name == "bicubic":  # MATLAB rounds to uint8 after each pass
            y = y.round().clamp(0, 255)
    if is_uint8:
        return y.round().clamp(0, 255).to(torch.uint8)
    return y.to(x.dtype)
