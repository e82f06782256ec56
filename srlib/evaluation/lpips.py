"""LPIPS of 8-bit outputs, computed only from a backbone file already on this machine (never downloaded)."""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

__all__ = ["LpipsScorer"]

log = logging.getLogger(__name__)


class LpipsScorer:
    """LPIPS of 8-bit outputs against their ground truth, from a backbone file on this machine only.

    Args:
        net: LPIPS backbone (``"alex"``, ``"vgg"``, ``"squeeze"``).
        weights: ``"imagenet"`` (torchvision's file in the local torch hub cache; when it is absent
            the scorer is unavailable, with the reason) or the path of a backbone state dict (must exist).
        device: where to compute.

    Raises:
        ValueError: ``weights="random"``: a randomly initialised backbone gives no meaningful score.
    """

    def __init__(self, net: str = "alex", *, weights: str = "imagenet", device: str | torch.device = "cpu"):
        from srlib.losses import hub_cache_file
        from srlib.losses.lpips_loss import LPIPSLoss, lpips_backbone_url

        if weights == "random":
            raise ValueError(
                "LPIPS with a random backbone is not a score; pass --lpips-weights FILE or 'imagenet'."
            )
        self.net, self.device = net, torch.device(device)
        self.loss: nn.Module | None = None
        self.reason = ""
        try:
            self.loss = LPIPSLoss(net, backbone_weights=weights).to(self.device)
        except FileNotFoundError:
            if weights != "imagenet":
                raise
            missing = hub_cache_file(lpips_backbone_url(net))
            self.reason = f"{missing} is absent and srlib never downloads it (or pass --lpips-weights FILE)"
            log.info("LPIPS %s is unavailable: %s", net, self.reason)

    @property
    def available(self) -> bool:
        return self.loss is not None

    def __call__(self, sr: Tensor, hr: Tensor, crop_border: int) -> float | None:
        """LPIPS of one ``(1, 3, H, W)`` output against its ``(1, C, H, W)`` ground truth, or ``None``."""
        if self.loss is None:
            return None
        sr = sr.clamp(0, 1).mul(255).round().div(255)
        hr = hr.expand(-1, 3, -1, -1) if hr.shape[1] == 1 else hr
        c = int(crop_border)
        if c > 0:
            sr, hr = sr[..., c:-c, c:-c], hr[..., c:-c, c:-c]
        with torch.inference_mode():
            return float(self.loss(sr.to(self.device), hr.to(self.device)))
