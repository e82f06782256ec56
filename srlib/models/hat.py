"""HAT: Hybrid Attention Transformer (Chen, Wang, Zhou, Qiao, Dong, CVPR 2023).

"Activating More Pixels in Image Super-Resolution Transformer", https://arxiv.org/abs/2205.04437,
official code https://github.com/XPixelGroup/HAT (``hat/archs/hat_arch.py``).

The network, as published:

* a 3x3 ``conv_first`` from RGB (minus the DIV2K mean, times ``img_range``) to ``embed_dim`` channels;
* ``len(depths)`` Residual Hybrid Attention Groups (RHAG). Each group runs ``depths[i]`` Hybrid
  Attention Blocks (HAB: window self-attention with a relative position bias, every second block on a
  cyclically shifted grid with an attention mask, in parallel with a channel-attention conv block scaled
  by ``conv_scale`` = 0.01, then an MLP), one Overlapping Cross-Attention Block (OCAB: queries from
  ``window_size`` windows, keys/values from zero-padded windows enlarged by ``overlap_ratio``), and a 3x3
  conv with a residual connection around the whole group;
* LayerNorm, ``conv_after_body`` with a long residual, and the reconstruction tail: ``"pixelshuffle"``
  (conv to ``num_feat`` + LeakyReLU, conv + PixelShuffle(2) stages or one x3 stage, ``conv_last``) as the
  official classical-SR models, or ``"pixelshuffledirect"`` (one conv to ``3 * scale**2`` channels and a
  PixelShuffle, the SwinIR lightweight tail) for the small ``hat_lite``.

The input is reflect-padded to a multiple of ``window_size`` (as the official ``HATModel.pre_process``)
and the output cropped back, so any input size works. The shifted-window attention mask is built with
tensor ops. Where the official code builds an ``(nW, N, N)`` mask per input size, this one uses the fact
that every window's mask is one of three fixed patterns (last column, last row, corner; zero elsewhere):
they are computed once per device and cached, and attention runs once per window group with a broadcast
bias, which gives the same result with far less memory traffic. The relative position indices are buffers
with the official names, so official checkpoints (``params_ema``) load strictly and srlib's state dicts
load into the official code unchanged.

Registered: ``hat_lite`` (< 1M parameters, every ingredient kept), ``hat_s`` (HAT-S, 9.62M at x4) and
``hat`` (HAT, 20.77M at x4); HAT-L loads as ``hat`` with 12 groups (the detector infers ``depths``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, to_network
from srlib.models._registry import register_model

__all__ = [
    "HAT",
    "checkpoint_filter_fn",
    "relative_position_index_oca",
    "relative_position_index_sa",
    "shift_mask_patterns",
    "shifted_window_mask",
]

# DIV2K RGB mean used by the official HAT (and EDSR/SwinIR) models for 3-channel input.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
# Value the official ``calculate_mask`` puts between tokens of different shifted regions.
_MASK_VALUE = -100.0


# --------------------------------------------------------------------------------------------------
# Index / mask construction (all tensor ops, no loops over windows or pixels)
# --------------------------------------------------------------------------------------------------


def relative_position_index_sa(window_size: int) -> Tensor:
    """Relative position index of window self-attention, as the official ``calculate_rpi_sa``.

    Entry ``[i, j]`` indexes a ``(2*ws-1)**2``-row bias table by the offset of token ``i`` from token
    ``j`` (row-major tokens inside one ``ws x ws`` window).

    Shape:
        - Output: ``(ws*ws, ws*ws)`` int64.
    """
    ws = window_size
    ys, xs = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + ws - 1
    dx = xs[:, None] - xs[None, :] + ws - 1
    return dy * (2 * ws - 1) + dx


def relative_position_index_oca(window_size: int, overlap_window_size: int) -> Tensor:
    """Relative position index of overlapping cross-attention, as the official ``calculate_rpi_oca``.

    Rows are query tokens of a ``ws x ws`` window, columns key tokens of the enlarged ``wse x wse``
    window. The official formula yields negative entries for part of the table; PyTorch indexing wraps
    them around, which maps the offsets one-to-one onto the ``(ws+wse-1)**2`` rows. The values are kept
    identical so this buffer matches the one stored in official checkpoints.

    Shape:
        - Output: ``(ws*ws, wse*wse)`` int64.
    """
    ws, wse = window_size, overlap_window_size
    qy, qx = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    ky, kx = torch.meshgrid(torch.arange(wse), torch.arange(wse), indexing="ij")
    qy, qx, ky, kx = qy.flatten(), qx.flatten(), ky.flatten(), kx.flatten()
    dy = ky[None, :] - qy[:, None] + ws - wse + 1
    dx = kx[None, :] - qx[:, None] + ws - wse + 1
    return dy * (ws + wse - 1) + dx


def shifted_window_mask(
    height: int, width: int, window_size: int, shift: int, device: torch.device
) -> Tensor:
    """Additive attention mask for shifted windows (the official ``calculate_mask``, vectorised).

    After a cyclic shift by ``shift``, the image splits into 3 x 3 regions (rows ``< H-ws``,
    ``< H-shift``, the rest; likewise columns). Tokens of one window may only attend to tokens of the
    same region: other pairs get -100.

    Shape:
        - Output: ``(num_windows, ws*ws, ws*ws)`` float32, windows in row-major order.
    """
    ws = window_size
    ys = torch.arange(height, device=device)
    xs = torch.arange(width, device=device)
    region_y = (ys >= height - ws).long() + (ys >= height - shift).long()
    region_x = (xs >= width - ws).long() + (xs >= width - shift).long()
    region = region_y[:, None] * 3 + region_x[None, :]
    windows = region.reshape(height // ws, ws, width // ws, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
    differs = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(differs.shape, device=device).masked_fill_(differs, _MASK_VALUE)


def shift_mask_patterns(window_size: int, shift: int, device: torch.device) -> Tensor:
    """The only three distinct masks of :func:`shifted_window_mask`, whatever the image size.

    Windows away from the last row and column see a single region (mask 0). Every last-column window
    has the same column split, every last-row window the same row split, and the corner window both;
    they are windows 1, 2 and 3 of a ``2ws x 2ws`` map.

    Shape:
        - Output: ``(3, ws*ws, ws*ws)`` float32: last column, last row, corner.
    """
    return shifted_window_mask(2 * window_size, 2 * window_size, window_size, shift, device)[1:]


def _window_partition(x: Tensor, ws: int) -> Tensor:
    """``(B, H, W, C)`` -> ``(B, nW, ws*ws, C)``, windows row-major."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // ws) * (w // ws), ws * ws, c)


