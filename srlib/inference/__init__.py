"""Inference: upscaling images with a trained model."""

from srlib.inference.upscale import upscale

__all__ = ["upscale"]
