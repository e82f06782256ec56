"""Datasets built from folders with hidden files and images over the pixel limit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from srlib.data import BenchmarkDataset, HRPatchDataset, PairedImageDataset, match_pairs
from srlib.io.images import MAX_PIXELS_ENV
from tests.io.test_images import _png_declaring


def _photo(path, size: int) -> None:
    Image.fromarray(np.full((size, size, 3), 90, np.uint8)).save(path)


@pytest.fixture
def folders(tmp_path):
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    for folder, size in ((hr, 32), (lr, 16)):
        folder.mkdir()
        _photo(folder / "a.png", size)
        (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS leftovers
        (folder / ".a.png.x81k2.tmp").write_bytes(b"half-written")  # srlib's own temporary name
        (folder / ".thumbs").mkdir()
        _photo(folder / ".thumbs" / "b.png", size)
    return lr, hr


def test_hidden_files_do_not_abort_a_training_folder(folders) -> None:
    lr, hr = folders
    data = HRPatchDataset.from_folder(hr, scale=2, patch_size=16, samples_per_epoch=2, cache="memory")
    assert len(data) == 2 and data[0]["hr"].shape == (3, 16, 16)
    assert match_pairs(lr, hr, scale=2) == [(lr / "a.png", hr / "a.png")]
    assert len(PairedImageDataset.from_folders(lr, hr, scale=2)) == 1
    assert BenchmarkDataset.from_folder(hr, scale=2).names == ["a"]


def test_dataset_scan_refuses_an_image_over_the_pixel_limit(tmp_path, monkeypatch) -> None:
    _photo(tmp_path / "a.png", 32)
    _png_declaring(tmp_path / "bomb.png", 10000, 10000)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000000")
    for build in (
        lambda: HRPatchDataset.from_folder(tmp_path, scale=2, patch_size=16, cache="memory"),
        lambda: BenchmarkDataset.from_folder(tmp_path, scale=2),
    ):
        with pytest.raises(
            ValueError, match=rf"(?s)1 problem file.*bomb\.png is 10000x10000.*{MAX_PIXELS_ENV}"
        ):
            build()
