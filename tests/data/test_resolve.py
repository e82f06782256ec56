"""One rule for "a catalogue name or a folder": resolve_image_dirs and every caller that uses it."""

from __future__ import annotations

import io
import shlex
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srlib.data import catalogue
from srlib.data.__main__ import main as data_cli
from srlib.data.catalogue import DatasetSpec, Resource, get_dataset
from srlib.data.datamodules import DIV2KDataModule, ImageFolderDataModule, resolve_image_folder
from srlib.data.download import (
    resolve_dataset_dir,
    resolve_dataset_dirs,
    resolve_image_dir,
    resolve_image_dirs,
)

SHARED_SET5 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "Set5"


def _png(seed: int) -> bytes:
    img = (np.arange(8 * 8 * 3).reshape(8, 8, 3) * (seed + 1) % 256).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _images(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{i:04d}.png").write_bytes(_png(i))
    return folder


def _closed_port_url(path: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def _offline_dataset(monkeypatch, data_dir: Path, name: str = "TinySR") -> DatasetSpec:
    """A catalogue entry whose archive was copied by hand into ``data_dir/downloads`` (no network)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(2):
            zf.writestr(f"Tiny_HR/{i:04d}.png", _png(i))
    body = buf.getvalue()
    filename = f"{name.lower()}_hr.zip"
    (data_dir / "downloads").mkdir(parents=True, exist_ok=True)
    (data_dir / "downloads" / filename).write_bytes(body)
    res = Resource(_closed_port_url(f"/{filename}"), filename, None, len(body), ("train/hr",))
    spec = DatasetSpec(name=name, folder=name, resources=(res,), layout={"train/hr": ("Tiny_HR",)})
    monkeypatch.setitem(catalogue._REGISTRY, name, spec)
    return spec


def test_an_existing_folder_wins_even_over_a_catalogue_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    own = _images(tmp_path / "Set5")
    assert resolve_image_dirs("Set5") == [Path("Set5")]
    assert resolve_image_dir(own, kind="lr", scale=4) == own  # kind/scale do not apply to a folder
    assert resolve_image_folder("Set5", split="test") == Path("Set5")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_image_dir("~/Set5") == own


def test_a_dataset_spec_is_never_taken_for_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "DIV2K")  # a folder named like the dataset in the working directory
    with pytest.raises(FileNotFoundError, match="DIV2K train/hr images are not in"):
        resolve_image_dirs(get_dataset("DIV2K"), split="train", data_dir=tmp_path / "data")
    dm = DIV2KDataModule(data_dir=tmp_path / "data", download=False, scale=2)
    with pytest.raises(FileNotFoundError, match="are not in"):
        dm.train_folders()


def test_names_are_case_insensitive_and_typos_get_suggestions(tmp_path):
    if SHARED_SET5.is_dir():
        assert resolve_image_dir("set5", root=SHARED_SET5) == SHARED_SET5
    with pytest.raises(FileNotFoundError) as err:
        resolve_image_dirs("Set55", data_dir=tmp_path)
    msg = str(err.value)
    assert "'Set55' is neither an existing folder nor a dataset" in msg and "Did you mean Set5" in msg
    with pytest.raises(FileNotFoundError, match="Did you mean DIV2K"):
        resolve_image_dirs("div2", data_dir=tmp_path)


def test_missing_folder_and_file_paths_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="empty"):
        resolve_image_dirs("")  # not silently the working directory
    missing = tmp_path / "nowhere" / "images"
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        resolve_image_dirs(missing)
    assert str(missing) in str(err.value)
    a_file = tmp_path / "photo.png"
    a_file.write_bytes(_png(0))
    with pytest.raises(FileNotFoundError, match="is a file, not a folder") as err:
        resolve_image_dirs(a_file)
    assert str(a_file) in str(err.value)


def test_missing_catalogue_data_names_the_folder_and_a_command_that_works(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    _offline_dataset(monkeypatch, data_dir)
    with pytest.raises(FileNotFoundError) as err:
        resolve_image_dirs("tinysr", data_dir=data_dir)
    msg = str(err.value)
    assert str(data_dir / "TinySR" / "Tiny_HR") in msg and "root=" in msg
    command = msg.split("`")[1]
    assert command.startswith("python -m srlib.data download TinySR --split train --kind hr --data-dir ")
    # The command in the message does the job (the archive is on disk: no network).
    assert data_cli([*shlex.split(command)[3:], "--no-progress"]) == 0
    assert "ready" in capsys.readouterr().out
    assert resolve_image_dirs("tinysr", data_dir=data_dir) == [data_dir / "TinySR" / "Tiny_HR"]


def test_the_former_resolvers_agree(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    _offline_dataset(monkeypatch, data_dir)
    expected = [data_dir / "TinySR" / "Tiny_HR"]
    assert resolve_image_dirs("TinySR", data_dir=data_dir, download=True, progress=False) == expected
    assert resolve_dataset_dirs("TinySR", data_dir=data_dir) == expected
    assert [resolve_dataset_dir("tinysr", data_dir=data_dir)] == expected
    assert [resolve_image_folder("TinySR", data_dir=data_dir)] == expected
    dm = ImageFolderDataModule(train_dir="TinySR", data_dir=data_dir, scale=2, patch_size=4)
    assert dm.train_folders() == (expected, None)
    # The catalogue-only names still refuse what is not a dataset name, with a ValueError as before.
    with pytest.raises(ValueError, match="Unknown dataset"):
        resolve_dataset_dir(str(tmp_path))


def test_test_split_means_valid_where_there_is_no_test(tmp_path):
    div2k = tmp_path / "DIV2K"
    valid = _images(div2k / "DIV2K_valid_HR")
    assert resolve_image_dir("DIV2K", split="test", root=div2k) == valid
    assert resolve_image_dir("DF2K", split="test", root=tmp_path) == valid  # DF2K validates on DIV2K valid
    with pytest.raises(ValueError, match="has no split 'train'; it has test"):
        resolve_image_dirs("Set5", split="train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="kind must be 'hr' or 'lr'"):
        resolve_image_dirs("Set5", kind="x", data_dir=tmp_path)


def test_a_union_is_several_folders(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    _offline_dataset(monkeypatch, data_dir, "TinyA")
    _offline_dataset(monkeypatch, data_dir, "TinyB")
    union = DatasetSpec(
        name="TinyAB",
        folder="",
        components=("TinyA", "TinyB"),
        component_splits={"train": ("TinyA", "TinyB")},
    )
    monkeypatch.setitem(catalogue._REGISTRY, "TinyAB", union)
    dirs = resolve_image_dirs("TinyAB", data_dir=data_dir, download=True, progress=False)
    assert dirs == [data_dir / "TinyA" / "Tiny_HR", data_dir / "TinyB" / "Tiny_HR"]
    with pytest.raises(ValueError, match="spans 2 folders"):
        resolve_image_dir("TinyAB", data_dir=data_dir)
    # HR-only training takes all of them; paired training needs one LR folder per HR folder.
    dm = ImageFolderDataModule(train_dir="TinyAB", data_dir=data_dir, scale=2, patch_size=4)
    assert dm.train_folders() == (dirs, None)
    paired = ImageFolderDataModule(
        train_dir="TinyAB", lr_dir=tmp_path, data_dir=data_dir, scale=2, patch_size=4
    )
    with pytest.raises(ValueError, match="is 2 folders"):
        paired.train_folders()
    merged = _images(tmp_path / "merged")  # a merged HR folder given as root is the single folder
    assert resolve_image_dirs("TinyAB", root=merged) == [merged]


def test_data_cli_lists_and_reports_errors(capsys):
    assert data_cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "DIV2K" in out and "T91" in out and "HR only" in out
    assert data_cli(["download", "Nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Unknown dataset 'Nope'" in err
