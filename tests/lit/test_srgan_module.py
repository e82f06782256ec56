"""SRGANModule: one generator forward per step, detached discriminator input, warm-up, EMA, resume."""

from __future__ import annotations

import lightning as L
import pytest
import torch

import srlib
from srlib.data import BundledPhotosDataModule
from srlib.lit import ExportWeights, GeneratorEMA, LastCheckpoint
from srlib.lit.srgan_module import SRGANModule
from srlib.losses import GANLoss, WeightedLoss


def _dm(**kw) -> BundledPhotosDataModule:
    return BundledPhotosDataModule(
        scale=2,
        patch_size=32,
        batch_size=2,
        num_workers=0,
        samples_per_epoch=8,
        train_photos=("astronaut",),
        val_photos=("chelsea",),
        **kw,
    )


def _module(gan_loss: str = "vanilla", **kw) -> SRGANModule:
    g = srlib.create_model("srvgg_compact", scale=2, num_conv=2, num_feat=8)
    d = srlib.models.create_discriminator("unet_discriminator", num_feat=8)
    loss = WeightedLoss({"pixel": {"name": "l1", "weight": 1.0}})
    return SRGANModule(
        g,
        d,
        loss=loss,
        gan_loss=gan_loss,
        adversarial_weight=0.1,
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-3),
        **kw,
    )


def _trainer(tmp_path, callbacks=(), **kw) -> L.Trainer:
    return L.Trainer(
        max_epochs=kw.pop("max_epochs", 1),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
        default_root_dir=tmp_path,
        **kw,
    )


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge", "wgan_gp", "ragan"])
def test_every_gan_loss_trains_both_networks(tmp_path, kind) -> None:
    module = _module(kind)
    g0 = [p.detach().clone() for p in module.net.parameters()]
    d0 = [p.detach().clone() for p in module.discriminator.parameters()]
    trainer = _trainer(tmp_path, limit_val_batches=0)
    trainer.fit(module, datamodule=_dm())
    assert module.generator_steps == 4
    assert trainer.global_step == 8  # Lightning counts both optimizers' steps
    assert module.optimizer_steps(4) == 8
    assert any(not torch.equal(a, b) for a, b in zip(g0, module.net.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, module.discriminator.parameters(), strict=True))
    assert {"train/d_loss", "train/g_adv", "train/loss"} <= set(trainer.callback_metrics)


def test_one_generator_forward_per_step_and_detached_discriminator_input(tmp_path) -> None:
    module = _module("vanilla", d_steps=2)
    calls = {"g": 0, "d_inputs": []}
    module.net.register_forward_hook(lambda *a: calls.__setitem__("g", calls["g"] + 1))
    module.discriminator.register_forward_pre_hook(
        lambda m, inp: calls["d_inputs"].append(inp[0].requires_grad)
    )
    _trainer(tmp_path, limit_val_batches=0, max_steps=3).fit(module, datamodule=_dm())
    # max_steps=3 optimizer steps: G, D, D  -> one batch, one generator forward.
    assert calls["g"] == 1
    # Generator step: D(sr) with grad; then 2 D steps, each D(hr) and D(sr.detach()): no grad.
    assert calls["d_inputs"] == [True, False, False, False, False]


def test_warmup_trains_the_generator_alone(tmp_path) -> None:
    module = _module("vanilla", warmup_steps=10)
    d0 = [p.detach().clone() for p in module.discriminator.parameters()]
    trainer = _trainer(tmp_path, limit_val_batches=0)
    trainer.fit(module, datamodule=_dm())
    assert module.generator_steps == 4 and trainer.global_step == 4
    assert all(torch.equal(a, b) for a, b in zip(d0, module.discriminator.parameters(), strict=True))
    assert module.optimizer_steps(4) == 4


class _DarkenTarget(torch.nn.Module):
    """A stand-in for USM: returns a changed training target (half brightness) beside the LR."""

    scale = 2

    def forward(self, hr):
        return torch.nn.functional.avg_pool2d(hr, 2), hr * 0.5


def test_discriminator_sees_the_unsharpened_target(tmp_path) -> None:
    module = _module("vanilla")
    real_inputs = []

    def record(m, inp):
        if not inp[0].requires_grad:
            real_inputs.append(inp[0].detach().clone())

    module.discriminator.register_forward_pre_hook(record)
    _trainer(tmp_path, limit_val_batches=0, max_steps=2).fit(
        module, datamodule=_dm(degradation=_DarkenTarget())
    )
    # Calls without grad: D(hr_gan) for the generator's reference is skipped (vanilla); the D step sees
    # D(hr_gan) then D(sr.detach()). The real one is the original photo (values above 0.5), not the target.
    assert real_inputs and real_inputs[0].max() > 0.6


def test_ema_is_validated_exported_and_resumed(tmp_path) -> None:
    torch.manual_seed(0)
    module = _module("vanilla")
    ema = GeneratorEMA(decay=0.9)
    exporter, last = ExportWeights(tmp_path), LastCheckpoint(tmp_path / "ckpt", every_n_train_steps=2)
    trainer = _trainer(tmp_path, callbacks=[exporter, last, ema])
    trainer.fit(module, datamodule=_dm())
    exported = srlib.load_model(exporter.last_path)
    # The exported weights are the EMA, and training ended with the EMA copied into the net (Lightning).
    for k, v in exported.state_dict().items():
        torch.testing.assert_close(v, ema.averaged_net.state_dict()[k].cpu())
    ckpt = torch.load(last.path, weights_only=False)
    assert "srlib_ema_state" in ckpt and len(ckpt["optimizer_states"]) == 2
    assert not any(k.startswith("loss.") for k in ckpt["state_dict"])

    # Resume: generator steps, both optimizers and the EMA come back; training continues.
    module2 = _module("vanilla")
    ema2 = GeneratorEMA(decay=0.9)
    trainer2 = _trainer(tmp_path, callbacks=[ExportWeights(tmp_path / "2"), ema2], max_epochs=2)
    trainer2.fit(module2, datamodule=_dm(), ckpt_path=str(last.path))
    assert module2.generator_steps == 8 and trainer2.global_step == 16
    assert len(trainer2.optimizers[1].state) > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="d_steps"):
        _module("vanilla", d_steps=0)
    with pytest.raises(ValueError, match="hinge"):
        _module("hinj")
    assert isinstance(_module("ragan").gan_loss, GANLoss)


def test_ema_decay_warms_up() -> None:
    from srlib.lit.callbacks import _ema_update

    avg, cur = torch.zeros(1), torch.ones(1)
    warm = _ema_update(avg, cur, torch.tensor(1.0), decay=0.999, warmup=True)
    torch.testing.assert_close(warm, torch.tensor([1 - 2 / 11]))  # decay (1 + 1) / (10 + 1)
    late = _ema_update(avg, cur, torch.tensor(1e6), decay=0.999, warmup=True)
    fixed = _ema_update(avg, cur, torch.tensor(1.0), decay=0.999, warmup=False)
    torch.testing.assert_close(late, fixed)
    torch.testing.assert_close(fixed, torch.tensor([0.001]))
    with pytest.raises(ValueError, match="decay"):
        GeneratorEMA(decay=1.0)
