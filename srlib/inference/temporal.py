"""Frame-in/frame-out inference for temporal models: a window buffer or a carried state, never the clip.

:class:`TemporalStream` is what ``upscale_video`` and ``evaluate --video-pairs`` run a model with. It
takes consecutive LR frames one (or a batch) at a time and returns the output frames that are ready:

* **sliding-window models** (``ModelInfo.frames = 2k+1``): output ``t`` needs frames ``t-k .. t+k``,
  so outputs lag the input by ``k`` frames; the ends of the video (and of each scene) are padded by
  reflection in time, as the models are trained. Ready windows are stacked into one model call.
* **recurrent models** (``ModelInfo.recurrent``): each frame goes through ``model.step(frame, state)``
  and the state is carried to the next; no lag.
* **per-frame models** pass through (one call per pushed batch).

Memory holds at most ``2k+1`` LR frames (or one state) whatever the video's length.

**Scene cuts.** A frame whose mean absolute luma difference from the previous one (both shrunk 8x, so
small motion averages out) exceeds ``scene_cut`` starts a new scene: the window is flushed with
reflection at the cut and the recurrent state is reset, so no frame borrows detail across a cut.

**Tiles** (``tile`` LR pixels, ``tile_overlap`` shared): the frame is cut on one fixed grid for the
whole video; a recurrent model keeps one state per tile. Overlaps are blended as
:class:`~srlib.inference.engine.Upscaler` blends them.

Precision, device, channels_last and size-multiple padding follow :class:`Upscaler`.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.inference.engine import Upscaler, _ramp, model_flags, tile_starts

__all__ = ["DEFAULT_SCENE_CUT", "TemporalStream", "scene_change", "temporal_kind"]

#: Mean absolute difference (on [0, 1] luma, 8x shrunk) above which two frames are a scene cut.
DEFAULT_SCENE_CUT = 0.12


def temporal_kind(model: nn.Module) -> tuple[str, int]:
    """``("window", k)``, ``("recurrent", 0)`` or ``("frame", 0)`` for a model (zoo or not)."""
    flags = model_flags(model)
    if flags.recurrent:
        return "recurrent", 0
    if flags.frames > 1:
        return "window", (flags.frames - 1) // 2
    return "frame", 0


def _luma_thumb(frame: Tensor) -> Tensor:
    y = 0.299 * frame[:, 0] + 0.587 * frame[:, 1] + 0.114 * frame[:, 2]
    return F.avg_pool2d(y[:, None], 8, ceil_mode=True) if min(y.shape[-2:]) >= 8 else y[:, None]


def scene_change(previous: Tensor, current: Tensor) -> float:
    """Mean absolute difference of two frames' 8x-shrunk luma (``(1|B, 3, h, w)`` in [0, 1])."""
    return float((_luma_thumb(current[:1]) - _luma_thumb(previous[-1:])).abs().mean())


def _reflect(index: int, length: int) -> int:
    """Reflect ``index`` into ``[0, length)`` (``-1 -> 1``, ``length -> length - 2``), repeatedly."""
    if length == 1:
        return 0
    period = 2 * (length - 1)
    index %= period
    return index if index < length else period - index


