"""Training losses: pixel (L1, MSE, Charbonnier), VGG19 perceptual, LPIPS and GAN losses.

Content losses take ``(sr, hr)`` RGB batches in [0, 1] and return a scalar; build them by name with
:func:`create_loss` or combine them with :class:`WeightedLoss` (what the Hydra ``loss`` recipes do).
Pretrained backbones (VGG19, LPIPS's AlexNet/VGG16/SqueezeNet) are read from the local torch hub cache
only, never downloaded; a missing file raises ``FileNotFoundError`` saying where to put it.
"""

from __future__ import annotations

from srlib.losses._backbone import hub_cache_file
from srlib.losses._registry import create_loss, list_losses
from srlib.losses.gan import GAN_LOSSES, GANLoss, gradient_penalty, list_gan_losses
from srlib.losses.lpips_loss import LPIPS_NETS, LPIPSLoss
from srlib.losses.perceptual import VGGPerceptualLoss, vgg19_layer_indices
from srlib.losses.pixel import CharbonnierLoss, L1Loss, MSELoss, charbonnier_loss, l1_loss, mse_loss
from srlib.losses.weighted import WeightedLoss

__all__ = [
    "GAN_LOSSES",
    "LPIPS_NETS",
    "CharbonnierLoss",
    "GANLoss",
    "L1Loss",
    "LPIPSLoss",
    "MSELoss",
    "VGGPerceptualLoss",
    "WeightedLoss",
    "charbonnier_loss",
    "create_loss",
    "gradient_penalty",
    "hub_cache_file",
    "l1_loss",
    "list_gan_losses",
    "list_losses",
    "mse_loss",
    "vgg19_layer_indices",
]
