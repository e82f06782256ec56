"""``SRGANModule``: adversarial super-resolution training (SRGAN, ESRGAN, Real-ESRGAN, MobileSR's GAN stage).

Manual optimisation, one generator forward per step:

1. generator step (the discriminator's parameters toggled off): ``loss(sr, hr)`` (pixel + perceptual,
   a :class:`srlib.losses.WeightedLoss`) plus ``adversarial_weight * gan_loss.generator_loss(D(sr))``;
2. ``d_steps`` discriminator steps on ``D(hr_gan)`` against ``D(sr.detach())`` (plus the gradient
   penalty for WGAN-GP).

During the first ``warmup_steps`` generator steps only the generator trains, on ``loss`` alone.
Where the degradation sharpens the target (Real-ESRGAN's USM), the batch carries the sharpened target
as ``hr`` (pixel/perceptual) and the unsharpened one as ``hr_gan`` (discriminator), as Real-ESRGAN does.

``trainer.global_step`` counts optimizer steps of both networks (Lightning's rule for manual
optimisation); :attr:`SRGANModule.generator_steps` counts generator steps and is what
``warmup_steps`` and the step-wise schedulers follow.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from srlib.lit.sr_module import OptimizerFactory, SchedulerFactory, SRModule, frames_of
from srlib.losses import GANLoss, gradient_penalty

__all__ = ["SRGANModule"]


class SRGANModule(SRModule):
    """Train a generator against a discriminator.

    Args:
        net: the generator (srlib contract).
        discriminator: any ``nn.Module`` mapping an HR batch to logits (a score or a map per image).
        loss: content loss ``loss(sr, hr)`` (pixel and perceptual terms); default L1.
        gan_loss: a :class:`srlib.losses.GANLoss` or its name (``vanilla``, ``lsgan``, ``hinge``,
            ``wgan_gp``, ``ragan``).
        adversarial_weight: weight of the generator's adversarial term (SRGAN 1e-3, Real-ESRGAN 0.1).
        optimizer, scheduler: generator optimizer / scheduler factories (default Adam 1e-4).
        d_optimizer, d_scheduler: the same for the discriminator (default: like the generator's).
        d_steps: discriminator steps per generator step.
        warmup_steps: generator-only steps before the adversarial game starts.
        gp_weight: gradient-penalty weight (WGAN-GP only).
        grad_clip: clip each network's gradient norm to this value (``None``: no clipping).
        scheduler_interval, channels_last, crop_border: as in :class:`SRModule`.

    Example:
        >>> import srlib
        >>> g = srlib.create_model("srvgg_compact", scale=2, num_conv=2, num_feat=8)
        >>> d = srlib.models.create_discriminator("vgg_discriminator", input_size=32, num_feat=8)
        >>> SRGANModule(g, d, gan_loss="vanilla").generator_steps
        0
    """

    def __init__(
        self,
        net: nn.Module,
        discriminator: nn.Module,
        *,
        loss: nn.Module | None = None,
        gan_loss: GANLoss | str = "vanilla",
        adversarial_weight: float = 1e-3,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        d_optimizer: OptimizerFactory | None = None,
        d_scheduler: SchedulerFactory | None = None,
        d_steps: int = 1,
        warmup_steps: int = 0,
        gp_weight: float = 10.0,
        grad_clip: float | None = None,
        scheduler_interval: str = "epoch",
        channels_last: bool = False,
        crop_border: int | None = None,
    ) -> None:
        super().__init__(
            net,
            loss=loss,
            optimizer=optimizer,
            scheduler=scheduler,
            scheduler_interval=scheduler_interval,
            channels_last=channels_last,
            crop_border=crop_border,
        )
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}.")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}.")
        self.save_hyperparameters(
            ignore=[
                "net",
                "discriminator",
                "loss",
                "gan_loss",
                "optimizer",
                "scheduler",
                "d_optimizer",
                "d_scheduler",
            ]
        )
        self.automatic_optimization = False
        self.discriminator = discriminator
        if channels_last:
            self.discriminator.to(memory_format=torch.channels_last)
        self.gan_loss = gan_loss if isinstance(gan_loss, GANLoss) else GANLoss(gan_loss)
        self.adversarial_weight = float(adversarial_weight)
        self.d_optimizer_factory = d_optimizer or self.optimizer_factory
        self.d_scheduler_factory = d_scheduler if d_scheduler is not None else scheduler
        self.d_steps, self.warmup_steps = int(d_steps), int(warmup_steps)
        self.gp_weight, self.grad_clip = float(gp_weight), grad_clip
        self.register_buffer("_generator_steps", torch.zeros((), dtype=torch.long), persistent=True)

    @property
    def generator_steps(self) -> int:
        """Generator steps taken (restored from checkpoints)."""
        return int(self._generator_steps)

    def optimizer_steps(self, batches: int) -> int:
        """Optimizer steps (``trainer.global_step``) that a run of ``batches`` training batches takes."""
        adversarial = max(0, batches - self.warmup_steps)
        return batches + adversarial * self.d_steps

    # -- training ------------------------------------------------------------------------------
    def _step(self, optimizer: Any, loss: Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.grad_clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
        optimizer.step()

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        lr, hr = batch["lr"], frames_of(batch["hr"])
        hr_gan = frames_of(batch.get("hr_gan", batch["hr"]))
        batch_size = lr.shape[0]
        adversarial = self.generator_steps >= self.warmup_steps

        sr = frames_of(self.run_net(lr))  # clips: the loss and the discriminator see every frame
        with self.toggled_optimizer(opt_g):
            content = self.loss(sr.float(), hr)
            total = content
            if adversarial:
                real_logits = self.discriminator(hr_gan).detach() if self.gan_loss.needs_real_logits else None
                adv = self.gan_loss.generator_loss(self.discriminator(sr), real_logits)
                total = content + self.adversarial_weight * adv
                self.log("train/g_adv", adv, batch_size=batch_size)
            if not self.loss_is_finite(total, "generator loss"):
                return
            self._step(opt_g, total)
        self.log_losses("train/loss", content, self.loss, batch_size)
        self.log("train/g_total", total, batch_size=batch_size)
        self._generator_steps += 1

        if adversarial:
            fake = sr.detach()
            with self.toggled_optimizer(opt_d):
                for _ in range(self.d_steps):
                    real_logits = self.discriminator(hr_gan)
                    fake_logits = self.discriminator(fake)
                    loss_d = self.gan_loss.discriminator_loss(real_logits, fake_logits)
                    if self.gan_loss.needs_gradient_penalty:
                        loss_d = loss_d + gradient_penalty(
                            self.discriminator, hr_gan, fake, weight=self.gp_weight
                        )
                    if not self.loss_is_finite(loss_d, "discriminator loss"):
                        return
                    self._step(opt_d, loss_d)
            self.log("train/d_loss", loss_d, prog_bar=True, batch_size=batch_size)
            self.log("train/d_real", real_logits.detach().float().mean(), batch_size=batch_size)
            self.log("train/d_fake", fake_logits.detach().float().mean(), batch_size=batch_size)

        if self.scheduler_interval == "step":
            self._step_schedulers(adversarial)

    def on_train_epoch_end(self) -> None:
        if self.scheduler_interval == "epoch":
            self._step_schedulers(self.generator_steps >= self.warmup_steps)

    def _step_schedulers(self, adversarial: bool) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        schedulers[0].step()
        if adversarial and len(schedulers) > 1:
            schedulers[1].step()

    def configure_optimizers(self) -> Any:
        opt_g = self.optimizer_factory(self.net.parameters())
        opt_d = self.d_optimizer_factory(self.discriminator.parameters())
        schedulers = [
            factory(opt)
            for factory, opt in ((self.scheduler_factory, opt_g), (self.d_scheduler_factory, opt_d))
            if factory is not None
        ]
        if len(schedulers) == 1 and self.scheduler_factory is None:
            raise ValueError("A discriminator scheduler without a generator scheduler is not supported.")
        return [opt_g, opt_d], schedulers
