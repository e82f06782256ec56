"""ONNX files that lie or attack, built here with onnx.helper (issue 17): each is refused before use.

Every graph is tiny; none is ever allowed to run its expensive part.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="ONNX support is the optional extra srlib[onnx]")
import onnx
from onnx import TensorProto, helper, numpy_helper

from srlib.inference.onnx import OnnxModelError, OnnxRuntimeModel, check_onnx_model

FLOAT = TensorProto.FLOAT


def _io(dynamic: bool = True) -> tuple:
    dims = ["b", 3, "h", "w"] if dynamic else [1, 3, 16, 16]
    lr = helper.make_tensor_value_info("lr", FLOAT, dims)
    sr = helper.make_tensor_value_info("sr", FLOAT, None)
    return lr, sr


def _save(path: Path, nodes: list, initializers: list = (), *, meta=None, functions=()) -> Path:
    lr, sr = _io()
    graph = helper.make_graph(nodes, "g", [lr], [sr], initializer=list(initializers))
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("local", 1)] if functions else [])
    model = helper.make_model(graph, opset_imports=opsets, functions=list(functions), ir_version=8)
    if meta:
        helper.set_model_props(model, meta)
    onnx.save(model, str(path))
    return path


def _x2(path: Path, meta: dict | None = None) -> Path:
    """A real x2 network: nearest-neighbour Resize by 2."""
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    node = helper.make_node("Resize", ["lr", "", "scales"], ["sr"], mode="nearest")
    return _save(path, [node], [scales], meta=meta)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_scale_metadata_that_disagrees_with_the_graph_is_refused(tmp_path):
    path = _x2(tmp_path / "liar.onnx", {"scale": "4", "srlib_arch": "x2"})
    with pytest.raises(OnnxModelError, match=r"liar\.onnx .*metadata says x4 but the graph enlarges x2"):
        OnnxRuntimeModel(path)
    with pytest.raises(OnnxModelError, match=r"metadata 'scale' is 'four'"):
        OnnxRuntimeModel(_x2(tmp_path / "words.onnx", {"scale": "four"}))
    honest = OnnxRuntimeModel(_x2(tmp_path / "honest.onnx", {"scale": "2"}))
    unlabelled = OnnxRuntimeModel(_x2(tmp_path / "plain.onnx"))
    assert honest.scale == unlabelled.scale == 2
    assert honest(torch.rand(1, 3, 5, 7)).shape == (1, 3, 10, 14)


def test_output_that_is_not_a_whole_number_enlargement_is_refused(tmp_path):
    scales = numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "scales")
    node = helper.make_node("Resize", ["lr", "", "scales"], ["sr"], mode="nearest")
    path = _save(tmp_path / "stretch.onnx", [node], [scales])
    with pytest.raises(OnnxModelError, match=r"16x16 test input gave an output of shape 1x3x32x48"):
        OnnxRuntimeModel(path)


def test_396_byte_constant_of_shape_bomb_is_refused_before_allocating(tmp_path):
    shape = numpy_helper.from_array(np.array([600_000_000], np.int64), "shape")  # 2.4 GB of float zeros
    node = helper.make_node("ConstantOfShape", ["shape"], ["sr"], name="bomb")
    path = _save(tmp_path / "bomb.onnx", [node], [shape])
    assert path.stat().st_size < 400
    before, started = _maxrss_mb(), time.monotonic()
    with pytest.raises(
        OnnxModelError, match=r"bomb\.onnx .*node bomb \(ConstantOfShape\) .*2,400,000,000 bytes"
    ):
        OnnxRuntimeModel(path)
    assert time.monotonic() - started < 2
    assert _maxrss_mb() - before < 300  # nothing near 2.4 GB was allocated


def test_expand_sized_from_the_input_shape_is_refused(tmp_path):
    factor = numpy_helper.from_array(np.array([1, 1, 100_000, 100_000], np.int64), "factor")
    nodes = [
        helper.make_node("Shape", ["lr"], ["shape"]),
        helper.make_node("Mul", ["shape", "factor"], ["big"]),
        helper.make_node("Expand", ["lr", "big"], ["sr"], name="grow"),
    ]
    started = time.monotonic()
    # Refused before the session exists: by the inferred size, or as a size read from data.
    with pytest.raises(OnnxModelError, match=r"expand\.onnx is refused: node grow \(Expand\) makes"):
        OnnxRuntimeModel(_save(tmp_path / "expand.onnx", nodes, [factor]))
    assert time.monotonic() - started < 2


def test_size_read_from_pixel_values_is_refused(tmp_path):
    nodes = [
        helper.make_node("ReduceMax", ["lr"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "huge"], ["n"]),
        helper.make_node("Cast", ["n"], ["count"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["count", "one"], ["shape"]),
        helper.make_node("ConstantOfShape", ["shape"], ["sr"], name="from_data"),
    ]
    inits = [
        numpy_helper.from_array(np.array(1e12, np.float32), "huge"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
    ]
    with pytest.raises(OnnxModelError, match=r"node from_data \(ConstantOfShape\) .* read from data"):
        OnnxRuntimeModel(_save(tmp_path / "data.onnx", nodes, inits))


def test_file_over_the_size_limit_is_refused(tmp_path):
    path = _x2(tmp_path / "m.onnx")
    with pytest.raises(OnnxModelError, match=r"m\.onnx .* bytes, over the limit of 100\. .*max_file_bytes"):
        OnnxRuntimeModel(path, max_file_bytes=100)
    weight = numpy_helper.from_array(np.zeros((1, 3, 64, 64), np.float32), "w")
    add = helper.make_node("Add", ["lr", "w"], ["sr"])
    with pytest.raises(OnnxModelError, match=r"weight w holds 49,152 bytes, over the limit of 1,000"):
        check_onnx_model(_save(tmp_path / "w.onnx", [add], [weight]), max_tensor_bytes=1000)


def _loop(name: str = "spin") -> tuple:
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    it = helper.make_tensor_value_info("i", TensorProto.INT64, [])
    v_in = helper.make_tensor_value_info("v_in", FLOAT, None)
    cond_out = helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])
    v_out = helper.make_tensor_value_info("v_out", FLOAT, None)
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond"], ["cond_out"]),
            helper.make_node("Identity", ["v_in"], ["v_out"]),
        ],
        "body",
        [it, cond, v_in],
        [cond_out, v_out],
    )
    node = helper.make_node("Loop", ["trips", "keep", "lr"], ["sr"], body=body, name=name)
    inits = [
        numpy_helper.from_array(np.array(10**15, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "keep"),
    ]
    return node, inits


def test_loop_that_would_hang_at_load_is_refused_at_once(tmp_path):
    node, inits = _loop()
    started = time.monotonic()
    with pytest.raises(OnnxModelError, match=r"loop\.onnx is refused: node spin \(graph\) is a Loop"):
        OnnxRuntimeModel(_save(tmp_path / "loop.onnx", [node], inits))
    assert time.monotonic() - started < 2


def test_control_flow_hidden_in_if_or_a_function_is_refused(tmp_path):
    then = helper.make_graph(
        [helper.make_node("Identity", ["lr"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", FLOAT, None)],
    )
    branch = helper.make_node("If", ["flag"], ["sr"], then_branch=then, else_branch=then, name="branch")
    flag = numpy_helper.from_array(np.array(True), "flag")
    with pytest.raises(OnnxModelError, match=r"node branch \(graph\) is a If"):
        OnnxRuntimeModel(_save(tmp_path / "if.onnx", [branch], [flag]))
    loop, inits = _loop("inner")
    trips, keep = (helper.make_node("Constant", [], [t.name], value=t) for t in inits)
    function = helper.make_function(
        "local", "Spin", ["lr"], ["sr"], [trips, keep, loop], [helper.make_opsetid("", 17)]
    )
    call = helper.make_node("Spin", ["lr"], ["sr"], domain="local")
    with pytest.raises(OnnxModelError, match=r"node inner \(function Spin\) is a Loop"):
        OnnxRuntimeModel(_save(tmp_path / "func.onnx", [call], functions=[function]))


def test_probe_run_past_the_deadline_is_stopped_and_refused(tmp_path):
    """No control flow, sizes within the limits, but slow: 40 convolutions at 1024x1024."""
    scales = numpy_helper.from_array(np.array([1, 1, 64, 64], np.float32), "up")
    weight = numpy_helper.from_array(np.full((3, 3, 3, 3), 1 / 27, np.float32), "k")
    nodes = [helper.make_node("Resize", ["lr", "", "up"], ["x0"], mode="nearest")]
    for i in range(40):
        nodes.append(helper.make_node("Conv", [f"x{i}", "k"], [f"x{i + 1}"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Identity", ["x40"], ["sr"]))
    path = _save(tmp_path / "slow.onnx", nodes, [scales, weight])
    started = time.monotonic()
    with pytest.raises(
        OnnxModelError, match=r"slow\.onnx .*1x3x16x16 test run took over 0\.2 s \(the run was stopped\)"
    ):
        OnnxRuntimeModel(path, timeout=0.2)
    assert time.monotonic() - started < 3


def test_refused_onnx_is_one_error_line_from_the_upscale_cli(tmp_path, capsys):
    from PIL import Image

    from srlib.upscale import main

    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    node, inits = _loop()
    model = _save(tmp_path / "loop.onnx", [node], inits)
    assert main([str(image), str(tmp_path / "out.png"), "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "loop.onnx is refused" in err
    assert not (tmp_path / "out.png").exists()
