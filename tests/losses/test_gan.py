from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srlib.losses import GANLoss, gradient_penalty, list_gan_losses

LOG2 = math.log(2.0)


def test_list_and_flags() -> None:
    assert list_gan_losses() == ["vanilla", "lsgan", "hinge", "wgan_gp", "ragan"]
    assert [GANLoss(k).needs_gradient_penalty for k in list_gan_losses()] == [False] * 3 + [True, False]
    assert [GANLoss(k).needs_real_logits for k in list_gan_losses()] == [False] * 4 + [True]


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match=r"Unknown GAN loss kind 'wgan'\. Did you mean 'wgan_gp'\?.*'ragan'"):
        GANLoss("wgan")


def test_vanilla() -> None:
    gan = GANLoss("vanilla")
    zeros = torch.zeros(4, 1)
    assert float(gan.generator_loss(zeros)) == pytest.approx(LOG2)
    assert float(gan.discriminator_loss(zeros, zeros)) == pytest.approx(2 * LOG2)
    confident = gan.discriminator_loss(torch.full((4,), 30.0), torch.full((4,), -30.0))
    assert float(confident) == pytest.approx(0, abs=1e-6)
    fake = torch.randn(3, 1, 4, 4)
    torch.testing.assert_close(gan.generator_loss(fake), -F.logsigmoid(fake).mean())


def test_lsgan() -> None:
    gan = GANLoss("lsgan")
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert float(gan.generator_loss(ones)) == 0.0
    assert float(gan.generator_loss(zeros)) == 1.0
    assert float(gan.discriminator_loss(ones, zeros)) == 0.0
    assert float(gan.discriminator_loss(zeros, ones)) == 2.0


def test_hinge() -> None:
    gan = GANLoss("hinge")
    assert float(gan.discriminator_loss(torch.ones(4), -torch.ones(4))) == 0.0
    assert float(gan.discriminator_loss(torch.zeros(4), torch.zeros(4))) == 2.0
    assert float(gan.discriminator_loss(torch.full((4,), 3.0), torch.full((4,), -3.0))) == 0.0
    assert float(gan.generator_loss(torch.tensor([1.0, 3.0]))) == -2.0


def test_wgan() -> None:
    gan = GANLoss("wgan_gp")
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert float(gan.discriminator_loss(real, fake)) == -3.0
    assert float(gan.generator_loss(fake)) == 0.0


def test_ragan_symmetric_and_formula() -> None:
    gan = GANLoss("ragan")
    same = torch.full((2, 1, 4, 4), 0.7)
    assert float(gan.generator_loss(same, same)) == pytest.approx(LOG2)
    assert float(gan.discriminator_loss(same, same)) == pytest.approx(LOG2)
    real, fake = torch.randn(4, 1), torch.randn(4, 1)
    d_real, d_fake = real - fake.mean(), fake - real.mean()
    bce = F.binary_cross_entropy_with_logits
    expected_g = 0.5 * (bce(d_real, torch.zeros_like(d_real)) + bce(d_fake, torch.ones_like(d_fake)))
    expected_d = 0.5 * (bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)))
    torch.testing.assert_close(gan.generator_loss(fake, real), expected_g)
    torch.testing.assert_close(gan.discriminator_loss(real, fake), expected_d)


def test_ragan_generator_needs_real_logits() -> None:
    with pytest.raises(ValueError, match="real_logits"):
        GANLoss("ragan").generator_loss(torch.zeros(2))


@pytest.mark.parametrize("kind", list_gan_losses())
def test_any_shape_scalar_float32_and_gradient(kind: str) -> None:
    gan = GANLoss(kind)
    fake = torch.randn(2, 1, 4, 4, dtype=torch.bfloat16, requires_grad=True)
    real = torch.randn(2, 1, 4, 4, dtype=torch.bfloat16)
    g = gan.generator_loss(fake, real)
    d = gan.discriminator_loss(real, fake)
    assert g.shape == d.shape == () and g.dtype == d.dtype == torch.float32
    g.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_logits_must_be_tensors() -> None:
    with pytest.raises(ValueError, match="fake_logits must be a tensor"):
        GANLoss("vanilla").generator_loss([0.0])  # type: ignore[arg-type]


def unit_critic(scale: float) -> tuple[nn.Module, torch.Tensor]:
    """A linear critic ``D(x) = <w, x>`` with ``||w|| = scale``: its input gradient norm is ``scale``."""
    w = torch.randn(1, 3, 8, 8)
    w = scale * w / w.norm()
    critic = nn.Linear(3 * 8 * 8, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(w.flatten(1))
    return nn.Sequential(nn.Flatten(), critic), w


def test_gradient_penalty_zero_for_unit_norm_critic() -> None:
    critic, _ = unit_critic(1.0)
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    penalty = gradient_penalty(critic, real, fake).detach()
    assert float(penalty) == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_value_and_graph() -> None:
    critic, _ = unit_critic(3.0)
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8, requires_grad=True)
    penalty = gradient_penalty(critic, real, fake, weight=10.0)
    assert float(penalty.detach()) == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-5)
    penalty.backward()  # create_graph=True: the penalty trains the critic
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0
    assert fake.grad is None  # inputs are detached


def test_gradient_penalty_patch_discriminator() -> None:
    critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, padding=1))
    penalty = gradient_penalty(critic, torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), weight=1.0).detach()
    assert penalty.shape == () and float(penalty) > 0 and torch.isfinite(penalty)


def test_gradient_penalty_checks() -> None:
    critic, _ = unit_critic(1.0)
    with pytest.raises(ValueError, match="one shape"):
        gradient_penalty(critic, torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=">= 0"):
        gradient_penalty(critic, torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), weight=-1.0)