def _window_reverse(windows: Tensor, ws: int, h: int, w: int) -> Tensor:
    """``(B, nW, ws*ws, C)`` -> ``(B, H, W, C)`` (inverse of :func:`_window_partition`)."""
    b, _, _, c = windows.shape
    x = windows.reshape(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


# --------------------------------------------------------------------------------------------------
# Blocks (attribute names follow hat_arch.py so state-dict keys are the official ones)
# --------------------------------------------------------------------------------------------------


class _ChannelAttention(nn.Module):
    """RCAN channel attention: global average pool -> 1x1 squeeze -> ReLU -> 1x1 -> sigmoid gate."""

    def __init__(self, num_feat: int, squeeze_factor: int) -> None:
        super().__init__()
        hidden = num_feat // squeeze_factor
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(num_feat, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_feat, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)


class _CAB(nn.Module):
    """Channel-attention block: conv3x3 (C -> C/compress) -> GELU -> conv3x3 (-> C) -> channel attention."""

    def __init__(self, num_feat: int, compress_ratio: int, squeeze_factor: int) -> None:
        super().__init__()
        mid = num_feat // compress_ratio
        self.cab = nn.Sequential(
            nn.Conv2d(num_feat, mid, 3, 1, 1),
            nn.GELU(),
            nn.Conv2d(mid, num_feat, 3, 1, 1),
            _ChannelAttention(num_feat, squeeze_factor),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.cab(x)


class _WindowAttention(nn.Module):
    """Multi-head self-attention inside ``ws x ws`` windows with a learned relative position bias."""

    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rpi: Tensor, masks: Tensor | None) -> Tensor:
        """Attend within windows of the ``(B, H, W, C)`` map.

        ``masks`` is ``None`` (regular windows) or the ``(3, N, N)`` shifted-window patterns of
        :func:`shift_mask_patterns`: after the cyclic shift only windows in the last row / last column
        mix regions, and each of those three groups shares one mask, so the attention runs once per
        group with a broadcast ``(heads, N, N)`` bias instead of a per-window ``(nW, heads, N, N)`` one.
        """
        b, h, w, c = x.shape
        ws, heads = self.window_size, self.num_heads
        nh, nw, n, d = h // ws, w // ws, ws * ws, c // heads
        # channel layout of qkv: [q | k | v], each head-major (heads, d) as the official reshape.
        qkv = self.qkv(_window_partition(x, ws)).view(b, nh, nw, n, 3, heads, d)
        qkv = qkv.permute(4, 0, 1, 2, 5, 3, 6)  # 3, B, nh, nw, heads, N, d
        # (heads, N, N), contiguous: a strided bias makes SDPA and the mask sum much slower.
        bias = self.relative_position_bias_table.t().index_select(1, rpi).view(heads, n, n)
        if masks is None:
            q, k, v = (t.reshape(b * nh * nw, heads, n, d) for t in qkv)  # views, no copy
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0).to(q.dtype))
            out = out.reshape(b, nh, nw, heads, n, d)
        else:
            out = qkv.new_empty(qkv.shape[1:])
            inner, last = slice(None, -1), slice(-1, None)
            # four fixed window groups (interior, last column, last row, corner), not a loop over windows
            for rows, cols, mask in (
                (inner, inner, None),
                (inner, last, masks[0]),
                (last, inner, masks[1]),
                (last, last, masks[2]),
            ):
                part = qkv[:, :, rows, cols]
                if part.numel() == 0:
                    continue
                q, k, v = (t.reshape(-1, heads, n, d) for t in part)
                group_bias = bias if mask is None else bias + mask
                attn = F.scaled_dot_product_attention(q, k, v, attn_mask=group_bias.unsqueeze(0).to(q.dtype))
                out[:, rows, cols] = attn.reshape(part.shape[1:])
        out = out.permute(0, 1, 2, 4, 3, 5).reshape(b, nh * nw, n, c)
        return _window_reverse(self.proj(out), ws, h, w)


