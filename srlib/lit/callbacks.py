"""Callbacks: EMA of the generator, srlib weight export, resumable ``last.ckpt`` and atomic checkpoints."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer, WeightAveraging
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from srlib._fs import atomic_write
from srlib.models import save_model

__all__ = [
    "AtomicCheckpointIO",
    "ExportWeights",
    "GeneratorEMA",
    "LastCheckpoint",
    "RunTimer",
    "first_nonfinite",
    "unsafe_weights",
]

log = logging.getLogger(__name__)


class GeneratorEMA(WeightAveraging):
    """An exponential moving average of ``pl_module.net`` through Lightning's ``WeightAveraging``.

    Lightning's EMA callback averages the whole LightningModule; for a GAN that would also average the
    discriminator and the frozen VGG of the perceptual loss. This keeps Lightning's machinery (update
    after every optimizer step, the averaged weights swapped in for validation and copied in at the end
    of training) on the generator only. The averaged network is :attr:`averaged_net` (what
    :class:`ExportWeights` writes); it is saved in, and restored from, Lightning checkpoints.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as timm's EMA does), so
    a short run is not dominated by its random initial weights; past ~10,000 updates it is ``decay``.

    Args:
        decay: EMA decay per update (0.999 in HAT's and Real-ESRGAN's recipes).
        warmup: use the warm-up above (``False``: the fixed decay from the first update, as BasicSR).
    """

    def __init__(self, decay: float = 0.999, *, warmup: bool = True) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}.")
        super().__init__(avg_fn=partial(_ema_update, decay=float(decay), warmup=warmup))
        self.decay, self.warmup = float(decay), warmup

    @property
    def averaged_net(self) -> nn.Module | None:
        """The averaged generator (``None`` before fit starts)."""
        return None if self._average_model is None else self._average_model.module

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            device = self._device or pl_module.device
            self._average_model = AveragedModel(
                model=pl_module.net, device=device, use_buffers=self._use_buffers, **self._kwargs
            )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step_idx = trainer.global_step - 1
        if trainer.global_step > self._latest_update_step and self.should_update(step_idx=step_idx):
            self._average_model.update_parameters(pl_module.net)
            self._latest_update_step = trainer.global_step

    def _pairs(self, pl_module: L.LightningModule):
        avg = self._average_model.module
        return zip(
            itertools.chain(avg.parameters(), avg.buffers()),
            itertools.chain(pl_module.net.parameters(), pl_module.net.buffers()),
            strict=True,
        )

    def _swap_models(self, pl_module: L.LightningModule) -> None:
        for average, current in self._pairs(pl_module):
            tmp = average.data.clone()
            average.data.copy_(current.data)
            current.data.copy_(tmp)

    def _copy_average_to_current(self, pl_module: L.LightningModule) -> None:
        for average, current in self._pairs(pl_module):
            current.data.copy_(average.data)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self._average_model is not None:
            checkpoint["srlib_ema_state"] = self._average_model.state_dict()

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get("srlib_ema_state")
        if self._average_model is not None and state is not None:
            self._average_model.load_state_dict(state)
        elif self._average_model is not None:
            log.warning("The checkpoint has no EMA state; the EMA restarts from the current weights.")


def _ema_update(
    averaged: Tensor, current: Tensor, num_averaged: Tensor, *, decay: float, warmup: bool
) -> Tensor:
    n = float(num_averaged)
    d = min(decay, (1.0 + n) / (10.0 + n)) if warmup else decay
    return averaged + (current - averaged) * (1.0 - d)


def first_nonfinite(net: nn.Module) -> str | None:
    """The name of the first parameter or floating buffer of ``net`` holding NaN or inf, else ``None``."""
    for name, tensor in itertools.chain(net.named_parameters(), net.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def unsafe_weights(pl_module: L.LightningModule, net: nn.Module | None = None) -> str | None:
    """Why the weights of ``net`` (default: the module) must not be written, or ``None`` when they may."""
    reason = getattr(pl_module, "untrusted_weights", None)
    if reason:
        return str(reason)
    bad = first_nonfinite(net if net is not None else pl_module)
    return f"{bad} is NaN/inf" if bad is not None else None


def _export_source(trainer: L.Trainer, pl_module: L.LightningModule) -> nn.Module:
    """The network to export: the EMA generator when a :class:`GeneratorEMA` runs, else ``pl_module.net``."""
    for callback in trainer.callbacks:
        if isinstance(callback, GeneratorEMA) and callback.averaged_net is not None:
            return callback.averaged_net
    return pl_module.net


def _inference_metadata(trainer: L.Trainer) -> dict[str, str]:
    """What inference needs to repeat the training's geometry: the video DataModule's frame policy."""
    policy = getattr(getattr(trainer, "datamodule", None), "policy", None)
    if (
        policy is None
        or getattr(policy, "size_policy", "none") == "none"
        or not dataclasses.is_dataclass(policy)
    ):
        return {}
    return {"frame_policy": json.dumps(dataclasses.asdict(policy))}


class ExportWeights(L.Callback):
    """Write ``best.safetensors`` (highest ``monitor``) and ``last.safetensors`` of the network.

    The files are srlib checkpoints (:func:`srlib.save_model`): ``srlib.load_model(path)`` rebuilds the
    network from them alone. A model trained on video frame pairs also stores the DataModule's
    ``FramePairPolicy`` (``frame_policy``), which ``python -m srlib.upscale`` applies. Writes are atomic,
    on global rank 0 only. With :class:`GeneratorEMA` the averaged generator is written (it is also what
    validation scored). The best score is part of the Lightning checkpoint, so a resumed run keeps
    comparing against it.
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
    def validated(self) -> bool:
        """Whether ``best`` was chosen by a validation score (in this run or the one it resumes)."""
        return self.best_score is not None

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.safetensors"

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score}

    def _save(self, trainer: L.Trainer, pl_module: L.LightningModule, path: Path) -> None:
        """Write the network to ``path`` (subclasses export other networks, e.g. detectors)."""
        save_model(_export_source(trainer, pl_module), path, metadata=_inference_metadata(trainer))

    def _save_finite(self, trainer: L.Trainer, pl_module: L.LightningModule, path: Path) -> bool:
        """:meth:`_save`, unless the network holds NaN/inf: such weights are never written (logged)."""
        bad = unsafe_weights(pl_module, _export_source(trainer, pl_module))
        if bad is not None:
            log.warning("%s not written: %s", path.name, bad)
            return False
        self._save(trainer, pl_module, path)
        return True

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict.get("best_score")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        score = float(value.item() if isinstance(value, torch.Tensor) else value)
        if score != score:  # NaN: never "best"
            return
        better = self.best_score is None or (
            score > self.best_score if self.mode == "max" else score < self.best_score
        )
        if better and self._save_finite(trainer, pl_module, self.best_path):
            self.best_score = score
            log.info("%s improved to %.4f: wrote %s", self.monitor, score, self.best_path)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._save_finite(trainer, pl_module, self.last_path)
        # Never validated (no validation data, or the run ended first): best = last, said so.
        never_validated = self.best_score is None and not self.best_path.exists()
        if never_validated and self._save_finite(trainer, pl_module, self.best_path):
            log.warning("%s holds the last weights: no validation scored them", self.best_path.name)


