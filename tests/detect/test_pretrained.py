"""The shipped detector loads offline and judges held-out images correctly at its shipped threshold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srlib.detect import create_detector
from srlib.detect.predict import DetectorRunner

from .conftest import pixelated_array


@pytest.fixture(scope="module")
def runner() -> DetectorRunner:
    return DetectorRunner(create_detector("mobilenetv3_canny", pretrained=True), dtype="fp32")


def test_card_threshold_and_weights(runner):
    from srlib._package_weights import find_packaged

    entry = find_packaged("detector", "mobilenetv3_canny")
    assert runner.threshold == pytest.approx(entry.card["threshold"])
    assert entry.card["scale"] is None and entry.card["tag"] is None
    assert sum(file.stat().st_size for file in entry.files) < 4_000_000
    assert hasattr(runner.net, "srlib_pretrained")


def _held_out() -> list[tuple[str, np.ndarray]]:
    """Test-split images (never seen in training): Set14/Set5 if present, else scikit-image test photos."""
    from srlib.io.pictures import read_picture
    from tests.conftest import DATA

    images = []
    for name in ("Set5/baby.png", "Set5/butterfly.png", "Set14/zebra.png", "Set14/comic.png"):
        if (DATA / name).is_file():
            rgb = read_picture(DATA / name).rgb
            images.append((name, (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)))
    if not images:
        import skimage.data

        images = [(n, getattr(skimage.data, n)()) for n in ("coffee", "chelsea")]
    return images


def test_scores_held_out_images(runner):
    wrong = []
    for name, array in _held_out():
        for label, image in (
            (False, array),
            (True, pixelated_array(array, 6, 2)),
            (True, pixelated_array(array, 3, 1)),
        ):
            p = runner.probability(torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255)
            if (p > runner.threshold) != label:
                wrong.append((name, label, round(p, 3)))
    assert not wrong, wrong
