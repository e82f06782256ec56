"""The dataset catalogue: names, look-up errors, checksums and archive layouts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from srlib.data import catalogue
from srlib.data.catalogue import Checksum, DatasetSpec, Resource, get_dataset, layout_key, list_datasets

EXPECTED = {"T91", "DIV2K", "Flickr2K", "DF2K", "Set5", "Set14", "BSD100", "Urban100"}


def test_list_datasets_has_the_catalogue():
    names = list_datasets()
    assert set(names) >= EXPECTED
    assert names == sorted(names, key=str.lower)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_entry_is_well_formed(name):
    spec = get_dataset(name)
    assert spec.name == name
    assert spec.description and spec.citation
    if spec.is_union:
        assert spec.components and not spec.resources
        for comp in spec.components:
            assert get_dataset(comp).name == comp
        return
    assert spec.resources and spec.layout
    provided = set()
    for res in spec.resources:
        assert res.url.startswith(("https://", "http://"))
        assert res.url.rsplit("/", 1)[1] == res.filename
        assert res.size is None or res.size > 0
        if res.checksum is not None:  # valid hex of the right length for the algorithm
            assert len(res.checksum.value) == hashlib.new(res.checksum.algorithm).digest_size * 2
            int(res.checksum.value, 16)
        assert res.source  # every value says where it came from
        provided |= set(res.provides)
    assert provided == set(spec.layout)  # every folder comes from some archive, and only known ones


def test_published_checksums_are_pinned():
    """Values copied from the cited sources (see catalogue.py); a typo here would break real downloads."""
    div2k = {r.filename: r for r in get_dataset("DIV2K").resources}
    assert len(div2k) == 8
    assert div2k["DIV2K_train_HR.zip"].size == 3530603713
    assert div2k["DIV2K_train_HR.zip"].checksum.value.startswith("9d0b9c463f6e35b6")
    x4 = div2k["DIV2K_valid_LR_bicubic_X4.zip"]
    assert x4.checksum.value == "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553"
    bench = get_dataset("Set14").resources[0]
    assert bench is get_dataset("Urban100").resources[0]  # one shared download
    assert bench.checksum == Checksum(
        "sha256", "80c21c333bbf6ceb5308b7243761f8284478274413a97b96f1d63e9045fd93e8"
    )
    assert bench.size == 250112000
    assert get_dataset("Flickr2K").resources[0].checksum == Checksum(
        "md5", "5d3f39443d5e9489bff8963f8f26cb03"
    )
    t91 = get_dataset("T91").resources[0]
    assert t91.checksum is None and t91.size is None  # none published: not invented


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError) as err:
        get_dataset("DIV2")
    msg = str(err.value)
    assert "Did you mean" in msg and "DIV2K" in msg
    assert all(n in msg for n in EXPECTED)  # the full list
    with pytest.raises(ValueError, match="Set14"):
        get_dataset("Set41")


def test_names_are_case_insensitive_with_aliases():
    assert get_dataset("div2k").name == "DIV2K"
    assert get_dataset("B100").name == "BSD100"
    assert get_dataset("bsds100").name == "BSD100"
    assert get_dataset("flickr2k").name == "Flickr2K"


def test_image_dir_layouts():
    root = Path("/data/x")
    div2k = get_dataset("DIV2K")
    assert div2k.splits == ("train", "valid")
    assert div2k.image_dir(root) == root / "DIV2K_train_HR"
    assert div2k.image_dir(root, split="val") == root / "DIV2K_valid_HR"
    assert div2k.image_dir(root, "train", "lr", 3) == root / "DIV2K_train_LR_bicubic" / "X3"
    assert div2k.scales("valid") == (2, 3, 4)
    assert div2k.lr_name("0001.png", 2) == "0001x2.png"
    assert (
        get_dataset("Flickr2K").image_dir(root, kind="lr", scale=4)
        == root / "Flickr2K/Flickr2K_LR_bicubic/X4"
    )
    assert get_dataset("BSD100").image_dir(root) == root / "benchmark/B100/HR"
    assert get_dataset("Set5").default_split == "test"
    assert (
        get_dataset("Urban100").image_dir(root, "test", "lr", 2) == root / "benchmark/Urban100/LR_bicubic/X2"
    )
    assert get_dataset("T91").image_dir(root) == root / "T91"
    assert get_dataset("T91").scales() == ()


def test_image_dir_prefers_an_existing_alternative(tmp_path):
    (tmp_path / "Set5" / "HR").mkdir(parents=True)  # someone extracted benchmark/ one level up
    assert get_dataset("Set5").image_dir(tmp_path) == tmp_path / "Set5" / "HR"
    (tmp_path / "benchmark" / "Set5" / "HR").mkdir(parents=True)  # the canonical one wins when present
    assert get_dataset("Set5").image_dir(tmp_path) == tmp_path / "benchmark" / "Set5" / "HR"


def test_image_dir_bad_requests_name_the_choices():
    div2k = get_dataset("DIV2K")
    with pytest.raises(ValueError, match="train, valid"):
        div2k.image_dir("/d", split="test")
    with pytest.raises(ValueError, match="needs a scale"):
        div2k.image_dir("/d", kind="lr")
    with pytest.raises(ValueError, match="x2, x3, x4"):
        div2k.image_dir("/d", kind="lr", scale=8)
    with pytest.raises(ValueError, match="'hr' or 'lr'"):
        div2k.image_dir("/d", kind="sr")
    with pytest.raises(ValueError, match="HR images only"):
        get_dataset("T91").image_dir("/d", kind="lr", scale=2)


def test_df2k_is_the_union_of_div2k_and_flickr2k():
    df2k = get_dataset("DF2K")
    assert df2k.components == ("DIV2K", "Flickr2K")
    with pytest.raises(ValueError, match="image_dirs"):
        df2k.image_dir("/d")
    assert df2k.image_dirs("/d") == [
        Path("/d/DIV2K/DIV2K_train_HR"),
        Path("/d/Flickr2K/Flickr2K/Flickr2K_HR"),
    ]
    assert df2k.image_dirs("/d", split="valid") == [Path("/d/DIV2K/DIV2K_valid_HR")]


def test_resources_for_picks_the_archive():
    div2k = get_dataset("DIV2K")
    assert [r.filename for r in div2k.resources_for("train", "lr", 4)] == ["DIV2K_train_LR_bicubic_X4.zip"]
    assert len(div2k.resources_for("valid", None)) == 4


def test_checksum_parse_and_validation():
    assert Checksum.parse("SHA256:" + "A" * 64) == Checksum("sha256", "a" * 64)
    assert str(Checksum("md5", "0" * 32)) == "md5:" + "0" * 32
    with pytest.raises(ValueError, match="64 hex"):
        Checksum("sha256", "abc")
    with pytest.raises(ValueError, match="Unknown checksum algorithm"):
        Checksum("crc99", "00")
    with pytest.raises(ValueError, match="sha256:<hex>"):
        Checksum.parse("deadbeef")


def test_resource_and_spec_validation():
    with pytest.raises(ValueError, match="not a supported archive"):
        Resource("http://x/a.rar", "a.rar", None)
    with pytest.raises(ValueError, match="plain file name"):
        Resource("http://x/a.zip", "../a.zip", None)
    with pytest.raises(ValueError, match="unknown layout keys"):
        DatasetSpec("X", "X", resources=(Resource("http://x/a.zip", "a.zip", None, provides=("train/hr",)),))
    with pytest.raises(ValueError, match="relative"):
        DatasetSpec("X", "X", layout={"train/hr": ("../up",)})
    assert layout_key("train", "lr", 2) == "train/lr_x2"


def test_register_dataset_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(catalogue, "_REGISTRY", catalogue._REGISTRY.copy())
    spec = DatasetSpec("MySet", "MySet", layout={"test/hr": ("HR",)}, aliases=("mine",))
    catalogue.register_dataset(spec)
    assert get_dataset("MINE") is spec
    with pytest.raises(ValueError, match="already registered"):
        catalogue.register_dataset(DatasetSpec("div2k", "d"))
    replacement = DatasetSpec("MySet", "Other", layout={"test/hr": ("HR",)})
    assert catalogue.register_dataset(replacement, overwrite=True) is replacement
    assert get_dataset("myset").folder == "Other"


def test_an_entry_put_in_directly_answers_to_its_name_and_aliases(monkeypatch):
    spec = DatasetSpec("TinyAB", "TinyAB", layout={"test/hr": ("HR",)}, aliases=("tab",))
    monkeypatch.setitem(catalogue._REGISTRY, "TinyAB", spec)  # how other tests add a dataset
    assert get_dataset("tinyab") is spec and get_dataset("TAB") is spec
    assert "TinyAB" in list_datasets() and catalogue.close_matches("TinyA") == ["TinyAB"]
