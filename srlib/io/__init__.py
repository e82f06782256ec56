"""Reading and writing srlib's files: images, pictures (16-bit, alpha), video decoding, atomic writes.

The lowest layer above the models' maths: it imports neither Lightning nor the data modules, so the
inference path (``python -m srlib.upscale``, the service) reads an image without loading a training
stack. ``srlib.io.images`` decodes 8-bit tensors for training and the protocol, ``srlib.io.pictures``
keeps 16-bit and alpha for upscaling, ``srlib.io.video`` opens and decodes clips (imported on first
use: it loads PyAV).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = write_image(Path(tempfile.mkdtemp()) / "gray.png", torch.full((3, 4, 4), 0.5))
    >>> tuple(read_image(path).shape), int(read_image(path)[0, 0, 0])
    ((3, 4, 4), 128)
"""

from __future__ import annotations

from srlib._fs import OutputPathError, atomic_write, check_output_path, walk_files, write_json
from srlib._lazy import lazy_exports
from srlib.io.images import (
    IMAGE_EXTENSIONS,
    ImageTooLargeError,
    list_images,
    max_image_pixels,
    read_headers,
    read_image,
    scan_images,
    write_image,
)
from srlib.io.pictures import Picture, read_picture, write_picture

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ImageTooLargeError",
    "OutputPathError",
    "Picture",
    "atomic_write",
    "check_output_path",
    "list_images",
    "max_image_pixels",
    "open_video",
    "read_headers",
    "read_image",
    "read_picture",
    "scan_images",
    "walk_files",
    "write_image",
    "write_json",
    "write_picture",
]

__getattr__, __dir__ = lazy_exports(
    __name__, dict.fromkeys(("VIDEO_EXTENSIONS", "open_video"), "srlib.io.video"), globals()
)
