"""``SRModule``: the LightningModule for pixel/perceptual-loss super-resolution training.

The network, the loss and the optimizer are injected; the module only wires them into Lightning's
loop and logs ``train/loss`` (and each term of a :class:`srlib.losses.WeightedLoss`), ``val/psnr`` and
``val/ssim`` (SR protocol, see :mod:`srlib.metrics`; for clips also ``val/tdiff_psnr``, the flicker
measure), and ``test/psnr`` / ``test/ssim`` under
``Trainer.test`` (scored by :func:`srlib.metrics.protocol_scores`, as ``python -m srlib.evaluate`` is).
A step whose loss is NaN or infinite is skipped and stops the run with :attr:`SRModule.stop_reason`
set; so does an optimizer step that leaves NaN/inf in the weights (the export callbacks never write
such weights).

**Clips.** A batch may hold clips, ``lr (B, T, 3, h, w)`` and ``hr (B, T, 3, H, W)``: a temporal network
(:func:`srlib.models.is_temporal`) gets the clip and returns every frame; an image network is run on
the ``B*T`` frames. Losses (and a GAN's discriminator) see the ``B*T`` frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torchmetrics import MeanMetric

from srlib.metrics import PSNR, SSIM, TDiffPSNR, protocol_scores
from srlib.models import is_temporal

__all__ = ["SRModule", "frames_of", "optimizer_config"]

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]


def frames_of(x: Tensor) -> Tensor:
    """A clip batch ``(B, T, C, H, W)`` as its ``B*T`` frames; an image batch as it is."""
    return x.flatten(0, 1) if x.ndim == 5 else x


def optimizer_config(optimizer: Any, scheduler_factory: Callable | None, interval: str) -> Any:
    """What ``configure_optimizers`` returns: the optimizer, with its scheduler stepped per ``interval``."""
    if scheduler_factory is None:
        return optimizer
    scheduler = scheduler_factory(optimizer)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}


class SRModule(L.LightningModule):
    """Train any srlib-contract network with a pixel loss.

    Args:
        net: the network (RGB [0, 1] in, RGB out; has a ``scale`` attribute).
        loss: ``loss(sr, hr)``; default L1.
        optimizer: factory taking the parameters (e.g. ``functools.partial(torch.optim.Adam, lr=1e-4)``
            or a Hydra ``_partial_`` config); default Adam(lr=1e-4).
        scheduler: optional factory taking the optimizer.
        scheduler_interval: ``"epoch"`` or ``"step"``.
        channels_last: keep the network in channels_last memory format (faster convs on CPU/GPU).
        crop_border: border ignored by the validation and test metrics (default: the scale).

    Example:
        >>> import srlib
        >>> module = SRModule(srlib.create_model("vdsr", scale=2, depth=2))
        >>> module(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        loss: nn.Module | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        channels_last: bool = False,
        crop_border: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss", "optimizer", "scheduler"])
        self.net = net
        self.loss = loss if loss is not None else nn.L1Loss()
        self.optimizer_factory = optimizer or partial(torch.optim.Adam, lr=1e-4)
        self.scheduler_factory = scheduler
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}.")
        self.scheduler_interval = scheduler_interval
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        border = int(getattr(net, "scale", 0)) if crop_border is None else int(crop_border)
        self.crop_border = border
        self.val_psnr = PSNR(crop_border=border)
        self.val_ssim = SSIM(crop_border=border)
        self.val_tdiff = TDiffPSNR(crop_border=border)
        self.temporal = is_temporal(net)
        self.test_psnr, self.test_ssim = MeanMetric(), MeanMetric()
        self.stop_reason: str | None = None
        #: Why the current weights must not be exported (they diverged), or ``None``.
        self.untrusted_weights: str | None = None

    def forward(self, lr: Tensor) -> Tensor:
        return self.run_net(lr)

    def run_net(self, lr: Tensor) -> Tensor:
        """The network on images ``(B, 3, h, w)`` or clips ``(B, T, 3, h, w)``; the output has the same rank.

        An image network sees a clip's ``B*T`` frames; a video network sees an image batch (a benchmark
        validation set) as ``B`` one-frame clips.
        """
        if lr.ndim == 5 and not self.temporal:
            return self.net(lr.flatten(0, 1)).unflatten(0, lr.shape[:2])
        if lr.ndim == 4 and self.temporal:
            return self.net(lr.unsqueeze(1)).squeeze(1)
        return self.net(lr)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        sr = self.run_net(batch["lr"])
        loss = self.loss(frames_of(sr).float(), frames_of(batch["hr"]))
        if not self.loss_is_finite(loss, "loss"):
            if not bool(torch.isfinite(sr.detach()).all()):  # the weights themselves have diverged
                self.untrusted_weights = f"the network's output was NaN/inf at step {self.global_step + 1}"
            return None  # Lightning skips backward and the optimizer step
        self.log_losses("train/loss", loss, self.loss, batch["lr"].shape[0])
        return loss

    def loss_is_finite(self, loss: Tensor, what: str) -> bool:
        """All ranks agree whether ``loss`` is finite; if not, ask the trainer to stop and say why."""
        finite = bool(torch.isfinite(loss.detach()).all())
        if self._trainer is not None:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            self._stop(f"the {what} became {float(loss.detach())} at step {self.global_step + 1}")
        return finite

    def _stop(self, what: str) -> None:
        self.stop_reason = (
            f"{what}; no NaN/inf weights were written (best.safetensors and checkpoints/last.ckpt keep "
            "the last finite weights saved, if any). Lower the learning rate, set trainer.gradient_clip_val, "
            "or use trainer.precision=32-true."
        )
        if self._trainer is not None:
            self.trainer.should_stop = True

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Stop the run as soon as an optimizer step leaves NaN/inf in the network (e.g. lr=inf)."""
        params = list(self.net.parameters())
        if self.stop_reason is not None or not params:
            return
        if bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):  # one device sync a step
            return
        name = next(n for n, p in self.net.named_parameters() if not bool(torch.isfinite(p).all()))
        self.untrusted_weights = f"the weight {name} became NaN/inf at step {self.global_step}"
        self._stop(self.untrusted_weights)

    def log_losses(self, name: str, total: Tensor, loss: nn.Module, batch_size: int) -> None:
        """Log ``total`` as ``name`` and each term of a weighted loss as ``name/<term>``."""
        self.log(name, total, prog_bar=True, batch_size=batch_size)
        for term, value in (getattr(loss, "last_terms", None) or {}).items():
            self.log(f"{name}/{term}", value, batch_size=batch_size)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        sr, hr = self.run_net(batch["lr"]).float().clamp(0.0, 1.0), batch["hr"]
        self.val_psnr.update(frames_of(sr), frames_of(hr))
        self.val_ssim.update(frames_of(sr), frames_of(hr))
        self.log("val/psnr", self.val_psnr, prog_bar=True, batch_size=1)
        self.log("val/ssim", self.val_ssim, batch_size=1)
        if sr.ndim == 5 and sr.shape[1] > 1:
            self.val_tdiff.update(sr, hr)
            self.log("val/tdiff_psnr", self.val_tdiff, batch_size=1)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        """Score whole test images with the protocol: mean per-image ``test/psnr`` and ``test/ssim``.

        The DataModule makes the LR input (for benchmark sets the MATLAB bicubic of the modcropped 8-bit
        ground truth, as :func:`srlib.metrics.protocol_lr`); the scores come from
        :func:`srlib.metrics.protocol_scores`, as in ``python -m srlib.evaluate``.
        """
        sr = frames_of(self.run_net(batch["lr"])).float().clamp(0.0, 1.0)
        psnr, ssim = protocol_scores(sr, frames_of(batch["hr"]), crop_border=self.crop_border)
        self.test_psnr.update(psnr)
        self.test_ssim.update(ssim)
        self.log("test/psnr", self.test_psnr, batch_size=sr.shape[0])
        self.log("test/ssim", self.test_ssim, batch_size=sr.shape[0])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The loss's frozen backbones (VGG19, LPIPS: ~80 MB) come from their own files: not checkpointed.
        checkpoint["state_dict"] = {
            k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("loss.")
        }

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        frozen = {k: v for k, v in self.state_dict().items() if k.startswith("loss.")}
        return super().load_state_dict({**frozen, **state_dict}, strict=strict, assign=assign)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.net.parameters())
        return optimizer_config(optimizer, self.scheduler_factory, self.scheduler_interval)
