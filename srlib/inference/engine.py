"""A model made ready for inference once: device, precision, memory layout, padding and tiling.

:class:`Upscaler` is what ``upscale``, ``upscale_video``, batch prediction and the benchmark call:
float RGB ``(B, 3, h, w)`` in [0, 1] in, ``(B, 3, h*s, w*s)`` in [0, 1] out (on the CPU).

* **Precision** follows :func:`srlib.precision.resolve_dtype` (``"auto"``: bf16, or fp16 on a GPU
  without bf16, only where the device computes it natively) and the model's
  ``ModelInfo.supports_half``: ``"auto"`` falls back to fp32 for a model that does not support half
  precision, an explicit request is refused. In bf16 a zoo image model runs *pure*: a bf16 copy of its
  weights, bf16 activations, and float32 only in the regions that need it (MATLAB resize, colour
  conversion, the output's last steps), cast explicitly at their edges (``to_network``); the input
  stays float32 so those regions see it whole. Other modules (a user's network, video models) and
  fp16 run under autocast with float32 weights.
* **Padding**: the input is reflect-padded at the bottom/right to the model's ``size_multiple``
  and the output cropped back.
* **Tiling** (``tile`` LR pixels, ``tile_overlap`` shared between neighbours): each tile runs
  alone and the overlaps are blended with linear ramps that ignore the outer quarter of each
  overlap, so memory is bounded by the tile size and a convolutional model gives its untiled result
  (within 1/255) once a quarter of the overlap covers its receptive field.
"""

from __future__ import annotations

import copy
import logging
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.inference.allocator import keep_freed_memory
from srlib.precision import resolve_dtype

