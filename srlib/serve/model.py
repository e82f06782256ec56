"""The served model: loaded once per worker process, prepared as an Upscaler, run only by the batcher.

:class:`ModelService` resolves ``--model`` as the upscale CLI does (a registered name, a weight file
or an ``.onnx`` export), prepares one :class:`~srlib.inference.engine.Upscaler` (device, precision,
tiles), keeps tile variants of it for requests that ask for another ``tile``, and owns the
:class:`~srlib.serve.batcher.MicroBatcher` through which every image and video frame reaches the model.

Model work nobody waits for is stopped: the served Upscaler asks the batcher before every tile, and a
forward pre-hook on every layer of the network asks it before every layer, whether every input of the
running batch has been cancelled (client gone, request timed out, job deleted); if so the call ends
with :class:`~srlib.serve.batcher.CancelledWorkError` within one layer.

A video model (sliding-window or recurrent) serves video jobs only: each job streams its frames
through its own :class:`~srlib.inference.temporal.TemporalStream`, whose model calls reach the model
thread as calls of their own; image requests get a 400 that says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

import torch
from torch import Tensor, nn

from srlib._version import __version__
from srlib.inference.engine import Upscaler
from srlib.inference.loader import ModelDescriptor, describe, load_upscaling_model
from srlib.inference.temporal import TemporalStream
from srlib.serve.batcher import MicroBatcher
from srlib.serve.config import ServeConfig

__all__ = ["ModelService", "load_network"]

log = logging.getLogger(__name__)

_MAX_VARIANTS = 16


def load_network(config: ServeConfig) -> ModelDescriptor:
    """The model ``config.model`` names, as ``--model`` / ``--weights`` / ``--scale`` of the upscale CLI.

    Raises:
        ValueError: an unknown name, unreadable weights, or weights for another scale (named).
    """
    return load_upscaling_model(
        config.model, scale=config.scale, weights=config.weights, use_policy=not config.no_policy
    )


class _ServedUpscaler(Upscaler):
    """An :class:`Upscaler` that asks ``stop_check()`` before every tile (and whole-image call)."""

    stop_check = staticmethod(lambda: None)

    def _forward(self, x: Tensor) -> Tensor:
        self.stop_check()
        return super()._forward(x)


class ModelService:
    """One worker process's model, its Upscaler variants and its micro-batcher.

    Args:
        config: the server settings.
        net: an already loaded network (default: :func:`load_network`).

    Raises:
        ValueError: a bad model, precision or tile setting (from the Upscaler).
    """

    def __init__(self, config: ServeConfig, net: nn.Module | None = None) -> None:
        self.config = config
        loaded = load_network(config) if net is None else describe(net, use_policy=not config.no_policy)
        self.net, self.policy = loaded.net, loaded.frame_policy
        self.upscaler = _ServedUpscaler(
            self.net,
            device=config.device,
            dtype=config.dtype,
            tile=config.tile,
            tile_overlap=config.tile_overlap,
        )
        self._variants: dict[int | None, Upscaler] = {self.upscaler.tile: self.upscaler}
        self._lock = threading.Lock()
        self.batcher = MicroBatcher(
            self._run,
            max_batch=config.max_batch or (8 if self.upscaler.device.type == "cuda" else 1),
            window_s=config.batch_window_ms / 1000.0,
            max_queue=config.max_queue,
        )
        self.upscaler.stop_check = self.batcher.check_cancelled
        check = self.batcher.check_cancelled
        self._hooks = [m.register_forward_pre_hook(lambda module, args: check()) for m in self.net.modules()]

    @property
    def scale(self) -> int:
        return self.upscaler.scale

    def start(self, warm_up: bool = True) -> None:
        """Start the model thread; ``warm_up`` runs one small input first (the first request is not slow)."""
        self.batcher.start()
        if warm_up:
            m = max(self.upscaler.flags.size_multiple, 1)
            side = max(16, m) + (-max(16, m)) % m
            self.batcher(torch.rand(1, 3, side, side), self._warm_up if self.temporal else None, timeout=300)
            self.batcher.calls = self.batcher.frames = self.batcher.last_batch = 0
            self.batcher.sizes.clear()

    def stop(self) -> None:
        self.batcher.stop()
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def variant(self, tile: int | None) -> Upscaler:
        """The Upscaler for ``tile`` (``None``: the server's default; 0: whole images).

        Raises:
            ValueError: a tile the model cannot run (too small, not a multiple, not tileable).
        """
        if tile is None:
            return self.upscaler
        tile = int(tile) if tile > 0 else None
        with self._lock:
            found = self._variants.get(tile)
            if found is not None:
                return found
            # The copy shares the prepared model (a new Upscaler would move it under the model thread).
            overlap = min(self.config.tile_overlap, tile // 2) if tile else 0  # a small tile: less overlap
            made = self.upscaler.with_tiling(tile, overlap)
            if len(self._variants) < _MAX_VARIANTS:
                self._variants[tile] = made
            return made

    @property
    def temporal(self) -> bool:
        """Whether the model is a video model (it needs neighbouring frames or a state, not one image)."""
        return self.upscaler.flags.temporal

    def _warm_up(self, x: Tensor) -> Tensor:
        stream = TemporalStream(self.upscaler, scene_cut=None)
        return torch.stack(stream.push(x) + stream.flush())

    def _run(self, key: Hashable, x: Tensor) -> Tensor:
        """One model call: ``key`` is a prepared Upscaler (``None``: the default one), or a video job's
        own call (a callable: a window batch or a recurrent step), run as given."""
        if key is None or isinstance(key, Upscaler):
            return (self.upscaler if key is None else key)(x)
        with torch.inference_mode():
            return key(x)

    def params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def info(self, workers: int = 1) -> dict:
        """What ``GET /v1/model`` answers."""
        up = self.upscaler
        return {
            "name": self.config.model,
            "architecture": getattr(self.net, "srlib_arch", type(self.net).__name__),
            "scale": up.scale,
            "params": self.params(),
            "dtype": str(up.dtype).removeprefix("torch."),
            "precision": up.precision,
            "device": str(up.device),
            "tile": up.tile,
            "tile_overlap": up.tile_overlap,
            "frame_policy": str(self.policy) if self.policy is not None else None,
            "video_model": self.temporal,
            "frames": up.flags.frames,
            "recurrent": up.flags.recurrent,
            "srlib_version": __version__,
            "max_batch": self.batcher.max_batch,
            "batch_window_ms": self.batcher.window_s * 1000,
            "workers": workers,
        }
