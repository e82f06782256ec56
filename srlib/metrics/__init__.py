"""Image-quality metrics under the standard SR protocol: functional twins and torchmetrics Metrics."""

from srlib.metrics.functional import prepare_for_protocol, psnr, ssim
from srlib.metrics.image_metrics import PSNR, SSIM
from srlib.metrics.protocol import make_lr, modcrop, protocol_lr, protocol_pair, protocol_scores

__all__ = [
    "PSNR",
    "SSIM",
    "make_lr",
    "modcrop",
    "prepare_for_protocol",
    "protocol_lr",
    "protocol_pair",
    "protocol_scores",
    "psnr",
    "ssim",
]
