import dataclasses

import pytest
import torch

import srlib
from srlib._registry import Registry
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


def test_weight_tags_are_timm_style_names_of_one_architecture() -> None:
    assert {"minisrresnet.gan", "minisrresnet.l2"} <= set(srlib.list_models(tags=True))
    assert "minisrresnet.gan" not in srlib.list_models() and "minisrgan" not in srlib.list_models()
    net = srlib.create_model("minisrresnet.gan", num_feat=8, num_blocks=1)
    assert type(net).__name__ == "MiniSRResNet" and net.srlib_tag == "gan"
    assert srlib.model_info("minisrgan").name == "minisrresnet"
    with pytest.raises(ValueError, match=r"no weight tag 'adv'.*\['l2', 'gan'\]"):
        srlib.create_model("minisrresnet.adv")


def test_discriminators_share_the_zoo_namespace_but_not_its_listing() -> None:
    from srlib.models import _registry

    entry = srlib.models.get_discriminator_entry("unet_discriminator")
    assert entry.kind == "discriminator" and _registry._DISCRIMINATORS["unet_discriminator"] is entry
    assert not set(srlib.models.list_discriminators()) & set(srlib.list_models())
    with pytest.raises(ValueError, match="Unknown discriminator 'vdsr'"):
        srlib.models.create_discriminator("vdsr")


def test_a_name_of_one_kind_is_refused_for_the_other(monkeypatch) -> None:
    from srlib.models import _registry

    monkeypatch.setattr(_registry, "_MODELS", Registry("model", aliases=_registry._tag_aliases))
    monkeypatch.setattr(_registry, "_DISCRIMINATORS", Registry("discriminator"))
    _registry.register_model(srlib.models.vdsr.vdsr)
    with pytest.raises(ValueError, match=r"\['vdsr'\] already registered as the model"):
        _registry.register_discriminator(srlib.models.vdsr.vdsr)
    with pytest.raises(ValueError, match=r"Model name\(s\) \['vdsr'\] already registered"):
        _registry.register_model(srlib.models.vdsr.vdsr)


def test_a_tag_alias_is_a_name_of_its_architecture() -> None:
    from srlib.models import _registry

    assert _registry.split_name("minisrgan") == ("minisrresnet", "gan")
    assert _registry.split_name("minisrresnet.l2") == ("minisrresnet", "l2")
    entry = _registry.get_model_entry("minisrresnet")
    with pytest.raises(ValueError, match=r"\['minisrgan'\] already registered \(as \['minisrresnet'\]\)"):
        _registry._MODELS.register("minisrgan_copy", dataclasses.replace(entry, name="minisrgan_copy"))


def test_detection_order_is_declared_not_imported() -> None:
    from srlib.models._registry import detection_order

    order = [e.name for e in detection_order()]
    assert order.index("tinysrgan") < order.index("minisrresnet")
    assert set(order) >= {"vdsr", "hat", "rrdbnet", "edsr_baseline", "srvgg_compact"}
    # Apart from the declared constraint the order is alphabetical, so import order cannot matter.
    rest = [n for n in order if n != "tinysrgan"]
    assert rest == sorted(rest)


def test_detect_before_cycle_is_reported(monkeypatch) -> None:
    from srlib.models import _registry

    entry = _registry._MODELS["minisrresnet"]
    monkeypatch.setitem(
        _registry._MODELS, "minisrresnet", dataclasses.replace(entry, detect_before=("tinysrgan",))
    )
    with pytest.raises(ValueError, match="cycle"):
        _registry.detection_order()
