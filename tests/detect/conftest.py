"""Images on disk for the detector's CLI and pipeline tests: clean, pixelated, and bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _astronaut(size: int = 256) -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()[100 : 100 + size, 100 : 100 + size].copy()


def pixelated_array(array: np.ndarray, block: int = 8, offset: int = 3) -> np.ndarray:
    """Nearest-neighbour down-up with ``block`` px blocks whose grid starts ``offset`` px in."""
    h, w = array.shape[:2]
    ys = np.clip(((np.arange(h) - offset) // block) * block + offset, 0, h - 1)
    xs = np.clip(((np.arange(w) - offset) // block) * block + offset, 0, w - 1)
    return array[ys][:, xs]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """clean.png, pixelated.png, gray.png (clean), rgba.png (pixelated), gray16.png (pixelated)."""
    folder = tmp_path / "images"
    folder.mkdir()
    clean = _astronaut()
    pix = pixelated_array(clean)
    Image.fromarray(clean).save(folder / "clean.png")
    Image.fromarray(pix).save(folder / "pixelated.png")
    Image.fromarray(clean.mean(axis=2).astype(np.uint8)).save(folder / "gray.png")
    alpha = np.full((*clean.shape[:2], 1), 255, np.uint8)
    alpha[:, :40] = 0  # a transparent strip: composited over black
    Image.fromarray(np.concatenate([pix, alpha], axis=2), mode="RGBA").save(folder / "rgba.png")
    gray16 = (pix.mean(axis=2) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")
    return folder


@pytest.fixture
def bad_folder(image_folder: Path) -> Path:
    """image_folder plus tiny.png (20x20) and corrupt.png (not an image)."""
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image_folder / "tiny.png")
    (image_folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    return image_folder
