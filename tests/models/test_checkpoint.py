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


# --- untrusted metadata is checked before anything is allocated ------------------------------------


def _forge(tmp_path, metadata: dict, net=None):
    """A safetensors file holding a small VDSR's tensors under the given header metadata."""
    net = net or srlib.create_model("vdsr", depth=2, num_feat=8)
    path = tmp_path / "forged.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata=metadata)
    return path


def _srlib_meta(**changes) -> dict:
    meta = {"format": "srlib", "srlib_format_version": "1", "arch": "vdsr", "scale": "2"}
    meta["kwargs"] = json.dumps({"depth": 2, "num_feat": 8, "scale": 2})
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"depth": 2, "num_feat": 200_000, "scale": 2},  # ~400 GB of weights if allocated
        {"depth": 50_000_000, "num_feat": 8, "scale": 2},  # millions of layers
    ],
)
def test_small_file_asking_for_a_huge_model_is_refused_at_once(tmp_path, kwargs) -> None:
    import time
    import tracemalloc

    path = _forge(tmp_path, _srlib_meta(kwargs=json.dumps(kwargs)))
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(srlib.models.WeightFileError, match=str(path)):
        srlib.load_model(path)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 50 * 2**20, (elapsed, peak)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"arch": None}, "'arch' entry is missing"),
        ({"kwargs": None}, "'kwargs' entry is missing"),
        ({"kwargs": "{not json"}, "not valid JSON"),
        ({"kwargs": "[1, 2]"}, "must be a JSON object"),
        ({"kwargs": json.dumps({"depth": "two", "num_feat": 8})}, "cannot be built"),
        ({"kwargs": json.dumps({"depth": 2, "layers": 8})}, "unknown argument"),
        ({"arch": "no_such_net"}, "Unknown model 'no_such_net'"),
        ({"scale": "x2"}, "'scale' must be a whole number"),
        ({"scale": "4"}, "'scale' says 4"),
        ({"srlib_format_version": "99"}, "newer than this srlib"),
        ({"kwargs": json.dumps({"depth": 3, "num_feat": 8, "scale": 2})}, "missing keys"),
    ],
)
def test_every_metadata_problem_is_one_error_naming_the_file(tmp_path, changes, says) -> None:
    path = _forge(tmp_path, _srlib_meta(**changes))
    with pytest.raises(srlib.models.WeightFileError, match=says) as err:
        srlib.load_model(path)
    assert str(path) in str(err.value)


def test_tagged_model_round_trips_with_its_tag(tmp_path) -> None:
    net = srlib.create_model("minisrgan", num_feat=8, num_blocks=1)
    assert (net.srlib_arch, net.srlib_tag) == ("minisrresnet", "gan")
    loaded = srlib.load_model(srlib.save_model(net, tmp_path / "g"))
    assert (loaded.srlib_arch, loaded.srlib_tag) == ("minisrresnet", "gan")
    assert srlib.model_info(loaded).tag == "gan"


def test_file_written_under_the_old_flat_name_still_loads(tmp_path) -> None:
    net = srlib.create_model("minisrresnet", num_feat=8, num_blocks=1)
    kwargs = json.dumps(net.srlib_config)
    meta = {"format": "srlib", "arch": "minisrgan", "kwargs": kwargs, "scale": "4"}
    path = _forge(tmp_path, meta, net)
    assert srlib.load_model(path).srlib_tag == "gan"
