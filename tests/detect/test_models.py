"""Detector registry, the contract of both detectors, weight files and their errors, the baseline."""

from __future__ import annotations

import json
import shutil

import pytest
import safetensors.torch
import torch

import srlib
from srlib._registry import Registry
from srlib.detect import BlockPeriodDetector, create_detector, list_detectors, load_detector, save_detector
from srlib.detect.data import pixelate
from srlib.detect.models import DetectorWeightsError
from srlib.models import WeightFileError


@pytest.mark.parametrize("name", list_detectors())
def test_contract(name):
    net = create_detector(name).eval()
    with torch.inference_mode():
        out = net(torch.rand(3, 3, 96, 128))
    assert out.shape == (3,) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert 0.0 < net.threshold < 1.0
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(3, 64, 64))


def test_create_detector_errors():
    pattern = r"Did you mean 'mobilenetv3_canny'\? Registered detectors: 'block_period', 'mobilenetv3_canny'"
    with pytest.raises(ValueError, match=pattern):
        create_detector("mobilenet")
    pattern = (
        r"Detector 'mobilenetv3_canny' got unknown argument\(s\) \['depth'\]\. Valid arguments: \[.*'width'"
    )
    with pytest.raises(ValueError, match=pattern):
        create_detector("mobilenetv3_canny", depth=3)
    with pytest.raises(ValueError, match="threshold"):
        create_detector("block_period", threshold=1.5)


def test_register_detector_model_is_the_clear_name_of_register_detector(monkeypatch):
    import srlib.detect
    from srlib.detect import models

    assert srlib.detect.register_detector is srlib.detect.register_detector_model is models.register_detector
    monkeypatch.setattr(models, "_DETECTORS", Registry("detector"))
    srlib.detect.register_detector_model("block_period")(BlockPeriodDetector)
    with pytest.raises(ValueError, match=r"Detector name\(s\) \['block_period'\] already registered"):
        srlib.detect.register_detector_model("block_period")(BlockPeriodDetector)


def test_a_detector_factory_taking_any_keyword_gets_its_own_errors(monkeypatch):
    from srlib.detect import models

    monkeypatch.setattr(models, "_DETECTORS", Registry("detector"))

    @models.register_detector("forwarding")
    def forwarding(**kwargs):
        return BlockPeriodDetector(**kwargs)

    assert create_detector("forwarding", center=0.3).center == 0.3
    with pytest.raises(ValueError, match=r"bad settings for detector 'forwarding'.*depth"):
        create_detector("forwarding", depth=3)


def test_save_load_roundtrip_fp16(tmp_path):
    net = create_detector("mobilenetv3_canny", edges=False).eval()
    net.threshold = 0.7
    path = save_detector(net, tmp_path / "d.safetensors", arch="mobilenetv3_canny")
    back = load_detector(path)
    assert back.edges is False and back.threshold == 0.7
    assert all(p.dtype == torch.float32 for p in back.parameters())
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(net(x), back(x), atol=0.05)
    assert create_detector(str(path), threshold=0.4).threshold == 0.4


