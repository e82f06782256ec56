"""The one model loader: names, weight files and what it records about them."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

import srlib
from srlib.data.video.policy import FramePairPolicy
from srlib.inference.loader import describe, load_upscaling_model


def test_a_shipped_name_loads_its_weights_and_says_so() -> None:
    loaded = load_upscaling_model("fsrcnn", scale=4)
    assert (loaded.kind, loaded.trained, loaded.scale) == ("pretrained", True, 4)
    assert loaded.pretrained == "fsrcnn_x4" and not loaded.net.training


def test_an_untrained_name_is_marked_and_warned_about(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        loaded = load_upscaling_model("vdsr", scale=2)  # no shipped vdsr weights
    assert loaded.kind == "registered" and loaded.trained is False
    assert "random weights" in caplog.text


def test_a_weight_file_carries_its_frame_policy_unless_asked_not_to(tmp_path) -> None:
    policy = FramePairPolicy(scale=3, size_policy="resize_lr")
    path = srlib.save_model(
        srlib.create_model("fsrcnn", scale=3),
        tmp_path / "video.safetensors",
        metadata={"frame_policy": json.dumps(dataclasses.asdict(policy))},
    )
    loaded = load_upscaling_model(path)
    assert loaded.kind == "file" and loaded.trained and loaded.scale == 3
    assert loaded.frame_policy.size_policy == "resize_lr"
    assert load_upscaling_model(path, use_policy=False).frame_policy is None
    assert describe(srlib.load_model(path)).frame_policy.size_policy == "resize_lr"


def test_a_file_for_another_scale_and_a_bad_backend_are_refused(tmp_path) -> None:
    path = srlib.save_model(srlib.create_model("fsrcnn", scale=2), tmp_path / "x2.safetensors")
    with pytest.raises(ValueError, match="x2"):
        load_upscaling_model(path, scale=4)
    with pytest.raises(ValueError, match="backend must be"):
        load_upscaling_model("bicubic", scale=2, backend="tensorrt")
