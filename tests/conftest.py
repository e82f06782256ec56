"""Shared fixtures: paths to the real data in ../shared (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
WEIGHTS = SHARED / "weights"


#: Overrides that make any VDSR-based recipe a seconds-long run (tests of the training machinery).
TINY_TRAIN = [
    "model.depth=2",
    "model.num_feat=8",
    "data.patch_size=24",
    "data.batch_size=2",
    "data.samples_per_epoch=8",
    "trainer.max_epochs=1",
    "trainer.precision=32-true",
]


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


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
