"""Fixtures for the loss tests: an empty torch hub cache, no network, and srlib log capture."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import torch


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub folder (``$TORCH_HOME/hub``) in tmp; returns its ``checkpoints`` folder."""
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # forget any set_dir(); restored afterwards
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    assert Path(torch.hub.get_dir()) / "checkpoints" == checkpoints
    return checkpoints


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def srlib_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """``caplog`` that also sees ``srlib.*`` records after the CLI set ``propagate=False`` on ``srlib``."""
    monkeypatch.setattr(logging.getLogger("srlib"), "propagate", True)
    caplog.set_level(logging.INFO, logger="srlib.losses")
    return caplog
