"""Fixtures for the seed-weight tests: the Set5 images the weights README's sanity figures use."""

from __future__ import annotations

from pathlib import Path

import pytest

import srlib
from tests.conftest import DATA, WEIGHTS

SET5 = DATA / "Set5"
# The weights README's sanity figures are on these 4 Set5 images (``baby`` was absent from its source).
README_IMAGES = ("bird", "butterfly", "head", "woman")
README_BICUBIC = 27.58


def need(path: Path) -> Path:
    """``path``, or skip the test saying that the shared data/weights are absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared seed weights/data live next to the repository)")
    return path


@pytest.fixture(scope="session")
def set5_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need(SET5)
    folder = tmp_path_factory.mktemp("set5_readme")
    for name in README_IMAGES:
        (folder / f"{name}.png").symlink_to(SET5 / f"{name}.png")
    return folder


@pytest.fixture(scope="session")
def one_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need(SET5)
    folder = tmp_path_factory.mktemp("set5_bird")
    (folder / "bird.png").symlink_to(SET5 / "bird.png")
    return folder


@pytest.fixture(scope="session")
def bicubic_psnr(set5_subset: Path) -> float:
    from srlib.evaluate import evaluate_folder

    return evaluate_folder(srlib.create_model("bicubic", scale=4), set5_subset, 4).psnr


__all__ = ["README_BICUBIC", "README_IMAGES", "SET5", "WEIGHTS", "need"]