class _HAB(nn.Module):
    """Hybrid attention block: (shifted) window attention + scaled channel-attention conv, then MLP."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        compress_ratio: int,
        squeeze_factor: int,
        conv_scale: float,
        mlp_ratio: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.shift_size = shift_size
        self.conv_scale = conv_scale
        from timm.layers import DropPath, Mlp  # here, not at the top: timm imports torchvision (~1.5 s)

        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window_size, num_heads)
        self.conv_block = _CAB(dim, compress_ratio, squeeze_factor)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, rpi: Tensor, masks: Tensor) -> Tensor:
        shortcut = x
        x = self.norm1(x)
        # (B, H, W, C) -> (B, C, H, W) as a channels_last view: no copy for the convs.
        conv_x = self.conv_block(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        s = self.shift_size
        if s > 0:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
            x = self.attn(x, rpi, masks)
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))
        else:
            x = self.attn(x, rpi, None)
        x = shortcut + self.drop_path(x) + conv_x * self.conv_scale
        return x + self.drop_path(self.mlp(self.norm2(x)))


class _OCAB(nn.Module):
    """Overlapping cross-attention: ``ws`` query windows attend to zero-padded ``wse`` key windows."""

    def __init__(
        self, dim: int, window_size: int, overlap_ratio: float, num_heads: int, mlp_ratio: float
    ) -> None:
        super().__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.overlap_win_size = int(window_size * overlap_ratio) + window_size
        table_side = window_size + self.overlap_win_size - 1
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table_side * table_side, num_heads))
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        from timm.layers import Mlp

        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, rpi: Tensor) -> Tensor:
        b, h, w, c = x.shape
        ws, wse, heads = self.window_size, self.overlap_win_size, self.num_heads
        nq, nk, d = ws * ws, wse * wse, c // heads
        pad = (wse - ws) // 2
        shortcut = x
        qkv = self.qkv(self.norm1(x))  # B, H, W, 3C
        q = _window_partition(qkv[..., :c], ws)  # B, nW, nq, C
        nw = q.shape[1]
        q = q.reshape(b * nw, nq, heads, d).transpose(1, 2)
        # keys/values: zero padding after the projection (as nn.Unfold's padding in the official code),
        # then overlapping wse x wse windows with stride ws.
        kv = F.pad(qkv[..., c:], (0, 0, pad, pad, pad, pad))
        kv = kv.unfold(1, wse, ws).unfold(2, wse, ws)  # B, nh, nw, 2C, wse, wse
        kv = kv.permute(0, 1, 2, 4, 5, 3).reshape(b * nw, nk, 2, heads, d)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        bias = self.relative_position_bias_table.t().index_select(1, rpi).view(heads, nq, nk)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0).to(q.dtype))
        out = out.transpose(1, 2).reshape(b, nw, nq, c)
        x = self.proj(_window_reverse(out, ws, h, w)) + shortcut
        return x + self.mlp(self.norm2(x))


class _AttenBlocks(nn.Module):
    """The HABs of one group (shift on every second block) followed by one OCAB."""

    def __init__(self, blocks: list[_HAB], overlap_attn: _OCAB) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.overlap_attn = overlap_attn

    def forward(self, x: Tensor, rpi_sa: Tensor, rpi_oca: Tensor, masks: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x, rpi_sa, masks)
        return self.overlap_attn(x, rpi_oca)


class _RHAG(nn.Module):
    """Residual hybrid attention group: attention blocks -> conv3x3, plus the group's input."""

    def __init__(self, dim: int, residual_group: _AttenBlocks) -> None:
        super().__init__()
        self.residual_group = residual_group
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: Tensor, rpi_sa: Tensor, rpi_oca: Tensor, masks: Tensor) -> Tensor:
        y = self.residual_group(x, rpi_sa, rpi_oca, masks)
        return self.conv(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + x


class _PatchEmbed(nn.Module):
    """The official ``patch_embed`` (patch size 1): only a LayerNorm over the tokens."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x)


def _pixelshuffle_stages(scale: int, num_feat: int) -> nn.Sequential:
    """Official ``Upsample``: conv + PixelShuffle(2) per factor 2, or one conv + PixelShuffle(3)."""
    layers: list[nn.Module] = []
    if scale & (scale - 1) == 0:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
    else:  # scale == 3, validated by the caller
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


class HAT(nn.Module):
    """Hybrid Attention Transformer; the defaults are the official HAT (HAT_SRx4) configuration.

    Args:
        scale: upscaling factor (2, 3 or 4 registered; ``"pixelshuffle"`` allows powers of 2 and 3).
        embed_dim: token width (180 HAT, 144 HAT-S, 48 ``hat_lite``).
        depths: number of HABs in each RHAG (``len(depths)`` groups).
        num_heads: attention heads, one per group or one int for all; must divide ``embed_dim``.
        window_size: attention window side; the input is padded to a multiple of it.
        compress_ratio: channel reduction inside the channel-attention conv block.
        squeeze_factor: channel reduction of the channel attention's squeeze.
        conv_scale: weight of the channel-attention branch in each HAB (0.01).
        overlap_ratio: OCAB key window = ``window_size * (1 + overlap_ratio)`` (0.5).
        mlp_ratio: MLP hidden width / ``embed_dim``.
        upsampler: ``"pixelshuffle"`` (official classical SR tail) or ``"pixelshuffledirect"``
            (one conv + PixelShuffle, for lightweight models).
        num_feat: width of the ``"pixelshuffle"`` tail (64 officially).
        img_range: the official input scaling (1.0 for all released HAT models).
        drop_path_rate: maximum stochastic-depth rate (linear over all HABs; 0.1 as the official default).

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1], any ``H, W``.
        - Output: ``(B, 3, H*scale, W*scale)``, clamped to [0, 1] in eval mode.

    Example:
        >>> net = HAT(scale=2, embed_dim=24, depths=(2,), num_heads=2, window_size=8, squeeze_factor=8)
        >>> net.eval()(torch.rand(1, 3, 10, 12)).shape
        torch.Size([1, 3, 20, 24])
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        embed_dim: int = 180,
        depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
        num_heads: int | Sequence[int] = 6,
        window_size: int = 16,
        compress_ratio: int = 3,
        squeeze_factor: int = 30,
        conv_scale: float = 0.01,
        overlap_ratio: float = 0.5,
        mlp_ratio: float = 2.0,
        upsampler: Literal["pixelshuffle", "pixelshuffledirect"] = "pixelshuffle",
        num_feat: int = 64,
        img_range: float = 1.0,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        depths = [int(v) for v in depths]
        heads = [int(num_heads)] * len(depths) if isinstance(num_heads, int) else [int(v) for v in num_heads]
        self._validate(scale, embed_dim, depths, heads, window_size, compress_ratio, squeeze_factor)
        self._validate_tail(scale, upsampler, overlap_ratio, window_size)
        self.scale = int(scale)
        self.window_size = int(window_size)
        self.shift_size = self.window_size // 2
        self.upsampler = upsampler
        self.img_range = float(img_range)
        overlap_win = int(window_size * overlap_ratio) + window_size
        self.register_buffer("mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        # Persistent, with the official names: official files carry them, and ours then load there.
        self.register_buffer("relative_position_index_SA", relative_position_index_sa(window_size))
        self.register_buffer(
            "relative_position_index_OCA", relative_position_index_oca(window_size, overlap_win)
        )
        self._mask_cache: dict[str, Tensor] = {}

        self.conv_first = nn.Conv2d(3, embed_dim, 3, 1, 1)
        self.patch_embed = _PatchEmbed(embed_dim)
        # stochastic depth rising linearly over all HABs (plain floats: the model also builds on "meta").
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        layers = []
        for i, depth in enumerate(depths):
            offset = sum(depths[:i])
            blocks = [
                _HAB(
                    embed_dim,
                    heads[i],
                    window_size,
                    0 if j % 2 == 0 else self.shift_size,
                    compress_ratio,
                    squeeze_factor,
                    conv_scale,
                    mlp_ratio,
                    rates[offset + j],
                )
                for j in range(depth)
            ]
            ocab = _OCAB(embed_dim, window_size, overlap_ratio, heads[i], mlp_ratio)
            layers.append(_RHAG(embed_dim, _AttenBlocks(blocks, ocab)))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(
                nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(inplace=True)
            )
            self.upsample = _pixelshuffle_stages(self.scale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        else:
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, 3 * self.scale**2, 3, 1, 1), nn.PixelShuffle(self.scale)
            )
        self.reset_parameters()

    @staticmethod
    def _validate(
        scale: int,
        embed_dim: int,
        depths: list[int],
        heads: list[int],
        window_size: int,
        compress_ratio: int,
        squeeze_factor: int,
    ) -> None:
        if not depths or any(d < 1 for d in depths):
            raise ValueError(f"HAT depths must be a non-empty list of positive ints, got {depths}.")
        if len(heads) != len(depths):
            raise ValueError(
                f"HAT num_heads has {len(heads)} entries but depths has {len(depths)}; give one per group."
            )
        bad = [h for h in heads if h < 1 or embed_dim % h]
        if bad:
            raise ValueError(f"HAT num_heads {bad} must divide embed_dim={embed_dim}.")
        if window_size < 2:
            raise ValueError(f"HAT window_size must be >= 2 (it is shifted by half), got {window_size}.")
        if embed_dim // compress_ratio < 1 or embed_dim // squeeze_factor < 1:
            raise ValueError(
                f"HAT compress_ratio={compress_ratio} / squeeze_factor={squeeze_factor} leave no channels "
                f"of embed_dim={embed_dim}; use ratios <= embed_dim."
            )
        if int(scale) < 1:
            raise ValueError(f"HAT scale must be a positive int, got {scale}.")

    @staticmethod
    def _validate_tail(scale: int, upsampler: str, overlap_ratio: float, window_size: int) -> None:
        if upsampler not in ("pixelshuffle", "pixelshuffledirect"):
            raise ValueError(
                f"HAT upsampler must be 'pixelshuffle' or 'pixelshuffledirect', got {upsampler!r}."
            )
        scale = int(scale)
        if upsampler == "pixelshuffle" and scale & (scale - 1) != 0 and scale != 3:
            raise ValueError(f"HAT's 'pixelshuffle' tail supports scales 2**n and 3, got {scale}.")
        extra = int(window_size * overlap_ratio)
        if overlap_ratio < 0 or extra % 2:
            raise ValueError(
                f"HAT overlap_ratio={overlap_ratio} with window_size={window_size} enlarges the OCAB window "
                f"by {extra} pixels; it must be an even, non-negative number (0.5 with window 16 gives 8)."
            )

    def reset_parameters(self) -> None:
        """Official init: N(0, 0.02) Linear weights and bias tables, zero Linear biases, unit LayerNorms;
        convolutions keep PyTorch's default init.

        The official ``trunc_normal_(std=0.02)`` truncates at +-2 (absolute), i.e. at 100 sigma, so a
        normal draw clamped to +-2 is the same distribution at a fraction of the cost.
        """

        def normal_(t: Tensor) -> None:
            nn.init.normal_(t, std=0.02)
            with torch.no_grad():
                t.clamp_(-2.0, 2.0)

        for m in self.modules():
            if isinstance(m, nn.Linear):
                normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, _WindowAttention | _OCAB):
                normal_(m.relative_position_bias_table)

    def shift_masks(self, device: torch.device | str) -> Tensor:
        """The shifted-window mask patterns (:func:`shift_mask_patterns`), computed once per device.

        The official code rebuilds an ``(nW, N, N)`` mask for every input size; its windows only ever
        use these three patterns (plus no mask), so one small cache entry serves every input size.

        Shape:
            - Output: ``(3, ws*ws, ws*ws)`` float32.
        """
        key = str(device)
        masks = self._mask_cache.get(key)
        if masks is None:
            masks = shift_mask_patterns(self.window_size, self.shift_size, torch.device(device))
            self._mask_cache[key] = masks
        return masks

    def forward_features(self, x: Tensor) -> Tensor:
        """Deep features of a padded ``(B, embed_dim, H, W)`` map (H, W multiples of ``window_size``)."""
        if x.shape[-2] % self.window_size or x.shape[-1] % self.window_size:
            raise ValueError(
                f"HAT.forward_features needs H and W divisible by window_size={self.window_size}, got "
                f"{tuple(x.shape[-2:])}; call the model itself, which pads."
            )
        masks = self.shift_masks(x.device)
        # Flat, non-negative table rows: the official OCA index has negative entries that PyTorch's
        # advanced indexing wraps around; index_select needs them wrapped explicitly.
        table_sa = self.layers[0].residual_group.blocks[0].attn.relative_position_bias_table
        table_oca = self.layers[0].residual_group.overlap_attn.relative_position_bias_table
        rpi_sa = self.relative_position_index_SA.reshape(-1) % table_sa.shape[0]
        rpi_oca = self.relative_position_index_OCA.reshape(-1) % table_oca.shape[0]
        t = self.patch_embed(x.permute(0, 2, 3, 1))  # B, H, W, C tokens
        for layer in self.layers:
            t = layer(t, rpi_sa, rpi_oca, masks)
        return self.norm(t).permute(0, 3, 1, 2)

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "HAT")
        h, w = x.shape[-2:]
        ws = self.window_size
        pad_h, pad_w = (-h) % ws, (-w) % ws
        if pad_h or pad_w:
            # reflect as the official HATModel.pre_process; replicate when the input is too small for it.
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        x = (x - self.mean) * self.img_range
        feat = self.conv_first(to_network(x, self.conv_first))
        feat = self.conv_after_body(self.forward_features(feat)) + feat
        if self.upsampler == "pixelshuffle":
            out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
        else:
            out = self.upsample(feat)
        out = out / self.img_range + self.mean
        out = out[..., : h * self.scale, : w * self.scale]
        return out if self.training else out.clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# Foreign checkpoints