class TemporalStream:
    """Upscale consecutive frames with any zoo model, holding only what the model needs.

    Args:
        model: a temporal (sliding-window or recurrent) or per-frame srlib-contract network, or an
            :class:`Upscaler` (whose device, precision and tiling are then used).
        device, dtype, tile, tile_overlap: as :class:`Upscaler`.
        scene_cut: the scene-cut threshold (see the module docstring); ``None`` never cuts.

    Example:
        >>> import srlib
        >>> stream = TemporalStream(srlib.create_model("bicubic", scale=2))
        >>> [y.shape for y in stream.push(torch.rand(2, 3, 8, 8))]
        [torch.Size([3, 16, 16]), torch.Size([3, 16, 16])]
    """

    def __init__(
        self,
        model: nn.Module | Upscaler,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = "auto",
        tile: int | None = None,
        tile_overlap: int = 16,
        scene_cut: float | None = DEFAULT_SCENE_CUT,
    ) -> None:
        self.upscaler = (
            model
            if isinstance(model, Upscaler)
            else Upscaler(model, device=device, dtype=dtype, tile=tile, tile_overlap=tile_overlap)
        )
        self.kind, self.radius = temporal_kind(self.upscaler.model)
        self.scene_cut = scene_cut
        self.scene_cuts = 0  # cuts found so far
        self._reset_scene()

    # -- public --------------------------------------------------------------------------------
    @property
    def scale(self) -> int:
        return self.upscaler.scale

    @property
    def delay(self) -> int:
        """How many frames the outputs lag the inputs."""
        return self.radius

    def reset(self) -> list[Tensor]:
        """End the current scene: return its remaining outputs and forget the window/state."""
        out = self._drain()
        self._reset_scene()
        return out

    def flush(self) -> list[Tensor]:
        """The outputs still held at the end of the video (reflection-padded in time)."""
        return self.reset()

    @torch.inference_mode()
    def push(self, frames: Tensor) -> list[Tensor]:
        """Feed ``(3, h, w)`` or ``(B, 3, h, w)`` consecutive frames; returns the ready ``(3, sh, sw)``."""
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"TemporalStream.push expects (B, 3, h, w) frames, got {tuple(frames.shape)}.")
        frames = frames.to(self.upscaler.device, torch.float32)
        if self.kind == "frame":  # no window, no state: scene cuts change nothing
            return list(self.upscaler(frames))
        ready: list[Tensor] = []
        start = 0
        for i in range(frames.shape[0]):
            cut = self.scene_cut is not None and self._last is not None
            if cut and scene_change(self._last, frames[i : i + 1]) > self.scene_cut:
                ready += self._process(frames[start:i])
                ready += self.reset()
                self.scene_cuts += 1
                start = i
            self._last = frames[i : i + 1]
        ready += self._process(frames[start:])
        return ready

    # -- per kind ------------------------------------------------------------------------------
    def _reset_scene(self) -> None:
        self._window: dict[int, Tensor] = {}  # index in the scene -> LR frame (1, 3, h, w)
        self._seen = 0  # frames of this scene pushed
        self._done = 0  # outputs of this scene returned
        self._states: dict[tuple[int, int], Any] = {}
        self._last: Tensor | None = None

    def _process(self, frames: Tensor) -> list[Tensor]:
        if frames.shape[0] == 0:
            return []
        if self.kind == "recurrent":
            return [self._run(self._step, frames[i : i + 1])[0] for i in range(frames.shape[0])]
        for frame in frames:
            self._window[self._seen] = frame[None]
            self._seen += 1
        return self._windows(upto=self._seen - self.radius)

    def _drain(self) -> list[Tensor]:
        return self._windows(upto=self._seen) if self.kind == "window" else []

    def _windows(self, upto: int) -> list[Tensor]:
        """Outputs for centres ``done .. upto-1`` of the current scene, in one batched call."""
        centres = list(range(self._done, max(self._done, upto)))
        if not centres:
            return []
        n, k = self._seen, self.radius  # before the scene ends, centres + k < n: only its start reflects
        batch = torch.cat(
            [
                torch.stack([self._window[_reflect(c + d, n)][0] for d in range(-k, k + 1)])[None]
                for c in centres
            ]
        )
        out = self._run(self._window_call, batch)
        self._done = centres[-1] + 1
        for index in [i for i in self._window if i < self._done - k]:
            del self._window[index]
        return list(out)

    def _window_call(self, window: Tensor, key: tuple[int, int]) -> Tensor:
        return self.upscaler.model.forward_window(window)

    def _step(self, frame: Tensor, key: tuple[int, int]) -> Tensor:
        model = self.upscaler.model
        state = self._states.get(key)
        if state is None:
            state = model.init_state(frame)
        out, self._states[key] = model.step(frame, state)
        return out

    # -- running: padding, precision, tiles ------------------------------------------------------
    def _run(self, fn: Any, x: Tensor) -> Tensor:
        """``fn(x_tile, tile_key)`` over the fixed tile grid, blended; ``x`` is 4-D or 5-D (windows)."""
        up = self.upscaler
        h, w = x.shape[-2:]
        if up.tile is None or (h <= up.tile and w <= up.tile):
            return self._call(fn, x, (0, 0)).cpu()
        s, tile, overlap = up.scale, up.tile, up.tile_overlap
        out: Tensor | None = None
        weight = torch.zeros(1, 1, h * s, w * s)
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        for i, top in enumerate(ys):
            for j, left in enumerate(xs):
                bottom, right = min(top + tile, h), min(left + tile, w)
                sr = self._call(fn, x[..., top:bottom, left:right], (i, j)).cpu()
                if out is None:
                    out = torch.zeros(*sr.shape[:-2], h * s, w * s)
                lo_y = (ys[i - 1] + tile - top) * s if i else 0
                hi_y = (bottom - ys[i + 1]) * s if i + 1 < len(ys) else 0
                lo_x = (xs[j - 1] + tile - left) * s if j else 0
                hi_x = (right - xs[j + 1]) * s if j + 1 < len(xs) else 0
                mask = (
                    _ramp(top * s, bottom * s, h * s, lo_y, hi_y)[:, None]
                    * _ramp(left * s, right * s, w * s, lo_x, hi_x)[None, :]
                )
                out[..., top * s : bottom * s, left * s : right * s] += sr * mask
                weight[..., top * s : bottom * s, left * s : right * s] += mask
        assert out is not None
        return out.div_(weight).clamp_(0.0, 1.0)

    def _call(self, fn: Any, x: Tensor, key: tuple[int, int]) -> Tensor:
        """One model call: pad to the size multiple, channels_last, autocast, crop, clamp."""
        up = self.upscaler
        h, w = x.shape[-2:]
        m = up.flags.size_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x.flatten(0, -4), (0, pw, 0, ph), mode=mode).view(*x.shape[:-2], h + ph, w + pw)
        if up.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        amp = up.dtype in (torch.bfloat16, torch.float16)
        with torch.autocast(up.device.type, dtype=up.dtype) if amp else nullcontext():
            y = fn(x, key)
        s = up.scale
        return y[..., : h * s, : w * s].float().clamp_(0.0, 1.0)
