"""Image-quality metrics under the standard SR protocol: functional twins and torchmetrics Metrics."""

from srlib._lazy import lazy_exports
from srlib.metrics.functional import prepare_for_protocol, psnr, ssim
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

# The torchmetrics classes (which load lightning_utilities) only when used: inference needs none.
__getattr__, __dir__ = lazy_exports(
    __name__, dict.fromkeys(("PSNR", "SSIM"), "srlib.metrics.image_metrics"), globals()
)
