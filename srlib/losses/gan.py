"""Adversarial losses selected by name, and the WGAN-GP gradient penalty.

Kinds (``list_gan_losses()``):

- ``vanilla``: the original GAN with BCE on logits (SRGAN). D: ``BCE(real, 1) + BCE(fake, 0)``;
  G: ``BCE(fake, 1)`` (the non-saturating form).
- ``lsgan``: least squares (Mao et al., 2017), targets 1/0 without the 1/2 factors (as BasicSR).
  D: ``mean((real - 1)^2) + mean(fake^2)``; G: ``mean((fake - 1)^2)``.
- ``hinge``: D: ``mean(relu(1 - real)) + mean(relu(1 + fake))``; G: ``-mean(fake)``.
- ``wgan_gp``: Wasserstein critic (Gulrajani et al., 2017). D: ``mean(fake) - mean(real)``, plus
  :func:`gradient_penalty` added by the training loop (``needs_gradient_penalty``); G: ``-mean(fake)``.
- ``ragan``: relativistic average GAN as in ESRGAN (Wang et al., 2018), with
  ``D_ra(a, b) = sigmoid(C(a) - mean(C(b)))`` and BCE on logits:
  D: ``(BCE(real - mean(fake), 1) + BCE(fake - mean(real), 0)) / 2``;
  G: ``(BCE(real - mean(fake), 0) + BCE(fake - mean(real), 1)) / 2`` (needs ``real_logits``,
  ``needs_real_logits``). Gradients flow through both terms, as in the paper's formula.

Logits may have any shape (one score per image, or a map from a patch/UNet discriminator); every mean
is over all elements. Losses are computed in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from srlib.losses._checks import check_weight, unknown_choice

__all__ = ["GAN_LOSSES", "GANLoss", "gradient_penalty", "list_gan_losses"]

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "wgan_gp", "ragan")


def list_gan_losses() -> list[str]:
    """Names accepted by :class:`GANLoss`.

    Example:
        >>> list_gan_losses()
        ['vanilla', 'lsgan', 'hinge', 'wgan_gp', 'ragan']
    """
    return list(GAN_LOSSES)


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _logits(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a tensor of discriminator logits, got {type(x).__name__}.")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); the discriminator produced no logits.")
    return x.float()


class GANLoss:
    """Generator and discriminator losses of one GAN formulation.

    Args:
        kind: one of ``vanilla``, ``lsgan``, ``hinge``, ``wgan_gp``, ``ragan`` (see the module docstring).

    Attributes:
        kind: the formulation.
        needs_gradient_penalty: ``True`` for ``wgan_gp``: add :func:`gradient_penalty` to the
            discriminator loss.
        needs_real_logits: ``True`` for ``ragan``: :meth:`generator_loss` also needs ``D(hr)``.

    Raises:
        ValueError: unknown kind (with a suggestion and the valid names).

    Shape:
        - logits: any shape (``(B,)``, ``(B, 1)``, ``(B, 1, H, W)``...).
        - output: ``()``.

    Example:
        >>> gan = GANLoss("vanilla")
        >>> round(float(gan.generator_loss(torch.zeros(4, 1))), 4)  # log 2
        0.6931
        >>> float(GANLoss("hinge").discriminator_loss(torch.ones(4), -torch.ones(4)))
        0.0
    """

    def __init__(self, kind: str = "vanilla") -> None:
        if kind not in GAN_LOSSES:
            raise unknown_choice("GAN loss kind", kind, GAN_LOSSES)
        self.kind = kind
        self._generator: Callable[[Tensor, Tensor | None], Tensor] = getattr(self, f"_g_{kind}")
        self._discriminator: Callable[[Tensor, Tensor], Tensor] = getattr(self, f"_d_{kind}")

    @property
    def needs_gradient_penalty(self) -> bool:
        return self.kind == "wgan_gp"

    @property
    def needs_real_logits(self) -> bool:
        return self.kind == "ragan"

    def __repr__(self) -> str:
        return f"GANLoss({self.kind!r})"

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        """The generator's adversarial loss.

        Args:
            fake_logits: ``D(sr)``, with gradient to the generator.
            real_logits: ``D(hr)``; required by ``ragan`` (pass it detached), ignored by the others.

        Returns:
            A scalar float32 tensor.

        Raises:
            ValueError: ``ragan`` without ``real_logits``, or logits that are not tensors.

        Example:
            >>> x = torch.zeros(2, 1, 4, 4)
            >>> round(float(GANLoss("ragan").generator_loss(x, real_logits=x)), 4)
            0.6931
        """
        fake = _logits(fake_logits, "fake_logits")
        if self.needs_real_logits and real_logits is None:
            raise ValueError(
                "The 'ragan' generator loss is relative to the real images: pass "
                "generator_loss(fake_logits, real_logits=discriminator(hr).detach())."
            )
        real = None if real_logits is None else _logits(real_logits, "real_logits")
        return self._generator(fake, real)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """The discriminator's loss (without the gradient penalty of ``wgan_gp``).

        Args:
            real_logits: ``D(hr)``.
            fake_logits: ``D(sr.detach())``.

        Returns:
            A scalar float32 tensor.

        Example:
            >>> round(float(GANLoss("lsgan").discriminator_loss(torch.ones(3), torch.zeros(3))), 4)
            0.0
        """
        return self._discriminator(_logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits"))

    # -- the formulations --------------------------------------------------------------------------
    @staticmethod
    def _g_vanilla(fake: Tensor, real: Tensor | None) -> Tensor:
        return _bce(fake, 1.0)

    @staticmethod
    def _d_vanilla(real: Tensor, fake: Tensor) -> Tensor:
        return _bce(real, 1.0) + _bce(fake, 0.0)

    @staticmethod
    def _g_lsgan(fake: Tensor, real: Tensor | None) -> Tensor:
        return (fake - 1.0).square().mean()

    @staticmethod
    def _d_lsgan(real: Tensor, fake: Tensor) -> Tensor:
        return (real - 1.0).square().mean() + fake.square().mean()

    @staticmethod
    def _g_hinge(fake: Tensor, real: Tensor | None) -> Tensor:
        return -fake.mean()

    @staticmethod
    def _d_hinge(real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    @staticmethod
    def _g_wgan_gp(fake: Tensor, real: Tensor | None) -> Tensor:
        return -fake.mean()

    @staticmethod
    def _d_wgan_gp(real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    @staticmethod
    def _g_ragan(fake: Tensor, real: Tensor | None) -> Tensor:
        real = cast(Tensor, real)  # not None: checked in generator_loss
        return 0.5 * (_bce(real - fake.mean(), 0.0) + _bce(fake - real.mean(), 1.0))

    @staticmethod
    def _d_ragan(real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * (_bce(real - fake.mean(), 1.0) + _bce(fake - real.mean(), 0.0))


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, weight: float = 10.0
) -> Tensor:
    """WGAN-GP penalty ``weight * mean((||grad_x D(x)||_2 - 1)^2)`` at random interpolates of real and fake.

    ``x = a * real + (1 - a) * fake`` with one ``a ~ U(0, 1)`` per sample (torch RNG). The gradient of the
    sum of ``D(x)`` (all its elements, for patch discriminators) is taken with ``create_graph=True`` so the
    penalty trains the discriminator; its norm is over all dimensions but the batch.

    Args:
        discriminator: maps a batch to logits.
        real: real images (detached inside).
        fake: generated images, same shape (detached inside).
        weight: the penalty weight (lambda, 10 in the paper).

    Returns:
        A scalar float32 tensor.

    Raises:
        ValueError: ``real`` and ``fake`` differ in shape, or ``weight`` is negative.

    Shape:
        - real, fake: ``(B, ...)``.
        - output: ``()``.

    Example:
        >>> w = torch.zeros(1, 3, 2, 2)
        >>> w[0, 0, 0, 0] = 1.0  # a linear critic with a unit-norm weight: gradient norm 1 everywhere
        >>> critic = lambda x: (x * w).sum(dim=(1, 2, 3))
        >>> float(gradient_penalty(critic, torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)))
        0.0
    """
    if not isinstance(real, Tensor) or not isinstance(fake, Tensor) or real.shape != fake.shape:
        raise ValueError(
            "gradient_penalty: real and fake must be tensors of one shape, got "
            f"{tuple(getattr(real, 'shape', ()))} and {tuple(getattr(fake, 'shape', ()))}."
        )
    weight = check_weight(weight, "gradient_penalty weight (10 is usual)")
    real, fake = real.detach(), fake.detach()
    alpha = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    with torch.enable_grad():
        out = discriminator(mixed)
        (grad,) = torch.autograd.grad(
            outputs=out, inputs=mixed, grad_outputs=torch.ones_like(out), create_graph=True
        )
    norm = torch.linalg.vector_norm(grad.float().flatten(1), dim=1)
    return weight * (norm - 1.0).square().mean()
