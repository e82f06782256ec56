"""Inference: upscaling images, folders and videos with a trained model (see docs/architecture.md)."""

from srlib.inference.engine import Upscaler
from srlib.inference.output_size import OutputSize
from srlib.inference.upscale import FolderReport, upscale, upscale_file, upscale_folder, upscale_picture
from srlib.inference.video import VideoReport, upscale_video
from srlib.io.pictures import Picture, read_picture, write_picture

__all__ = [
    "FolderReport",
    "OutputSize",
    "Picture",
    "Upscaler",
    "VideoReport",
    "read_picture",
    "upscale",
    "upscale_file",
    "upscale_folder",
    "upscale_picture",
    "upscale_video",
    "write_picture",
]