# --------------------------------------------------------------------------------------------------

_BLOCK_KEY = re.compile(r"^layers\.(\d+)\.residual_group\.blocks\.(\d+)\.norm1\.weight$")
_UPSAMPLE_KEY = re.compile(r"^upsample\.(\d+)\.weight$")
_RPI_KEYS = ("relative_position_index_SA", "relative_position_index_OCA")


def checkpoint_filter_fn(state: Mapping[str, Tensor], model: nn.Module | None = None) -> dict[str, Tensor]:
    """Make an official HAT state dict (``params_ema``/``params`` already unwrapped) fit :class:`HAT`.

    Official files already use srlib's key names. This drops per-block ``attn_mask`` buffers (SwinIR-style
    exports have them; this HAT builds its masks itself) and supplies the relative position index
    buffers from ``model`` when a converter stripped them.
    """
    out = {k: v for k, v in state.items() if not k.endswith("attn_mask")}
    if model is not None:
        own = model.state_dict()
        for key in _RPI_KEYS:
            if key not in out and key in own:
                out[key] = own[key].clone()
    return out


def _inverse_floor_div(total: int, result: int) -> int | None:
    """An int ``r`` with ``total // r == result`` (the official layers use ``embed_dim // ratio``)."""
    if result < 1:
        return None
    guess = total // result
    if guess >= 1 and total // guess == result:
        return guess
    return next((r for r in range(1, total + 1) if total // r == result), None)


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise official-layout HAT weights and infer every shape-determining hyperparameter."""
    needed = (
        "conv_first.weight",
        "conv_after_body.weight",
        "layers.0.residual_group.blocks.0.attn.relative_position_bias_table",
        "layers.0.residual_group.blocks.0.conv_block.cab.0.weight",
        "layers.0.residual_group.blocks.0.conv_block.cab.3.attention.1.weight",
        "layers.0.residual_group.blocks.0.mlp.fc1.weight",
        "layers.0.residual_group.overlap_attn.relative_position_bias_table",
    )
    if not all(k in state for k in needed) or "absolute_pos_embed" in state:
        return None
    first = state["conv_first.weight"]
    if first.ndim != 4 or first.shape[1] != 3:
        return None
    embed_dim = int(first.shape[0])

    blocks: dict[int, set[int]] = {}
    for key in state:
        if m := _BLOCK_KEY.match(key):
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if sorted(blocks) != list(range(len(blocks))):
        return None
    depths = [len(blocks[i]) for i in range(len(blocks))]
    heads = [
        int(state[f"layers.{i}.residual_group.blocks.0.attn.relative_position_bias_table"].shape[1])
        for i in range(len(blocks))
    ]

    sa_rows = state["layers.0.residual_group.blocks.0.attn.relative_position_bias_table"].shape[0]
    window_size = (math.isqrt(sa_rows) + 1) // 2
    oca_rows = state["layers.0.residual_group.overlap_attn.relative_position_bias_table"].shape[0]
    overlap_win = math.isqrt(oca_rows) - window_size + 1
    if (2 * window_size - 1) ** 2 != sa_rows or (window_size + overlap_win - 1) ** 2 != oca_rows:
        return None
    overlap_ratio = (overlap_win - window_size) / window_size

    prefix = "layers.0.residual_group.blocks.0."
    compress_ratio = _inverse_floor_div(embed_dim, int(state[prefix + "conv_block.cab.0.weight"].shape[0]))
    squeeze_factor = _inverse_floor_div(
        embed_dim, int(state[prefix + "conv_block.cab.3.attention.1.weight"].shape[0])
    )
    if compress_ratio is None or squeeze_factor is None:
        return None
    hidden = int(state[prefix + "mlp.fc1.weight"].shape[0])
    mlp_ratio = hidden / embed_dim
    if int(embed_dim * mlp_ratio) != hidden:  # float rounding below an integer: aim at its middle
        mlp_ratio = (hidden + 0.5) / embed_dim

    convs = sorted((int(m.group(1)), key) for key in state if (m := _UPSAMPLE_KEY.match(key)))
    if not convs:
        return None
    kwargs: dict = {}
    if "conv_before_upsample.0.weight" in state:
        num_feat = int(state["conv_before_upsample.0.weight"].shape[0])
        factor = int(state[convs[0][1]].shape[0]) // num_feat
        scale = 3 if factor == 9 else 2 ** len(convs)
        kwargs.update(upsampler="pixelshuffle", num_feat=num_feat)
    else:
        scale = math.isqrt(int(state[convs[0][1]].shape[0]) // 3)
        kwargs.update(upsampler="pixelshuffledirect")
    return {
        "scale": scale,
        "embed_dim": embed_dim,
        "depths": depths,
        "num_heads": heads,
        "window_size": window_size,
        "compress_ratio": compress_ratio,
        "squeeze_factor": squeeze_factor,
        "overlap_ratio": overlap_ratio,
        "mlp_ratio": mlp_ratio,
        **kwargs,
    }


# --------------------------------------------------------------------------------------------------
# Registered configurations
# --------------------------------------------------------------------------------------------------

_PAPER = (
    "Chen, Wang, Zhou, Qiao, Dong, 'Activating More Pixels in Image Super-Resolution Transformer', CVPR 2023"
)
_REGISTER = {
    "scales": (2, 3, 4),
    "default_scale": 4,
    "paper": _PAPER,
    "checkpoint_filter_fn": checkpoint_filter_fn,
    # Pads to its window size inside forward (size_multiple 1). Tiles work, as the official code's
    # tiled test mode, but shifted-window attention reaches across the whole image, so a tiled result
    # is close to the untiled one, not equal.
    "size_multiple": 1,
    "supports_tiling": True,
}


@register_model(**_REGISTER)
def hat_lite(
    *,
    embed_dim: int = 48,
    depths: Sequence[int] = (4, 4, 4, 4),
    num_heads: int | Sequence[int] = 4,
    window_size: int = 16,
    compress_ratio: int = 3,
    squeeze_factor: int = 16,
    mlp_ratio: float = 2.0,
    upsampler: str = "pixelshuffledirect",
    **kwargs,
) -> HAT:
    """HAT with every ingredient (HAB, OCAB, RHAG) at under 1M parameters, pixel-shuffle-direct tail."""
    return HAT(
        embed_dim=embed_dim,
        depths=depths,
        num_heads=num_heads,
        window_size=window_size,
        compress_ratio=compress_ratio,
        squeeze_factor=squeeze_factor,
        mlp_ratio=mlp_ratio,
        upsampler=upsampler,
        **kwargs,
    )


@register_model(**_REGISTER)
def hat_s(
    *,
    embed_dim: int = 144,
    depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
    num_heads: int | Sequence[int] = 6,
    compress_ratio: int = 24,
    squeeze_factor: int = 24,
    **kwargs,
) -> HAT:
    """HAT-S (official HAT-S_SRx*: 144 channels, compress 24, squeeze 24), 9.62M parameters at x4."""
    return HAT(
        embed_dim=embed_dim,
        depths=depths,
        num_heads=num_heads,
        compress_ratio=compress_ratio,
        squeeze_factor=squeeze_factor,
        **kwargs,
    )


@register_model(**_REGISTER, detector=_detect)
def hat(**kwargs) -> HAT:
    """HAT (official HAT_SRx*: 180 channels, 6 groups of 6 HABs, window 16), 20.77M parameters at x4."""
    return HAT(**kwargs)
