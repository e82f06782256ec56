"""Train a pixelation detector from a recipe (``python -m srlib.train recipe=pixelation_detector``).

A recipe with ``task: detector`` is run here instead of the SR trainer (``srlib.lit.run.train``
dispatches). The run writes, under ``output_dir``: ``recipe.yaml``, ``checkpoints/last.ckpt``
(resumable), ``best.safetensors`` (best validation F1) and ``last.safetensors``, and ``metrics.json``:
the threshold chosen on the validation split (the highest F1 whose validation false-positive rate is at
most ``detector.max_val_fpr``), then the test-split scores of the detector at that threshold beside
those of the classical baseline (:class:`~srlib.detect.baseline.BlockPeriodDetector`, its threshold
chosen the same way on the same validation split). The chosen threshold is written into
``best.safetensors``.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from srlib.lit.run import register_task

__all__ = ["choose_threshold", "score_batches", "scores_at", "train_detector"]

log = logging.getLogger("srlib.train")


@torch.inference_mode()
def score_batches(net: nn.Module, batches: Iterable[dict[str, Tensor]]) -> tuple[Tensor, Tensor]:
    """Probabilities and labels of ``net`` over ``{"image", "label"}`` batches."""
    net.eval()
    probs, labels = [], []
    for batch in batches:
        probs.append(torch.sigmoid(net(batch["image"]).float()).cpu())
        labels.append(batch["label"].cpu())
    return torch.cat(probs), torch.cat(labels)


def scores_at(probs: Tensor, labels: Tensor, threshold: float) -> dict[str, float]:
    """Precision, recall, F1, accuracy, FPR and ROC-AUC of ``probs`` at ``threshold``.

    Example:
        >>> s = scores_at(torch.tensor([0.9, 0.2, 0.7, 0.1]), torch.tensor([1.0, 0.0, 1.0, 0.0]), 0.5)
        >>> s["f1"], s["fpr"]
        (1.0, 0.0)
    """
    from srlib.detect.module import detection_metrics, finish_metrics

    metrics = detection_metrics(float(threshold))
    metrics.update(probs.float(), labels.long())
    out = finish_metrics(metrics.compute())
    out["count"], out["positives"] = int(labels.numel()), int(labels.sum())
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def choose_threshold(probs: Tensor, labels: Tensor, *, max_fpr: float = 0.02) -> float:
    """The threshold with the best F1 among those whose false-positive rate is at most ``max_fpr``.

    Candidates are the midpoints between consecutive distinct probabilities.

    Example:
        >>> choose_threshold(torch.tensor([0.9, 0.8, 0.3, 0.1]), torch.tensor([1.0, 1.0, 0.0, 0.0]))
        0.55
    """
    values = torch.unique(probs.double())
    candidates = torch.cat([values[:1] / 2, (values[1:] + values[:-1]) / 2, (values[-1:] + 1) / 2])
    positive, negative = labels > 0.5, labels <= 0.5
    best, best_t = -1.0, 0.5
    for t in candidates.tolist():
        flagged = probs.double() > t
        tp = int((flagged & positive).sum())
        fp = int((flagged & negative).sum())
        fn = int((~flagged & positive).sum())
        fpr = fp / max(1, int(negative.sum()))
        f1 = 2 * tp / max(1, 2 * tp + fp + fn)
        if fpr <= max_fpr and f1 > best:
            best, best_t = f1, t
    return round(float(best_t), 6)


def _batches(datamodule: Any, split: str) -> list[dict[str, Tensor]]:
    loader = datamodule.val_dataloader() if split == "val" else datamodule.test_dataloader()
    out = []
    for batch in loader:
        seed = datamodule.seed * 1_000_003 + int(batch["index"][0])
        out.append(datamodule.make_batch(batch["image"], seed=seed))
    return out


def evaluate_split_pair(net: nn.Module, datamodule: Any, *, max_fpr: float) -> dict[str, Any]:
    """Threshold on the validation split, then scores on the test split (and on validation)."""
    val = _batches(datamodule, "val")
    vp, vl = score_batches(net, val)
    threshold = choose_threshold(vp, vl, max_fpr=max_fpr)
    out: dict[str, Any] = {"threshold": threshold, "val": scores_at(vp, vl, threshold)}
    if datamodule.test_set is not None:
        tp, tl = score_batches(net, _batches(datamodule, "test"))
        out["test"] = scores_at(tp, tl, threshold)
    return out


def train_detector(cfg: DictConfig) -> dict[str, Any]:
    """Run a composed ``task: detector`` recipe: fit, export, choose the threshold, score vs the baseline."""
    import lightning as L
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from srlib.detect.models import create_detector, load_detector, save_detector
    from srlib.detect.module import DetectorModule
    from srlib.io import write_json
    from srlib.lit.callbacks import AtomicCheckpointIO, ExportWeights, LastCheckpoint
    from srlib.lit.run import RUN_DIR_ENV, RecipeError, check_recipe, explain_build_error, open_run_dir
    from srlib.precision import auto_precision

    check_recipe(cfg)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    precision = str(cfg.trainer.precision)
    if precision == "auto":
        precision = auto_precision(str(cfg.trainer.get("accelerator", "auto")))
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    arch = str(model_cfg.pop("name"))
    try:
        net = create_detector(arch, **model_cfg)
        datamodule = instantiate(cfg.data)
        module = DetectorModule(
            net,
            optimizer=instantiate(cfg.optimizer),
            scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
            scheduler_interval=str(cfg.module.scheduler_interval),
            channels_last=bool(cfg.channels_last),
        )
        datamodule.setup("fit")
        datamodule.setup("test")
    except RecipeError:
        raise
    except (ValueError, FileNotFoundError, TypeError, InstantiationException) as err:
        raise RecipeError(explain_build_error(err)) from err

    out_dir, resume_from = open_run_dir(cfg)
    exporter = ExportWeights(out_dir, monitor="val/f1", mode="max")  # the detector knows its kind and arch
    every = int(OmegaConf.select(cfg, "callbacks.checkpoint_every_n_steps") or 200)
    last = LastCheckpoint(out_dir / "checkpoints", every_n_train_steps=every)
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_kwargs["precision"] = precision
    logger = instantiate(cfg.logger, save_dir=str(out_dir)) if cfg.get("logger") else False
    trainer = L.Trainer(
        **trainer_kwargs,
        default_root_dir=str(out_dir),
        logger=logger,
        callbacks=[exporter, last],
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False,
    )
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
    started = time.perf_counter()
    os.environ[RUN_DIR_ENV] = str(out_dir)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    finally:
        os.environ.pop(RUN_DIR_ENV, None)
    seconds = round(time.perf_counter() - started, 1)
    try:
        planned = int(trainer.estimated_stepping_batches)
    except Exception:  # no loader length
        planned = None
    result: dict[str, Any] = {
        "output_dir": str(out_dir),
        "best_weights": str(exporter.best_path),
        "last_weights": str(exporter.last_path),
        "checkpoint": str(last.path),
        "train_seconds": seconds,
        "global_steps": int(trainer.global_step),
        "planned_steps": planned,
        "precision": precision,
    }
    if trainer.interrupted:
        result["stopped"], result["stop_detail"] = "interrupted", "Ctrl-C; resume with resume=true"
    if not trainer.is_global_zero or trainer_kwargs.get("fast_dev_run"):
        return result
    payload: dict[str, Any] = {"schedule": {"global_steps": result["global_steps"], "planned_steps": planned}}
    payload["train_seconds"] = seconds
    max_fpr = float(OmegaConf.select(cfg, "detector.max_val_fpr") or 0.02)
    if datamodule.val_set is not None and exporter.best_path.is_file():
        best = load_detector(exporter.best_path)
        payload["detector"] = evaluate_split_pair(best, datamodule, max_fpr=max_fpr)
        best.threshold = payload["detector"]["threshold"]
        save_detector(best, exporter.best_path, arch=arch, extra={"global_step": trainer.global_step})
        payload["baseline"] = evaluate_split_pair(
            create_detector("block_period"), datamodule, max_fpr=max_fpr
        )
        result.update({f"test_{k}": v for k, v in payload["detector"].get("test", {}).items()})
        result["threshold"] = payload["detector"]["threshold"]
    result["metrics"] = str(write_json(out_dir / "metrics.json", payload))
    return result


register_task("detector", train_detector)
