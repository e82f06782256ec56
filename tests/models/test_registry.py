import pytest
import torch

import srlib
from srlib.models import get_model_entry


def test_list_models_filters() -> None:
    names = srlib.list_models()
    assert {"bicubic", "vdsr"} <= set(names) and names == sorted(names)
    assert srlib.list_models("vdsr") == [n for n in names if "vdsr" in n]
    assert srlib.list_models("vds*") == [n for n in names if n.startswith("vds")]
    assert all(3 in get_model_entry(n).scales for n in srlib.list_models(scale=3))


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match=r"Unknown model 'vdsrr'.*'vdsr'"):
        srlib.create_model("vdsrr")


def test_unknown_kwarg_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['layers'\].*'depth'"):
        srlib.create_model("vdsr", layers=3)


def test_unsupported_scale_lists_supported() -> None:
    with pytest.raises(ValueError, match=r"does not support scale 5; supported scales: \[2, 3, 4\]"):
        srlib.create_model("vdsr", scale=5)


def test_model_info_from_name_and_instance() -> None:
    info = srlib.model_info("vdsr")
    assert info.name == "vdsr" and info.params is None and info.scales == (2, 3, 4)
    net = srlib.create_model("vdsr", scale=3)
    info = srlib.model_info(net)
    assert info.scale == 3 and info.params == 664_704 and info.in_channels == 3
    assert "Kim" in info.paper


def test_created_model_records_its_config() -> None:
    net = srlib.create_model("vdsr", scale=4, depth=3)
    assert net.srlib_arch == "vdsr"
    assert net.srlib_config["depth"] == 3 and net.srlib_config["scale"] == 4


def test_unregistered_module_cannot_be_described() -> None:
    with pytest.raises(ValueError, match="not a registered srlib model"):
        srlib.model_info(torch.nn.Conv2d(3, 3, 3))


def test_discriminator_name_points_to_its_factory() -> None:
    with pytest.raises(ValueError, match="create_discriminator"):
        srlib.create_model("unet_discriminator")
