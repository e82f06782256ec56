"""srlib._registry: the one Registry(kind) behind models, losses, detectors and datasets."""

from __future__ import annotations

import pytest

from srlib._registry import Registry, check_kwargs, close_matches, match_names, valid_kwargs


class _Net:
    def __init__(self, *, depth: int = 4, width: int = 16) -> None:
        self.depth, self.width = depth, width


def _datasets() -> Registry[dict]:
    reg: Registry[dict] = Registry("dataset", ignore_case=True, aliases=lambda spec: spec["aliases"])
    reg.register("BSD100", {"aliases": ("B100",)})
    reg.register("Set5", {"aliases": ()})
    reg.register("Set14", {"aliases": ()})
    return reg


def test_register_as_call_and_as_decorator_returns_the_entry() -> None:
    reg: Registry[type] = Registry("model")
    assert reg.register("net", _Net) is _Net

    @reg.register("other")
    class Other:
        pass

    assert reg["other"] is Other and reg.lookup("net") is _Net
    assert list(reg) == ["net", "other"] and len(reg) == 2 and "net" in reg


def test_a_name_registered_twice_is_refused_naming_it() -> None:
    reg: Registry[type] = Registry("detector")
    reg.register("block_period", _Net)
    with pytest.raises(ValueError, match=r"Detector name\(s\) \['block_period'\] already registered"):
        reg.register("block_period", object)
    assert reg["block_period"] is _Net  # the first entry stays


def test_an_alias_or_another_case_of_a_name_is_taken_too() -> None:
    reg = _datasets()
    with pytest.raises(ValueError, match=r"\['b100'\] already registered \(as \['BSD100'\]\)"):
        reg.register("b100", {"aliases": ()})
    with pytest.raises(ValueError, match=r"\['Set5'\] already registered \(as \['Set5'\]\)"):
        reg.register("Mine", {"aliases": ("Set5",)})
    assert reg.taken("set14", "B100", "new") == {"set14": "Set14", "B100": "BSD100"}


def test_overwrite_replaces_every_entry_holding_a_name() -> None:
    reg = _datasets()
    new = {"aliases": ("set5",)}
    assert reg.register("BSD100", new, overwrite=True) is new
    assert reg.names() == ["BSD100", "Set14"]  # Set5 held the alias: replaced as well


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        Registry("loss").register("", _Net)


def test_lookup_resolves_aliases_and_case_only_where_the_registry_says() -> None:
    reg = _datasets()
    assert reg.lookup("b100") is reg["BSD100"] and reg.canonical("SET5") == "Set5"
    assert "b100" not in reg and reg.get("b100") is None  # the mapping itself is by exact name
    plain: Registry[type] = Registry("loss", plural="losses")
    plain.register("l1", _Net)
    assert plain.canonical("L1") is None and plain.canonical(["l1"]) is None


def test_unknown_name_names_the_kind_close_matches_and_every_name() -> None:
    reg: Registry[type] = Registry("loss", plural="losses")
    for name in ("l1", "mse", "charbonnier"):
        reg.register(name, _Net)
    with pytest.raises(ValueError) as err:
        reg.lookup("charbonier")
    assert str(err.value) == (
        "Unknown loss 'charbonier'. Did you mean 'charbonnier'? "
        "Registered losses: 'charbonnier', 'l1', 'mse'."
    )
    assert str(Registry("detector").unknown("x")) == "Unknown detector 'x'. Registered detectors: none."


def test_unknown_name_of_a_long_registry_points_to_its_lister_and_adds_the_hint() -> None:
    reg: Registry[type] = Registry("model", lister="srlib.list_models()", hint="Or pass a weight file.")
    for name in ("vdsr", "rrdbnet", "hat"):
        reg.register(name, _Net)
    message = str(reg.unknown("vdsrr"))
    assert message == (
        "Unknown model 'vdsrr'. Did you mean 'vdsr'? srlib.list_models() shows all 3 registered models. "
        "Or pass a weight file."
    )


def test_a_close_alias_suggests_its_owner_once() -> None:
    reg = _datasets()
    assert reg.close_matches("B10") == ["BSD100"]
    assert reg.close_matches("set15") == ["Set5", "Set14"]
    assert reg.close_matches("zzz") == []


def test_names_filter_is_shell_style_or_a_substring_and_sorted_by_the_registry_case() -> None:
    reg = _datasets()
    assert reg.names() == ["BSD100", "Set14", "Set5"]
    assert reg.names("set*") == ["Set14", "Set5"] and reg.names("100") == ["BSD100"]
    assert match_names(["b", "a", "B"], "") == ["B", "a", "b"]
    assert match_names(["hat_s", "hat", "vdsr"], "hat?s") == ["hat_s"]
    assert match_names(["hat_s", "hat", "vdsr"], "HAT*") == []
    assert match_names(["Set5", "set14", "T91"], "SET*", ignore_case=True) == ["set14", "Set5"]


def test_item_assignment_replaces_without_checks_and_copy_is_independent() -> None:
    reg = _datasets()
    twin = reg.copy()
    twin["Mine"] = {"aliases": ("m",)}
    assert twin.lookup("M") is twin["Mine"] and "Mine" not in reg
    del twin["Set5"]
    assert "Set5" in reg and twin.kind == reg.kind and twin.ignore_case


def test_close_matches_keeps_the_original_case() -> None:
    assert close_matches("div2", ["DIV2K", "Flickr2K"], ignore_case=True) == ["DIV2K"]
    assert close_matches("div2", ["DIV2K", "Flickr2K"]) == []
    assert close_matches(3, ["3d", "x"]) == ["3d"]  # any word, as its text


def test_unknown_keyword_names_it_the_valid_ones_and_the_closest() -> None:
    with pytest.raises(ValueError) as err:
        check_kwargs(_Net, {"dpth": 3}, what="Model 'net'")
    assert str(err.value) == (
        "Model 'net' got unknown argument(s) ['dpth']. Valid arguments: ['depth', 'width']. "
        "Did you mean 'depth'?"
    )
    with pytest.raises(ValueError, match=r"\['dpth', 'wdth'\].*Did you mean 'depth' for 'dpth', 'width' for"):
        check_kwargs(_Net, {"dpth": 3, "wdth": 3}, what="Model 'net'")
    check_kwargs(_Net, {"depth": 2}, what="Model 'net'")  # a valid call passes


def test_keyword_check_of_a_class_without_named_parameters_says_none() -> None:
    class Plain:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    with pytest.raises(ValueError, match=r"\['eps'\]\. Valid arguments: none\.$"):
        check_kwargs(Plain, {"eps": 1}, what="Loss 'l1'")
    check_kwargs(Plain, {"eps": 1}, what="Detector 'd'", var_keyword=True)  # forwarded: not checked


def test_missing_required_keyword_is_named_when_asked() -> None:
    def loss(layer_weights: dict, *, criterion: str = "l1") -> None:
        pass

    check_kwargs(loss, {}, what="Loss 'p'")
    with pytest.raises(ValueError, match=r"^Loss 'p' needs the argument\(s\): layer_weights\.$"):
        check_kwargs(loss, {"criterion": "l2"}, what="Loss 'p'", require=True)
    assert valid_kwargs(loss) == ["criterion", "layer_weights"]
