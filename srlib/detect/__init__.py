"""Pixelation detection: synthetic data, detectors (learned and classical), training, CLI and pipeline.

``create_detector("mobilenetv3_canny", pretrained=True)`` loads the detector shipped with srlib;
``python -m srlib.detect PATH...`` scores images; ``python -m srlib.upscale ... --only-pixelated``
upscales only the images it flags. See docs/detect.md.
"""

from srlib.detect.baseline import BlockPeriodDetector
from srlib.detect.data import PixelationDataModule, PixelationSynth
from srlib.detect.models import (
    DetectorWeightsError,
    MobileNetV3Canny,
    create_detector,
    list_detectors,
    load_detector,
    register_detector,
    register_detector_model,
    save_detector,
)
from srlib.detect.module import DetectorModule

__all__ = [
    "BlockPeriodDetector",
    "DetectorModule",
    "DetectorWeightsError",
    "MobileNetV3Canny",
    "PixelationDataModule",
    "PixelationSynth",
    "create_detector",
    "list_detectors",
    "load_detector",
    "register_detector",
    "register_detector_model",
    "save_detector",
]