__all__ = ["Upscaler", "model_flags", "tile_starts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Flags:
    scale: int
    size_multiple: int
    supports_tiling: bool
    supports_half: bool
    frames: int = 1  # input frames per output frame (2k+1 for a sliding-window video model)
    recurrent: bool = False  # carries a state from frame to frame
    zoo: bool = False  # a registered srlib model (its forward casts at its float32 regions' edges)

    @property
    def temporal(self) -> bool:
        return self.frames > 1 or self.recurrent


def model_flags(model: nn.Module) -> _Flags:
    """Scale and ``ModelInfo`` flags of a zoo model (attributes of other modules, else safe defaults)."""
    from srlib.models import model_info

    try:
        info = model_info(model)
        return _Flags(
            info.scale,
            info.size_multiple,
            info.supports_tiling,
            info.supports_half,
            info.frames,
            info.recurrent,
            zoo=True,
        )
    except ValueError:  # not a registered model: an ONNX runner or a user's module
        return _Flags(
            int(getattr(model, "scale", 1)),
            int(getattr(model, "size_multiple", 1)),
            bool(getattr(model, "supports_tiling", True)),
            bool(getattr(model, "supports_half", True)),
            2 * int(getattr(model, "radius", 0)) + 1 if hasattr(model, "forward_window") else 1,
            hasattr(model, "step") and hasattr(model, "init_state"),
        )


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length``, neighbours sharing ``overlap``.

    Example:
        >>> tile_starts(100, 40, 8)
        [0, 32, 60]
    """
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def _ramp(start: int, end: int, full: int, lo_overlap: int, hi_overlap: int) -> Tensor:
    """1-D blending weight of a tile covering output pixels ``[start, end)`` of ``full``.

    Across an overlap of ``v`` pixels shared with a neighbour, the weight is 0 on the quarter nearest
    the tile's edge (where zero padding makes a tile's own result least like the untiled one), rises
    linearly over the middle half and is 1 beyond; the two neighbours' weights sum to 1.
    """
    pos = torch.arange(start, end, dtype=torch.float32) + 0.5
    w = torch.ones(end - start)
    if start > 0 and lo_overlap > 0:
        w = torch.minimum(w, ((pos - start - lo_overlap / 4) / (lo_overlap / 2)).clamp(0, 1))
    if end < full and hi_overlap > 0:
        w = torch.minimum(w, ((end - pos - hi_overlap / 4) / (hi_overlap / 2)).clamp(0, 1))
    return w


class Upscaler:
    """Run a model for inference with the chosen device, precision, layout, padding and tiling.

    Args:
        model: an srlib-contract network (a zoo model, an ``OnnxRuntimeModel``, ...).
        device: where to run (default: where the model's parameters are, else the CPU).
        dtype: ``"auto"`` (default), ``"bf16"``, ``"fp16"``, ``"fp32"`` or a ``torch.dtype``.
        tile: tile size in input pixels (``None``: whole images).
        tile_overlap: input pixels shared by neighbouring tiles (blended).
        channels_last: run convolutions in NHWC layout (faster with oneDNN and cuDNN).

    Raises:
        ValueError: a tile smaller than the model needs, an overlap too large for the tile, tiling a
            model that does not support it, or half precision for a model that does not support it.

    Example:
        >>> import srlib
        >>> up = Upscaler(srlib.create_model("bicubic", scale=2), tile=16, tile_overlap=4)
        >>> up(torch.rand(1, 3, 40, 30)).shape
        torch.Size([1, 3, 80, 60])
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = "auto",
        tile: int | None = None,
        tile_overlap: int = 16,
        channels_last: bool = True,
    ) -> None:
        self.flags = model_flags(model)
        param = next(iter(model.parameters()), None)
        self.device = (
            torch.device(device)
            if device is not None
            else (param.device if param is not None else torch.device("cpu"))
        )
        if self.device.type == "cpu":
            keep_freed_memory()  # large frames' activations reuse memory instead of faulting in pages
        self.model = model.eval().to(self.device)
        self.dtype = self._choose_dtype(dtype)
        self.pure = self.dtype == torch.bfloat16 and self.flags.zoo and not self.flags.temporal
        if self.pure:  # a copy: the caller's network keeps its float32 weights
            self.model = copy.deepcopy(self.model).to(self.dtype)
        self.channels_last = channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules())
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.tile, self.tile_overlap = self._check_tiling(tile, int(tile_overlap))

    @property
    def scale(self) -> int:
        return self.flags.scale

    @property
    def precision(self) -> str:
        """How the network runs: ``"bf16"`` (pure), ``"bf16-autocast"``, ``"fp16-autocast"`` or ``"fp32"``."""
        name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "fp32")
        return name if self.pure or name == "fp32" else f"{name}-autocast"

    def with_tiling(self, tile: int | None, tile_overlap: int = 16) -> Upscaler:
        """A copy with other tile settings that shares this one's prepared model (nothing is moved).

        Raises:
            ValueError: a tile this model cannot take (as the constructor).
        """
        other = copy.copy(self)
        other.tile, other.tile_overlap = self._check_tiling(tile, int(tile_overlap))
        return other

    def _choose_dtype(self, dtype: str | torch.dtype | None) -> torch.dtype:
        chosen = resolve_dtype(dtype, self.device)
        if chosen != torch.float32 and not self.flags.supports_half:
            name = getattr(self.model, "srlib_arch", type(self.model).__name__)
            if dtype == "auto":
                log.info("%s does not support half precision: running in fp32", name)
                return torch.float32
            raise ValueError(
                f"{name} does not support {chosen} inference (ModelInfo.supports_half is False); "
                "use dtype='fp32' (`--dtype fp32` on the command line)."
            )
        return chosen

    def _check_tiling(self, tile: int | None, overlap: int) -> tuple[int | None, int]:
        if tile is None or tile <= 0:
            return None, 0
        name = getattr(self.model, "srlib_arch", type(self.model).__name__)
        if not self.flags.supports_tiling:
            raise ValueError(
                f"{name} cannot be run in tiles (ModelInfo.supports_tiling is False); drop --tile."
            )
        multiple = self.flags.size_multiple
        least = max(multiple, 8)
        if tile < least:
            raise ValueError(
                f"Tile size {tile} is smaller than {name} needs (at least {least} pixels); "
                f"use --tile {least} or more."
            )
        if tile % multiple:
            raise ValueError(
                f"Tile size {tile} is not a multiple of {multiple}, which {name} needs; "
                f"use --tile {tile - tile % multiple + multiple}."
            )
        if not 0 <= overlap < tile // 2 + 1:
            raise ValueError(f"Tile overlap {overlap} must be between 0 and half the tile ({tile // 2}).")
        return tile, overlap

    def _forward(self, x: Tensor) -> Tensor:
        """One model call on ``x`` (already on the device), padded to the size multiple."""
        h, w = x.shape[-2:]
        m = self.flags.size_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        amp = self.dtype in (torch.bfloat16, torch.float16) and not self.pure
        ctx = torch.autocast(self.device.type, dtype=self.dtype) if amp else nullcontext()
        with ctx:
            y = self.model(x)
        s = self.scale
        return y[..., : h * s, : w * s].float().clamp_(0.0, 1.0)

    @torch.inference_mode()
    def __call__(self, x: Tensor) -> Tensor:
        """Upscale a float batch ``(B, 3, h, w)`` in [0, 1]; returns ``(B, 3, h*s, w*s)`` on the CPU.

        Raises:
            ValueError: the model is a video model (it needs neighbouring frames or a state).
        """
        if self.flags.temporal:
            name = getattr(self.model, "srlib_arch", type(self.model).__name__)
            what = (
                "a recurrent video model"
                if self.flags.recurrent
                else f"a {self.flags.frames}-frame video model"
            )
            raise ValueError(
                f"{name} is {what}: it upscales videos, not single images. Use srlib.upscale_video / "
                "`python -m srlib.upscale IN.mp4 OUT.mp4`, or an image model (e.g. vsr_frame) for images."
            )
        x = x.to(self.device, torch.float32)
        h, w = x.shape[-2:]
        if self.tile is None or (h <= self.tile and w <= self.tile):
            return self._forward(x).cpu()
        return self._tiled(x)

    def _tiled(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        s, tile, overlap = self.scale, self.tile, self.tile_overlap
        assert tile is not None
        out = torch.zeros(b, c, h * s, w * s)
        weight = torch.zeros(1, 1, h * s, w * s)
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        for i, top in enumerate(ys):
            for j, left in enumerate(xs):
                bottom, right = min(top + tile, h), min(left + tile, w)
                sr = self._forward(x[..., top:bottom, left:right]).cpu()
                lo_y = (ys[i - 1] + tile - top) * s if i else 0
                hi_y = (bottom - ys[i + 1]) * s if i + 1 < len(ys) else 0
                lo_x = (xs[j - 1] + tile - left) * s if j else 0
                hi_x = (right - xs[j + 1]) * s if j + 1 < len(xs) else 0
                wy = _ramp(top * s, bottom * s, h * s, lo_y, hi_y)
                wx = _ramp(left * s, right * s, w * s, lo_x, hi_x)
                mask = wy[:, None] * wx[None, :]
                out[..., top * s : bottom * s, left * s : right * s] += sr * mask
                weight[..., top * s : bottom * s, left * s : right * s] += mask
        return out.div_(weight).clamp_(0.0, 1.0)
