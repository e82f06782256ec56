"""Image-quality metrics under the standard SR protocol: functional twins and torchmetrics Metrics.

Temporal metrics of clips and videos (:mod:`srlib.metrics.temporal`): :func:`clip_psnr`, :func:`clip_ssim`,
the flicker measure :func:`tdiff_psnr`, the streaming :class:`TemporalScores`, and their Metrics
:class:`ClipPSNR`, :class:`ClipSSIM`, :class:`TDiffPSNR`.
"""

from srlib._lazy import lazy_exports
from srlib.metrics.functional import prepare_for_protocol, psnr, ssim
from srlib.metrics.protocol import make_lr, modcrop, protocol_lr, protocol_pair, protocol_scores
from srlib.metrics.temporal import TemporalScore, TemporalScores, clip_psnr, clip_ssim, tdiff_psnr

__all__ = [
    "PSNR",
    "SSIM",
    "ClipPSNR",
    "ClipSSIM",
    "TDiffPSNR",
    "TemporalScore",
    "TemporalScores",
    "clip_psnr",
    "clip_ssim",
    "make_lr",
    "modcrop",
    "prepare_for_protocol",
    "protocol_lr",
    "protocol_pair",
    "protocol_scores",
    "psnr",
    "ssim",
    "tdiff_psnr",
]

# The torchmetrics classes (which load lightning_utilities) only when used: inference needs none.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(("PSNR", "SSIM"), "srlib.metrics.image_metrics"),
        **dict.fromkeys(("ClipPSNR", "ClipSSIM", "TDiffPSNR"), "srlib.metrics.temporal_metrics"),
    },
    globals(),
)
