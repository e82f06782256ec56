"""Fixtures of the model tests: the zoo built once per session, and the Set5 images of the weights README."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import srlib
from srlib.models import create_model, get_model_entry, list_models
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
def _zoo_builds() -> dict[str, torch.nn.Module]:
    """Registered models built so far this session, by name (see ``zoo_model``)."""
    return {}


@pytest.fixture
def zoo_model(_zoo_builds: dict[str, torch.nn.Module]) -> Callable[[str], torch.nn.Module]:
    """``zoo_model(name)``: a private copy of the registered model ``name`` at scale 2 (else its default).

    The first call for a name builds it with the RNG seeded to 0 (the same weights in every run and in any
    test order); later calls deep-copy that build, which is far cheaper than initialising HAT's 20.8M
    parameters again. A test may train, cast or convert its copy: the cached build stays untouched.
    """

    def get(name: str) -> torch.nn.Module:
        if name not in _zoo_builds:
            entry = get_model_entry(name)
            scale = 2 if 2 in entry.scales else entry.default_scale
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                _zoo_builds[name] = srlib.create_model(name, scale=scale)
        return copy.deepcopy(_zoo_builds[name])

    return get


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
    from srlib.evaluation import evaluate_folder

    return evaluate_folder(srlib.create_model("bicubic", scale=4), set5_subset, 4).psnr


__all__ = ["README_BICUBIC", "README_IMAGES", "SET5", "WEIGHTS", "need"]


def assert_detects_no_other_model(detect: Callable[[dict], object], skip: Callable[[str], bool]) -> None:
    """``detect`` (a state-dict detector) answers None for every other registered model's default state
    dict, one per class (the entrypoints of one class share its key scheme)."""
    classes = set()
    for other in list_models():
        cls = get_model_entry(other).cls
        if skip(other) or cls in classes:
            continue
        classes.add(cls)
        assert detect(create_model(other).state_dict()) is None, other
    assert classes, "no other model was tried"
