"""python -m srlib.export: ONNX files and blended weights from the command line (in-process main)."""

from __future__ import annotations

import pytest
import torch

import srlib
from srlib.export import main


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    a = srlib.save_model(srlib.create_model("srvgg_compact", num_conv=2, num_feat=8), tmp_path / "a")
    torch.manual_seed(1)
    b = srlib.save_model(srlib.create_model("srvgg_compact", num_conv=2, num_feat=8), tmp_path / "b")
    return a, b


def test_export_writes_a_checked_onnx_file(weights, tmp_path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert main([str(weights[0]), str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and "dynamic batch/height/width" in printed and "1x3x40x56" in printed
    assert main([str(weights[0]), str(out)]) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_blend_writes_the_interpolated_model(weights, tmp_path, capsys) -> None:
    a, b = weights
    out = tmp_path / "mix.safetensors"
    assert main(["blend", str(a), str(b), str(out), "--weight-b", "0.3"]) == 0
    mixed = srlib.load_model(out).body[0].weight
    expected = 0.7 * srlib.load_model(a).body[0].weight + 0.3 * srlib.load_model(b).body[0].weight
    torch.testing.assert_close(mixed, expected)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["blend", "{a}", "{b}", "{a}", "--weight-b", "0.5"], "is one of the inputs"),
        (["blend", "{a}", "{b}", "{tmp}/o.safetensors", "--weight-b", "2"], "in [0, 1]"),
        (["{a}", "{tmp}/o.onnx", "--static", "big"], "HEIGHTxWIDTH"),
        (["{tmp}/missing.safetensors", "{tmp}/o.onnx"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(weights, tmp_path, capsys, args, says) -> None:
    a, b = weights
    argv = [x.format(a=a, b=b, tmp=tmp_path) for x in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
