import lightning as L
import torch

import srlib
from srlib.data import BundledPhotosDataModule
from srlib.lit import ExportWeights, SRModule


def test_fit_logs_metrics_and_exports_loadable_weights(tmp_path) -> None:
    net = srlib.create_model("vdsr", scale=2, depth=2, num_feat=8)
    dm = BundledPhotosDataModule(
        scale=2,
        patch_size=24,
        batch_size=4,
        num_workers=0,
        samples_per_epoch=8,
        train_photos=("astronaut",),
        val_photos=("chelsea",),
    )
    module = SRModule(net, optimizer=lambda p: torch.optim.Adam(p, lr=1e-3), channels_last=True)
    exporter = ExportWeights(tmp_path)
    trainer = L.Trainer(
        max_epochs=2,
        precision="bf16-mixed",
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[exporter],
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=dm)
    metrics = trainer.callback_metrics
    assert {"train/loss", "val/psnr", "val/ssim"} <= set(metrics)
    assert 15 < float(metrics["val/psnr"]) < 60
    assert exporter.best_score is not None
    best = srlib.load_model(exporter.best_path)
    last = srlib.load_model(exporter.last_path)
    assert best.scale == 2 and type(last) is type(net)
    for k, v in last.state_dict().items():
        assert torch.equal(v, net.state_dict()[k].cpu())


def test_scheduler_interval_validated() -> None:
    import pytest

    with pytest.raises(ValueError, match="scheduler_interval"):
        SRModule(srlib.create_model("bicubic", scale=2), scheduler_interval="batch")
