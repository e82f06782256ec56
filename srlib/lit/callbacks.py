"""Callbacks: export the network's weights as srlib safetensors while training."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch

from srlib.models import save_model

__all__ = ["ExportWeights"]

log = logging.getLogger(__name__)


class ExportWeights(L.Callback):
    """Write ``best.safetensors`` (highest ``monitor``) and ``last.safetensors`` of ``pl_module.net``.

    The files are srlib checkpoints (:func:`srlib.save_model`): ``srlib.load_model(path)`` rebuilds
    the network from them alone. Writes are atomic.
    """

    def __init__(self, dirpath: str | os.PathLike, monitor: str = "val/psnr", mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
        self.dirpath, self.monitor, self.mode = Path(dirpath), monitor, mode
        self.best_score: float | None = None

    @property
    def best_path(self) -> Path:
        return self.dirpath / "best.safetensors"

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.safetensors"

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        score = float(value.item() if isinstance(value, torch.Tensor) else value)
        better = self.best_score is None or (
            score > self.best_score if self.mode == "max" else score < self.best_score
        )
        if better:
            self.best_score = score
            save_model(pl_module.net, self.best_path)
            log.info("%s improved to %.4f: wrote %s", self.monitor, score, self.best_path)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        save_model(pl_module.net, self.last_path)
        if self.best_score is None:
            save_model(pl_module.net, self.best_path)
