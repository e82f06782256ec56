"""Shared fixtures: paths to the real data in ../shared (skipped with a reason when absent), tiny runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
WEIGHTS = SHARED / "weights"


#: The recipe group users run too, recipes/debug/tiny.yaml (python -m srlib.train recipe=NAME +debug=tiny):
#: one epoch of 8 samples in batches of 2, fp32, no loader workers; it wins over the recipe's own values.
DEBUG_TRAIN = ["+debug=tiny"]

#: Overrides that make any VDSR-based recipe a seconds-long run (tests of the training machinery).
TINY_TRAIN = [*DEBUG_TRAIN, "model.depth=2", "model.num_feat=8", "data.patch_size=24"]


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: real data/weights live in ../shared next to the repo")
    return path


@pytest.fixture
def set5() -> Path:
    return shared_path("data", "Set5")


@pytest.fixture
def set14() -> Path:
    return shared_path("data", "Set14")


@pytest.fixture
def t91() -> Path:
    return shared_path("data", "T91")


@pytest.fixture(scope="session")
def tiny_val(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 72x72 centre crops of Set5 photos (72: a multiple of 2, 3 and 4): seconds-long validation."""
    from PIL import Image

    set5 = shared_path("data", "Set5")
    folder = tmp_path_factory.mktemp("tiny_val")
    for name in ("bird", "butterfly"):
        with Image.open(set5 / f"{name}.png") as image:
            left, top = image.width // 2 - 36, image.height // 2 - 36
            image.crop((left, top, left + 72, top + 72)).save(folder / f"{name}.png")
    return folder


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def weights_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of srlib/weights (the real cards and files) that a test may damage."""
    import shutil

    from srlib import _package_weights

    folder = tmp_path / "weights"
    shutil.copytree(_package_weights.WEIGHTS_DIR, folder)
    monkeypatch.setattr(_package_weights, "WEIGHTS_DIR", folder)
    _package_weights._all_cards.cache_clear()
    yield folder
    _package_weights._all_cards.cache_clear()


@pytest.fixture(scope="session")
def tiny_clip_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three LR/HR video pairs (lr/, hr/) of 10 frames, 64x64 HR, x4: a camera pan over T91 photos."""
    from srlib.data.video.synthetic import CameraPan, make_video_pairs

    t91 = shared_path("data", "T91")
    root = tmp_path_factory.mktemp("clip_pairs")
    make_video_pairs(t91, root, hr_size=(64, 64), pan=CameraPan(frames=10), preset="ultrafast", limit=3)
    return root
