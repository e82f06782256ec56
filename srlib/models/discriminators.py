"""GAN discriminators for SR training: registry entries of kind ``"discriminator"`` (not in ``list_models``).

* :class:`VGGDiscriminator` — the SRGAN discriminator (Ledig et al., 'Photo-Realistic Single Image
  Super-Resolution Using a Generative Adversarial Network', CVPR 2017,
  https://arxiv.org/abs/1609.04802): eight 3x3 convs (64, 64, 128, 128, 256, 256, 512, 512 channels,
  strides 1/2 alternating, BatchNorm from the third conv on), LeakyReLU, Dense(1024), LeakyReLU,
  Dense(1). Registered as

  - ``vgg_discriminator``: the paper's 96×96 input and LeakyReLU slope 0.2;
  - ``minisrgan_discriminator``: the MiniSRGAN discriminator as published by DeepClarity
    (snehilchatterjee/intelAI ``training_correction/MiniSRGAN_/srgan_model.py``, built on
    dongheehand/SRGAN-PyTorch ``ops.py``): 96×96 input, ``nn.LeakyReLU()``'s default slope 0.01,
    23,565,377 parameters, and its key names (``conv01.body.0``, ``body.{i}.body.{j}.body.{0,1}``,
    ``tail.0``, ``tail.2``) so its state dicts load;
  - ``vgg_discriminator_pooled``: size-agnostic: the features are adaptive-average-pooled to 6×6
    before the dense head, so any input size works; at 96×96 the pooling is the identity and the
    weights are interchangeable with the fixed-size variants.

  These discriminators saw images in [-1, 1] where they were published; srlib's take [0, 1] and map
  them to [-1, 1] inside. They return **logits** ``(B, 1)`` (train with ``BCEWithLogitsLoss``, which
  is what the published Sigmoid + ``BCELoss`` computes, but stable and autocast-safe);
  ``sigmoid=True`` appends the published Sigmoid.

* :class:`UNetDiscriminatorSN` — Real-ESRGAN's U-Net discriminator with spectral normalisation
  (Wang et al., ICCVW 2021, https://arxiv.org/abs/2107.10833; ``realesrgan/archs/discriminator_arch.py``):
  per-pixel logits ``(B, 1, H, W)``, 4,376,897 parameters at ``num_feat=64``. Registered as
  ``unet_discriminator``. Real-ESRGAN feeds it [0, 1] images; srlib does the same (no internal
  normalisation). Spectral norm is ``torch.nn.utils.spectral_norm``, whose ``weight_orig`` /
  ``weight_u`` / ``weight_v`` keys are Real-ESRGAN's, so ``RealESRGAN_x4plus_netD.pth`` loads.

They live in the zoo's one registry with ``kind="discriminator"``: ``srlib.models.create_discriminator``
(unknown names get close matches, unknown keywords the valid ones), ``list_discriminators`` and
``load_discriminator_weights`` for checkpoint files.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.models._registry import register_discriminator

__all__ = ["UNetDiscriminatorSN", "VGGDiscriminator"]


def _check_input(x: Tensor, name: str, in_chans: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}.")
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(
            f"{name} expects a (B, {in_chans}, H, W) tensor of images in [0, 1], got shape {tuple(x.shape)}."
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} expects a float tensor in [0, 1], got {x.dtype}. Use x.float() / 255.")


# --- SRGAN / MiniSRGAN VGG-style discriminator --------------------------------------------------


class _ConvBNAct(nn.Module):
    """3x3 conv (+ BatchNorm) + LeakyReLU in a ``body`` Sequential (the published key layout)."""

    def __init__(self, in_ch: int, out_ch: int, *, stride: int, bn: bool, negative_slope: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.LeakyReLU(negative_slope, inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class _DiscBlock(nn.Module):
    """Conv-BN-act at stride 1 widening the channels, then conv-BN-act at stride 2."""

    def __init__(self, in_ch: int, out_ch: int, negative_slope: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _ConvBNAct(in_ch, out_ch, stride=1, bn=True, negative_slope=negative_slope),
            _ConvBNAct(out_ch, out_ch, stride=2, bn=True, negative_slope=negative_slope),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class VGGDiscriminator(nn.Module):
    """SRGAN's VGG-style discriminator, with a fixed-size flatten head or a pooled size-agnostic one.

    Args:
        in_chans: image channels.
        num_feat: channels of the first two convs; block ``i`` widens to ``num_feat * 2**(i+1)``.
        num_blocks: number of (stride-1, stride-2) conv pairs after the first two convs (3 in SRGAN).
        input_size: the fixed square input size of the flatten head (96 in SRGAN and MiniSRGAN);
            ``None`` pools the features to ``pool_size × pool_size`` instead, so any size works.
        pool_size: grid of the adaptive average pooling when ``input_size`` is ``None``.
        hidden: width of the hidden dense layer.
        negative_slope: LeakyReLU slope (0.2 in the SRGAN paper, 0.01 in the published MiniSRGAN).
        sigmoid: append a Sigmoid (probabilities, as published) instead of returning logits.

    Shape:
        - Input: ``(B, in_chans, H, W)`` in [0, 1] (``H = W = input_size`` for the flatten head);
          mapped to [-1, 1] inside.
        - Output: ``(B, 1)`` logits (probabilities with ``sigmoid=True``).

    Example:
        >>> d = VGGDiscriminator(num_feat=8, input_size=None, pool_size=2, hidden=16)
        >>> d(torch.rand(2, 3, 40, 56)).shape
        torch.Size([2, 1])
    """

    def __init__(
        self,
        *,
        in_chans: int = 3,
        num_feat: int = 64,
        num_blocks: int = 3,
        input_size: int | None = 96,
        pool_size: int = 6,
        hidden: int = 1024,
        negative_slope: float = 0.2,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        if input_size is not None and input_size < 1:
            raise ValueError(f"VGGDiscriminator input_size must be positive or None, got {input_size}.")
        if pool_size < 1 or num_blocks < 0 or num_feat < 1 or hidden < 1:
            raise ValueError(
                "VGGDiscriminator needs pool_size >= 1, num_blocks >= 0, num_feat >= 1 and hidden >= 1; got "
                f"pool_size={pool_size}, num_blocks={num_blocks}, num_feat={num_feat}, hidden={hidden}."
            )
        self.in_chans = in_chans
        self.input_size = input_size
        act = {"negative_slope": negative_slope}
        self.conv01 = _ConvBNAct(in_chans, num_feat, stride=1, bn=False, **act)
        self.conv02 = _ConvBNAct(num_feat, num_feat, stride=2, bn=False, **act)
        self.body = nn.Sequential(
            *(_DiscBlock(num_feat * 2**i, num_feat * 2 ** (i + 1), negative_slope) for i in range(num_blocks))
        )
        out_ch = num_feat * 2**num_blocks
        if input_size is None:
            self.pool: nn.Module = nn.AdaptiveAvgPool2d(pool_size)
            grid = pool_size
        else:
            self.pool = nn.Identity()
            grid = input_size
            for _ in range(num_blocks + 1):  # each stride-2 conv (padding 1) maps n to ceil(n / 2)
                grid = (grid + 1) // 2
        tail: list[nn.Module] = [
            nn.Linear(out_ch * grid * grid, hidden),
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Linear(hidden, 1),
        ]
        if sigmoid:
            tail.append(nn.Sigmoid())
        self.tail = nn.Sequential(*tail)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The published init: convs N(0, 0.02) with zero bias; BatchNorm and Linear PyTorch defaults."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, "VGGDiscriminator", self.in_chans)
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"This VGGDiscriminator's dense head is built for {self.input_size}x{self.input_size} "
                f"inputs, got {tuple(x.shape[-2:])}. Crop patches to that size, build it with "
                f"input_size={x.shape[-1]} if square, or use 'vgg_discriminator_pooled' (any size)."
            )
        feat = self.body(self.conv02(self.conv01(x * 2.0 - 1.0)))
        return self.tail(torch.flatten(self.pool(feat), 1))


# --- Real-ESRGAN U-Net discriminator ------------------------------------------------------------


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral normalisation: one logit per pixel.

    Three stride-2 4x4 downsampling convs, three bilinear ×2 upsampling stages with 3x3 convs and
    (optional) additive skips, two extra 3x3 convs and a 3x3 conv to one channel; LeakyReLU 0.2
    everywhere; spectral norm on every conv but the first and the last.

    Args:
        in_chans: image channels.
        num_feat: base width (the bottleneck has ``8 * num_feat`` channels).
        skip_connection: add the encoder features to the decoder's.

    Shape:
        - Input: ``(B, in_chans, H, W)`` in [0, 1], ``H`` and ``W`` multiples of 8.
        - Output: ``(B, 1, H, W)`` logits.

    Example:
        >>> UNetDiscriminatorSN(num_feat=8)(torch.rand(1, 3, 24, 32)).shape
        torch.Size([1, 1, 24, 32])
    """

    def __init__(self, *, in_chans: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        if num_feat < 1:
            raise ValueError(f"UNetDiscriminatorSN num_feat must be >= 1, got {num_feat}.")
        self.in_chans = in_chans
        self.skip_connection = skip_connection
        sn = nn.utils.spectral_norm  # the original API: upstream's weight_orig/_u/_v key names
        f = num_feat
        self.conv0 = nn.Conv2d(in_chans, f, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(f, f * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(f * 2, f, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    @staticmethod
    def _act(x: Tensor) -> Tensor:
        return F.leaky_relu(x, negative_slope=0.2, inplace=True)

    @staticmethod
    def _up(x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, "UNetDiscriminatorSN", self.in_chans)
        if x.shape[-2] % 8 or x.shape[-1] % 8:
            raise ValueError(
                f"UNetDiscriminatorSN needs height and width divisible by 8 (three x2 down/up stages with "
                f"skips), got {tuple(x.shape[-2:])}. Crop training patches to a multiple of 8."
            )
        x0 = self._act(self.conv0(x))
        x1 = self._act(self.conv1(x0))
        x2 = self._act(self.conv2(x1))
        x3 = self._act(self.conv3(x2))
        x4 = self._act(self.conv4(self._up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = self._act(self.conv5(self._up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = self._act(self.conv6(self._up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = self._act(self.conv8(self._act(self.conv7(x6))))
        return self.conv9(out)


# --- registered configurations ------------------------------------------------------------------

_SRGAN = "Ledig et al., 'Photo-Realistic Single Image Super-Resolution Using a GAN', CVPR 2017"
_MINISRGAN = "DeepClarity MiniSRGAN (snehilchatterjee/intelAI), after Ledig et al. CVPR 2017"
_REALESRGAN = "Wang, Xie, Dong, Shan, 'Real-ESRGAN', ICCVW 2021 (UNetDiscriminatorSN)"


@register_discriminator(paper=_SRGAN)
def vgg_discriminator(
    *, input_size: int | None = 96, negative_slope: float = 0.2, **kwargs: Any
) -> VGGDiscriminator:
    """SRGAN VGG-style discriminator: 96x96 input, LeakyReLU 0.2, dense head (logits)."""
    return VGGDiscriminator(input_size=input_size, negative_slope=negative_slope, **kwargs)


@register_discriminator(paper=_MINISRGAN)
def minisrgan_discriminator(
    *, input_size: int | None = 96, negative_slope: float = 0.01, **kwargs: Any
) -> VGGDiscriminator:
    """MiniSRGAN's discriminator as published: 96x96 input, LeakyReLU 0.01, 23,565,377 params."""
    return VGGDiscriminator(input_size=input_size, negative_slope=negative_slope, **kwargs)


@register_discriminator(paper=_SRGAN)
def vgg_discriminator_pooled(
    *, input_size: int | None = None, pool_size: int = 6, negative_slope: float = 0.2, **kwargs: Any
) -> VGGDiscriminator:
    """Size-agnostic SRGAN discriminator: features average-pooled to 6x6 before the dense head."""
    return VGGDiscriminator(
        input_size=input_size, pool_size=pool_size, negative_slope=negative_slope, **kwargs
    )


@register_discriminator(paper=_REALESRGAN)
def unet_discriminator(**kwargs: Any) -> UNetDiscriminatorSN:
    """Real-ESRGAN's U-Net discriminator with spectral norm: per-pixel logits."""
    return UNetDiscriminatorSN(**kwargs)