class LastCheckpoint(L.Callback):
    """Keep ``DIR/last.ckpt`` current: every ``every_n_train_steps``, after each validation, and on Ctrl-C.

    ``trainer.save_checkpoint`` writes on global rank 0 only (the call itself must run on every rank);
    with :class:`AtomicCheckpointIO` the file is replaced atomically, so a killed run always leaves a
    complete ``last.ckpt`` to resume from (``resume=true``). A step whose loss was not finite is never
    checkpointed (see ``SRModule``).
    """

    def __init__(self, dirpath: str | os.PathLike, every_n_train_steps: int = 200) -> None:
        if every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps must be >= 1, got {every_n_train_steps}.")
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = int(every_n_train_steps)
        self._saved_at = -1

    @property
    def path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.global_step == self._saved_at or trainer.sanity_checking:
            return
        bad = unsafe_weights(trainer.lightning_module)
        if bad is not None:  # keep the last finite checkpoint to resume from
            log.warning("%s not updated at step %d: %s", self.path, trainer.global_step, bad)
            return
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_at = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step and trainer.global_step % self.every_n_train_steps == 0:
            self._save(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt) and trainer.state.fn == "fit":
            self._save(trainer)
            log.warning(
                "Interrupted at step %d: checkpoint saved to %s; continue with resume=true output_dir=%s",
                trainer.global_step,
                self.path,
                self.dirpath.parent,
            )


class RunTimer(Timer):
    """Lightning's ``Timer`` (``trainer.max_time``) that gives a resumed run the whole time cap again.

    Lightning's Timer restores the time already spent from the checkpoint, so a run stopped by
    ``max_time`` and resumed stops again at once. Here each run (first or resumed) gets ``duration``.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        spent = (state_dict.get("time_elapsed") or {}).get("train", 0.0)
        log.info("Resumed after %.0f s of training: the time cap (trainer.max_time) starts afresh", spent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes to a temporary sibling and renames it into place."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"AtomicCheckpointIO takes no storage_options, got {storage_options!r}.")
        atomic_write(path, lambda f: torch.save(checkpoint, f))
