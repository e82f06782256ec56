"""One protocol path: evaluate, SRModule.test_step and the training's final evaluation agree."""

from __future__ import annotations

import lightning as L
import pytest
import torch

import srlib
from srlib.data import ImageFolderDataModule
from srlib.evaluation import evaluate_folder
from srlib.lit import SRModule
from srlib.lit.run import final_evaluation
from srlib.metrics import protocol_lr, protocol_pair, protocol_scores
from tests.conftest import shared_path


def _three_paths(net: torch.nn.Module, folder, scale: int, tmp_path) -> tuple[float, float, float]:
    via_evaluate = evaluate_folder(net, folder, scale).psnr
    datamodule = ImageFolderDataModule(train_dir=folder, val_dir=folder, scale=scale, num_workers=0)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    (logged,) = trainer.test(SRModule(net), datamodule=datamodule, verbose=False)
    final = final_evaluation(net, datamodule, tmp_path)
    return via_evaluate, float(logged["test/psnr"]), final["payload"]["model"]["psnr"]


def test_bicubic_set5_x4_is_the_same_on_every_path(set5, tmp_path) -> None:
    evaluated, tested, final = _three_paths(srlib.create_model("bicubic", scale=4), set5, 4, tmp_path)
    assert abs(evaluated - 28.42) <= 0.02
    assert tested == pytest.approx(evaluated, abs=1e-4)  # test/psnr is a float32 mean
    assert final == pytest.approx(evaluated, abs=1e-6)


def test_a_network_scores_the_same_on_every_path(set5, tmp_path) -> None:
    net = srlib.load_model(shared_path("weights", "fsrcnn_x4.safetensors"))
    evaluated, tested, final = _three_paths(net, set5, 4, tmp_path)
    assert evaluated > 30  # the published FSRCNN x4 weights beat bicubic's 28.42
    # test/psnr is a float32 mean (and runs the network without the Upscaler's channels_last layout).
    assert tested == pytest.approx(evaluated, abs=1e-4) and final == pytest.approx(evaluated, abs=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_datamodule_makes_the_protocol_lr(channels: int) -> None:
    hr = torch.randint(0, 256, (1, channels, 24, 36), dtype=torch.uint8)
    datamodule = ImageFolderDataModule(train_dir=".", scale=3, num_workers=0)
    batch = datamodule.on_after_batch_transfer({"hr": hr, "name": ["x"]}, 0)
    assert torch.equal(batch["lr"], protocol_lr(hr, 3))
    lr, gt = protocol_pair(hr[0], 3)
    assert torch.equal(lr, batch["lr"][0]) and torch.equal(gt, batch["hr"][0])


def test_protocol_scores_match_the_functional_metrics() -> None:
    hr = torch.rand(2, 3, 20, 20)
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    psnr, ssim = protocol_scores(sr, hr, crop_border=2)
    ref_psnr = srlib.metrics.psnr(sr, hr, crop_border=2, reduction="none")
    assert torch.equal(psnr, ref_psnr)
    assert torch.equal(ssim, srlib.metrics.ssim(sr, hr, crop_border=2, reduction="none"))
