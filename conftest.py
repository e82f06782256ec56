"""Shared by the tests and the doctests of ``srlib`` (collected with ``--doctest-modules``)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import srlib


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict) -> None:
    torch.manual_seed(0)
    doctest_namespace.update(torch=torch, np=np, srlib=srlib)


@pytest.fixture(autouse=True)
def _restore_srlib_logging():
    """A CLI run in-process installs console handlers on the ``srlib`` logger; remove them afterwards."""
    logger = logging.getLogger("srlib")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
