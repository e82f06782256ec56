"""Doctests of ``srlib`` (collected with ``--doctest-modules``) see these names without importing them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import srlib


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict) -> None:
    torch.manual_seed(0)
    doctest_namespace.update(torch=torch, np=np, srlib=srlib)
