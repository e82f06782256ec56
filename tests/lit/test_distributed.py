"""DDP on 2 CPU processes (gloo): metrics reduced across ranks, rank 0 alone writes the run's files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_TRAIN

TINY = [*TINY_TRAIN, "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]


def _last_val_psnr(run: Path) -> float:
    rows = [r for r in csv.DictReader((run / "logs" / "metrics.csv").open()) if r.get("val/psnr")]
    return float(rows[-1]["val/psnr"])


@pytest.mark.slow
@pytest.mark.parametrize("gan", [False, True])
def test_ddp_two_cpu_processes(tmp_path, gan) -> None:
    extra = (
        [
            "recipe=realesrgan_x4",
            "scale=2",
            "data=bundled",
            "~data.skip_small",
            "+model.num_conv=2",
            "+model.num_feat=8",
            "gan.discriminator.num_feat=8",
            "loss.terms.perceptual.backbone_weights=random",
            "requires=[]",  # train the GAN stage from scratch here
        ]
        if gan
        else []
    )
    args = [a for a in TINY if not (gan and a.startswith("model."))]
    out = subprocess.run(
        [sys.executable, "-m", "srlib.train", *args, *extra, f"output_dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "run"
    # Only rank 0 wrote: one run folder (no second dated folder from rank 1), one set of files.
    assert not (tmp_path / "outputs").exists()
    names = sorted(p.name for p in run.iterdir())
    assert names == sorted(
        [
            "best.safetensors",
            "checkpoints",
            "comparison.png",
            "last.safetensors",
            "logs",
            "metrics.json",
            "recipe.yaml",
        ]
    ), names
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.ckpt"]
    metrics = json.loads((run / "metrics.json").read_text())
    # 8 samples per epoch, batch 2, 2 ranks: each rank takes 2 steps (4 for the GAN: G and D steps).
    assert metrics["schedule"]["global_steps"] == (4 if gan else 2)
    # The bundled validation set has 2 photos: with 2 ranks each scores one. val/psnr logged at the end
    # equals the single-process score of the same weights on both photos only if the ranks' metric
    # states were reduced (either photo alone is over 0.1 dB away).
    per_image = [img["psnr"] for img in metrics["model"]["per_image"]]
    assert abs(per_image[0] - per_image[1]) > 0.2
    assert abs(_last_val_psnr(run) - metrics["model"]["psnr"]) < 0.02
