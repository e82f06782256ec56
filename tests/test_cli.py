"""evaluate and upscale command lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import srlib.upscale as upscale
from srlib import evaluate
from srlib.data import read_image
from tests.conftest import shared_path


@pytest.fixture
def tiny_set(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    Image.fromarray(rng.integers(0, 256, (36, 40), dtype=np.uint8)).save(folder / "gray.png")
    return folder


def test_evaluate_prints_table_and_writes_json(tiny_set, tmp_path, capsys) -> None:
    out = tmp_path / "scores.json"
    assert (
        evaluate.main(["--model", "bicubic", "--data", str(tiny_set), "--scale", "2", "--json", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "im0" in printed and "gray" in printed and "mean" in printed
    (scores,) = json.loads(out.read_text())["rows"]
    assert scores["scale"] == 2 and len(scores["per_image"]) == 3


def test_evaluate_errors(tiny_set, tmp_path, capsys) -> None:
    assert evaluate.main(["--model", "bicubc", "--data", str(tiny_set), "--scale", "2"]) == 2
    assert "bicubic" in capsys.readouterr().err
    assert evaluate.main(["--model", "vdsr", "--data", str(tmp_path / "nope"), "--scale", "2"]) == 2
    assert "nope" in capsys.readouterr().err
    missing = tmp_path / "missing.safetensors"
    assert (
        evaluate.main(["--model", "vdsr", "--weights", str(missing), "--data", str(tiny_set), "--scale", "2"])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_upscale_writes_the_image_and_protects_files(tiny_set, tmp_path, capsys) -> None:
    src, dst = tiny_set / "im0.png", tmp_path / "out.png"
    assert upscale.main([str(src), str(dst), "--model", "bicubic", "--scale", "3"]) == 0
    assert read_image(dst).shape == (3, 108, 120)
    before = dst.read_bytes()
    assert upscale.main([str(src), str(dst), "--model", "bicubic", "--scale", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err and dst.read_bytes() == before
    assert upscale.main([str(src), str(src), "--model", "bicubic", "--scale", "2", "--overwrite"]) == 2
    gray_out = tmp_path / "gray_x2.png"
    assert (
        upscale.main([str(tiny_set / "gray.png"), str(gray_out), "--model", "bicubic", "--scale", "2"]) == 0
    )
    assert read_image(gray_out, channels="keep").shape == (1, 72, 80)


def test_upscale_with_reference_vdsr_weights(tmp_path) -> None:
    weights = shared_path("weights", "vdsr_model_epoch_50.safetensors")
    src = shared_path("data", "Set5", "butterfly.png")
    dst = tmp_path / "butterfly_x2.png"
    assert upscale.main([str(src), str(dst), "--model", str(weights), "--scale", "2", "--dtype", "bf16"]) == 0
    assert read_image(dst).shape == (3, 512, 512)


def test_upscale_function_kinds() -> None:
    import srlib

    net = srlib.create_model("bicubic", scale=2)
    x8 = torch.randint(0, 256, (2, 3, 5, 6), dtype=torch.uint8)
    y8 = srlib.upscale(x8, net)
    assert y8.dtype == torch.uint8 and y8.shape == (2, 3, 10, 12)
    pil = srlib.upscale(Image.new("RGB", (6, 5)), net)
    assert isinstance(pil, Image.Image) and pil.size == (12, 10)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        srlib.upscale(torch.rand(8, 8), net)


def test_every_console_script_names_a_cli_main() -> None:
    """``[project.scripts]`` (srlib-train, srlib-upscale, ...) point at the mains of srlib/cli/."""
    import importlib

    from tests.conftest import REPO

    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    names = {p.stem for p in (REPO / "srlib" / "cli").glob("*.py")} - {"__init__"}
    assert set(scripts) == {f"srlib-{n}" for n in names}
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert module.startswith("srlib.cli.")
        assert callable(getattr(importlib.import_module(module), function))
