"""Shared fixtures: paths to the real data in ../shared (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
WEIGHTS = SHARED / "weights"


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
