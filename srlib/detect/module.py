"""``DetectorModule``: the Lightning training of a pixelation detector (BCE, AdamW, cosine) and its metrics.

Batches are ``{"image": (B, 3, H, W) float, "label": (B,) float}`` (made on the device by
:class:`~srlib.detect.data.PixelationDataModule`). Validation and test log precision, recall, F1,
accuracy, false-positive rate and ROC-AUC (torchmetrics, DDP-reducible) at the probability threshold
``threshold`` under ``val/...`` and ``test/...``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    BinarySpecificity,
)

from srlib.lit.sr_module import optimizer_config

__all__ = ["DetectorModule", "detection_metrics"]

METRIC_NAMES = ("precision", "recall", "f1", "accuracy", "fpr", "auroc")


def detection_metrics(threshold: float = 0.5) -> MetricCollection:
    """The detection metrics at ``threshold`` (``fpr`` is reported as 1 - ``specificity``)."""
    return MetricCollection(
        {
            "precision": BinaryPrecision(threshold=threshold),
            "recall": BinaryRecall(threshold=threshold),
            "f1": BinaryF1Score(threshold=threshold),
            "accuracy": BinaryAccuracy(threshold=threshold),
            "specificity": BinarySpecificity(threshold=threshold),
            "auroc": BinaryAUROC(),
        }
    )


def finish_metrics(values: dict[str, Tensor]) -> dict[str, float]:
    """``{precision, recall, f1, accuracy, fpr, auroc}`` from a computed :func:`detection_metrics`."""
    out = {k: float(v) for k, v in values.items() if k != "specificity"}
    out["fpr"] = 1.0 - float(values["specificity"])
    return {k: out[k] for k in METRIC_NAMES}


class DetectorModule(L.LightningModule):
    """Train a detector with binary cross-entropy on its logits.

    Args:
        net: a detector (``(B, 3, H, W)`` -> ``(B,)`` logits).
        optimizer: ``params -> Optimizer`` (default AdamW, lr 2e-3, weight decay 0.02).
        scheduler: ``optimizer -> LR scheduler`` or ``None``.
        scheduler_interval: ``"step"`` or ``"epoch"``.
        threshold: the probability threshold of the logged metrics.
        channels_last: run the network in channels-last memory format.

    Example:
        >>> from srlib.detect.models import create_detector
        >>> module = DetectorModule(create_detector("mobilenetv3_canny"))
        >>> float(module.loss(torch.zeros(2), torch.tensor([0.0, 1.0]))) > 0
        True
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        threshold: float = 0.5,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch'; got {scheduler_interval!r}.")
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory, self.scheduler_interval = scheduler, scheduler_interval
        self.threshold, self.channels_last = float(threshold), bool(channels_last)
        self.val_metrics = detection_metrics(self.threshold)
        self.test_metrics = detection_metrics(self.threshold)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @staticmethod
    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        """Binary cross-entropy on logits."""
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())

    def _logits(self, batch: dict) -> Tensor:
        x = batch["image"]
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        loss = self.loss(self._logits(batch), batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["label"].shape[0])
        return loss

    def _eval_step(self, batch: dict, metrics: MetricCollection, prefix: str) -> None:
        logits = self._logits(batch)
        labels = batch["label"]
        self.log(f"{prefix}/loss", self.loss(logits, labels), batch_size=labels.shape[0], sync_dist=True)
        metrics.update(torch.sigmoid(logits.float()), labels.long())

    def _eval_end(self, metrics: MetricCollection, prefix: str) -> None:
        values = finish_metrics(metrics.compute())
        self.log_dict({f"{prefix}/{k}": v for k, v in values.items()}, prog_bar=prefix == "val")
        metrics.reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end(self.val_metrics, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end(self.test_metrics, "test")

    def configure_optimizers(self) -> Any:
        params = [p for p in self.net.parameters() if p.requires_grad]
        if self.optimizer_factory is None:
            optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.02)
        else:
            optimizer = self.optimizer_factory(params)
        return optimizer_config(optimizer, self.scheduler_factory, self.scheduler_interval)
