import pytest
import torch

import srlib

pytest.importorskip("onnxruntime", reason="ONNX support is the optional extra srlib[onnx]")
from srlib.inference.onnx import OnnxExportError, OnnxRuntimeModel, export_onnx


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    net = srlib.create_model("srvgg_compact", scale=3, num_conv=2, num_feat=8).eval()
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    return net, export_onnx(net, path)


def test_dynamic_export_matches_pytorch_at_two_sizes(exported) -> None:
    _, report = exported
    assert report.dynamic and len(report.max_abs_error) == 2
    assert all(err <= 1e-4 for err in report.max_abs_error.values())
    assert report.bytes == report.path.stat().st_size > 0
    assert not list(report.path.parent.glob(".*.tmp"))


def test_runtime_model_keeps_the_contract_and_reads_the_metadata(exported) -> None:
    net, report = exported
    runner = OnnxRuntimeModel(report.path)
    assert (runner.scale, runner.srlib_arch) == (3, "srvgg_compact")
    x = torch.rand(3, 3, 19, 11)  # batch, height and width never seen at export
    with torch.inference_mode():
        torch.testing.assert_close(runner(x), net(x), atol=1e-4, rtol=0)
    out = srlib.inference.upscale(x[0], runner, dtype="fp32")
    assert out.shape == (3, 57, 33)


def test_failed_export_and_a_wrong_file_are_clear_errors(tmp_path, monkeypatch) -> None:
    import srlib.inference.onnx as onnx_mod

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(onnx_mod, "_trace", broken)
    net = srlib.create_model("srvgg_compact", num_conv=1, num_feat=4)
    with pytest.raises(OnnxExportError, match=r"did not export.*static"):
        export_onnx(net, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(FileNotFoundError, match=r"srlib\.export"):
        OnnxRuntimeModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        OnnxRuntimeModel(tmp_path / "junk.onnx")


def test_models_that_resize_inside_export_at_a_static_size_and_stay_usable(tmp_path) -> None:
    """fsrcnn resizes with srlib's MATLAB bicubic inside forward: static export works, and tracing it must
    not leave traced tensors in the resize-weight cache (every later eager call would fail)."""
    net = srlib.create_model("fsrcnn", scale=2).eval()
    x = torch.rand(1, 3, 24, 32)
    with torch.inference_mode():
        before = net(x)
    report = export_onnx(net, tmp_path / "f.onnx", static=(24, 32))
    assert not report.dynamic and max(report.max_abs_error.values()) <= 1e-4
    with torch.inference_mode():
        torch.testing.assert_close(net(x), before)
        torch.testing.assert_close(OnnxRuntimeModel(report.path)(x), before, atol=1e-4, rtol=0)