def test_weight_file_errors(tmp_path):
    with pytest.raises(DetectorWeightsError, match="does not exist"):
        load_detector(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!")
    with pytest.raises(DetectorWeightsError, match="not a readable safetensors file"):
        create_detector(str(bad))


def test_detector_files_are_srlib_weight_files(tmp_path):
    from safetensors import safe_open

    net = create_detector("mobilenetv3_canny", width=0.75, threshold=0.6)
    path = save_detector(net, tmp_path / "d", extra={"global_step": 7})
    with safe_open(str(path), framework="pt") as f:
        meta, dtypes = f.metadata(), {f.get_tensor(k).dtype for k in f.keys()}  # noqa: SIM118
    assert path.suffix == ".safetensors" and torch.float16 in dtypes
    assert {k: meta[k] for k in ("format", "srlib_format_version", "srlib_kind", "arch")} == {
        "format": "srlib",
        "srlib_format_version": "1",
        "srlib_kind": "detector",
        "arch": "mobilenetv3_canny",
    }
    assert json.loads(meta["kwargs"])["width"] == 0.75 and meta["srlib_version"] == srlib.__version__
    back = load_detector(path)
    assert back.width == 0.75 and back.threshold == 0.6 and back.srlib_file_metadata["global_step"] == "7"
    assert BlockPeriodDetector.srlib_kind == "detector" and back.srlib_arch == "mobilenetv3_canny"


def test_baseline_settings_survive_a_weight_file(tmp_path):
    path = save_detector(create_detector("block_period", center=0.3, periods=(2, 8)), tmp_path / "b")
    back = load_detector(path, threshold=0.2)
    assert (back.center, back.periods, back.threshold) == (0.3, (2, 8), 0.2)


def test_the_sr_and_detector_loaders_send_each_other_s_files_back(tmp_path):
    detector = save_detector(create_detector("block_period"), tmp_path / "det.safetensors")
    with pytest.raises(
        WeightFileError, match=r"holds a detector network \(block_period\).*srlib.load_detector"
    ):
        srlib.load_model(detector)
    sr = srlib.save_model(srlib.create_model("bicubic", scale=2), tmp_path / "sr")
    with pytest.raises(DetectorWeightsError, match=r"super-resolution network \(bicubic\).*srlib.load_model"):
        load_detector(sr)
    foreign = tmp_path / "foreign.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(DetectorWeightsError, match="not an srlib detector weight file"):
        load_detector(foreign)


def test_detector_files_from_before_the_shared_format_still_load(tmp_path):
    """The first detector files: ``srlib_kind`` and no ``format`` entry (as the shipped weights are)."""
    net = create_detector("mobilenetv3_canny", edges=False).eval()
    legacy = {
        "srlib_kind": "detector",
        "arch": "mobilenetv3_canny",
        "kwargs": json.dumps({"edges": False, "width": 1.0}),
        "threshold": "0.42",
        "global_step": "3",
    }
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    path = tmp_path / "old.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=legacy)
    back = load_detector(path)
    assert back.edges is False and back.threshold == 0.42
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(net(x), back(x), atol=0.05)


def test_export_weights_writes_a_trained_detector(tmp_path):
    """Lightning's SR exporter (ExportWeights) serves detectors: the network says its kind and name."""
    from types import SimpleNamespace

    from srlib.lit.callbacks import ExportWeights

    net = create_detector("block_period", center=0.25)
    exporter = ExportWeights(tmp_path, monitor="val/f1")
    exporter.on_train_end(
        SimpleNamespace(is_global_zero=True, callbacks=[], datamodule=None), SimpleNamespace(net=net)
    )
    assert load_detector(exporter.last_path).center == 0.25
    assert load_detector(exporter.best_path).center == 0.25


def _copy_shipped(tmp_path, monkeypatch):
    import srlib._package_weights as pw

    entry = pw.find_packaged("detector", "mobilenetv3_canny")
    folder = tmp_path / "weights"
    folder.mkdir()
    for file in entry.files:
        shutil.copy(file, folder / file.name)
    (folder / f"{entry.name}.json").write_text(json.dumps(entry.card))
    monkeypatch.setattr(pw, "WEIGHTS_DIR", folder)
    pw._all_cards.cache_clear()
    return folder / entry.files[-1].name


def test_shipped_weights_missing_or_damaged(tmp_path, monkeypatch):
    import srlib._package_weights as pw

    weights = _copy_shipped(tmp_path, monkeypatch)
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(pw.PackagedWeightsError, match="damaged"):
        create_detector("mobilenetv3_canny", pretrained=True)
    weights.unlink()
    with pytest.raises(pw.PackagedWeightsError, match="missing"):
        create_detector("mobilenetv3_canny", pretrained=True)


def _photos() -> torch.Tensor:
    import skimage.data

    out = []
    for name in ("astronaut", "coffee", "chelsea"):
        array = torch.from_numpy(getattr(skimage.data, name)().copy()).permute(2, 0, 1)
        out.append(array[:, :256, :256].float() / 255)
    return torch.stack(out)


def test_baseline_detects_clear_pixelation_and_passes_clean_photos():
    photos, det = _photos(), BlockPeriodDetector()
    pixelated = torch.cat(
        [
            pixelate(photos, b, (o, 2 * o % b), area=a)
            for b, o, a in ((4, 1, False), (8, 5, True), (12, 7, False))
        ]
    )
    with torch.inference_mode():
        assert (torch.sigmoid(det(pixelated)) > det.threshold).all()
        assert (torch.sigmoid(det(photos)) < det.threshold).all()
