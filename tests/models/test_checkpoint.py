import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import srlib
from srlib.models import load_state_dict


def test_metadata_describes_the_model(tmp_path) -> None:
    net = srlib.create_model("vdsr", scale=3, depth=4, norm="bn")
    path = srlib.save_model(net, tmp_path / "v.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["arch"] == "vdsr" and meta["scale"] == "3" and meta["srlib_version"] == srlib.__version__
    assert json.loads(meta["kwargs"])["norm"] == "bn"
    assert not list(tmp_path.glob("*.tmp")), "temporary file left behind"


def test_model_built_from_class_saves_too(tmp_path) -> None:
    from srlib.models import VDSR

    net = VDSR(scale=4, depth=2, in_chans=3)
    loaded = srlib.load_model(srlib.save_model(net, tmp_path / "v"))
    assert loaded.in_chans == 3 and loaded.scale == 4 and len(loaded.body) == 2


@pytest.mark.parametrize("wrapper", [None, "params_ema", "params", "state_dict", "model"])
@pytest.mark.parametrize("prefix", ["", "module.", "_orig_mod."])
def test_foreign_pth_unwrapped_and_prefix_stripped(tmp_path, wrapper, prefix) -> None:
    net = srlib.create_model("vdsr", depth=2)
    state = {prefix + k: v for k, v in net.state_dict().items()}
    obj = {wrapper: state, "epoch": 3} if wrapper else state
    torch.save(obj, tmp_path / "w.pth")
    loaded = load_state_dict(tmp_path / "w.pth")
    assert loaded.keys() == net.state_dict().keys()


def test_pickled_module_is_refused(tmp_path) -> None:
    torch.save(torch.nn.Conv2d(1, 1, 3), tmp_path / "whole.pth")
    with pytest.raises(ValueError, match=r"pickled Python objects.*state_dict\(\)"):
        srlib.load_model(tmp_path / "whole.pth")


def test_missing_empty_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        srlib.load_model(tmp_path / "nope.safetensors")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        srlib.load_model(tmp_path / "empty.pth")
    good = srlib.save_model(srlib.create_model("vdsr", depth=2), tmp_path / "good")
    data = good.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        srlib.load_model(tmp_path / "cut.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(ValueError, match=r"could not be read|truncated or corrupt"):
        srlib.load_model(tmp_path / "junk.pth")


def test_strict_loading_names_missing_unexpected_and_shapes(tmp_path) -> None:
    net = srlib.create_model("vdsr", depth=3)
    state = net.state_dict()
    state.pop("body.2.conv.weight")
    state["extra.weight"] = torch.zeros(1)
    state["head.weight"] = torch.zeros(8, 1, 3, 3)
    save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError) as info:
        srlib.load_weights(srlib.create_model("vdsr", depth=3), tmp_path / "bad.safetensors")
    message = str(info.value)
    assert "body.2.conv.weight" in message and "extra.weight" in message
    assert "head.weight: file (8, 1, 3, 3) vs model (64, 1, 3, 3)" in message


def test_unrecognised_foreign_checkpoint_says_what_to_do(tmp_path) -> None:
    torch.save({"mystery.weight": torch.zeros(3, 3)}, tmp_path / "m.pth")
    with pytest.raises(ValueError, match="Could not recognise the architecture"):
        srlib.load_model(tmp_path / "m.pth")
