"""A few steps of DetectorModule training log the detection metrics; the recipe runs through srlib.train."""

from __future__ import annotations

import json

import lightning as L
import torch

from srlib.detect import DetectorModule, PixelationDataModule, create_detector
from srlib.detect.train import choose_threshold, scores_at

METRICS = ("precision", "recall", "f1", "accuracy", "fpr", "auroc")


def test_short_training_logs_the_metrics(tmp_path):
    dm = PixelationDataModule(
        train_photos=["astronaut"],
        val_photos=["chelsea"],
        crop_size=64,
        batch_size=8,
        samples_per_epoch=24,
        val_per_image=8,
    )
    module = DetectorModule(create_detector("mobilenetv3_canny"))
    trainer = L.Trainer(
        max_steps=3,
        accelerator="cpu",
        precision="32-true",
        logger=L.pytorch.loggers.CSVLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=dm)
    logged = trainer.callback_metrics
    assert "train/loss" in logged
    for name in METRICS:
        value = float(logged[f"val/{name}"])
        assert 0.0 <= value <= 1.0, name


def test_threshold_choice_respects_the_fpr_cap():
    probs = torch.tensor([0.95, 0.9, 0.8, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1, 0.05])
    labels = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    t = choose_threshold(probs, labels, max_fpr=0.0)
    assert 0.6 <= t < 0.8 and scores_at(probs, labels, t)["fpr"] == 0.0
    t = choose_threshold(probs, labels, max_fpr=0.2)
    assert scores_at(probs, labels, t)["recall"] == 1.0


def test_recipe_runs_through_srlib_train(tmp_path, capsys):
    from srlib.train import main

    out = tmp_path / "run"
    code = main(
        [
            "recipe=pixelation_detector",
            "data.train_dirs=[]",
            "data.holdout=[]",
            "data.test_dirs=[]",
            "data.train_photos=[astronaut]",
            "data.val_photos=[chelsea]",
            "data.test_photos=[coffee]",
            "data.crop_size=64",
            "data.batch_size=4",
            "data.val_per_image=4",
            "data.test_per_image=4",
            "trainer.max_steps=2",
            "trainer.val_check_interval=2",
            "trainer.precision=32-true",
            f"output_dir={out}",
        ]
    )
    assert code == 0
    assert "Trained pixelation_detector" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["detector"]["test"]) >= set(METRICS)
    assert set(metrics["baseline"]["test"]) >= set(METRICS)
    assert (out / "best.safetensors").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    best = create_detector(str(out / "best.safetensors"))
    assert best.threshold == metrics["detector"]["threshold"]
