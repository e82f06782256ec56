"""The shared file-system layer: the content-hashed cache (manifest last) and the ``.npy`` crop reader."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import srlib._cache as cache_module
from srlib._cache import MANIFEST, HashedCache, digest, read_npy_crop, safe_stem


def _fill(data: bytes = b"abc", extra: dict | None = None):
    def fill(folder: Path) -> dict:
        (folder / "a.bin").write_bytes(data)
        (folder / "b.bin").write_bytes(data * 2)
        return {"note": "hello", **(extra or {})}

    return fill


def test_entry_is_written_loaded_and_replaced_by_a_newer_version(tmp_path) -> None:
    cache = HashedCache(tmp_path, version=1)
    old = cache.entry("photo", source="/x/photo.png", content=[10, 1000])
    other = cache.entry("photo", source="/y/photo.png", content=[10, 1000])
    assert old.directory.parent == tmp_path and old.directory.name.startswith("photo-")
    assert cache.load(old) is None
    manifest = cache.build(old, _fill())
    assert manifest["note"] == "hello" and manifest["files"] == {"a.bin": 3, "b.bin": 6}
    assert cache.load(old) == manifest and manifest["key"] == old.key
    cache.build(other, _fill())
    # The same source, edited: a new key; writing it deletes the outdated entry, not the other source's.
    new = cache.entry("photo", source="/x/photo.png", content=[11, 2000])
    assert new.directory != old.directory and new.source_id == old.source_id
    cache.build(new, _fill(b"abcd"))
    assert not old.directory.exists() and cache.load(other) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new.directory.name, other.directory.name])
    # Another format version invalidates everything.
    newer = HashedCache(tmp_path, version=2)
    assert newer.load(newer.entry("photo", source="/x/photo.png", content=[11, 2000])) is None


def test_interrupted_fill_leaves_no_entry_and_no_temporary_folder(tmp_path) -> None:
    cache = HashedCache(tmp_path, version=1)
    entry = cache.entry("clip", source="clip", content=1)

    def killed(folder: Path) -> dict:
        (folder / "a.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.build(entry, killed)
    assert cache.load(entry) is None and list(tmp_path.iterdir()) == []


def test_killed_before_the_manifest_commit_leaves_nothing_that_counts(tmp_path, monkeypatch) -> None:
    cache = HashedCache(tmp_path, version=1)
    entry = cache.entry("clip", source="clip", content=1)
    renamed: list[str] = []
    real_replace = os.replace

    def killed(src, dst):
        renamed.append(Path(src).name)
        raise KeyboardInterrupt  # the manifest's own atomic rename never happens

    monkeypatch.setattr(cache_module.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.build(entry, _fill())
    monkeypatch.setattr(cache_module.os, "replace", real_replace)
    assert cache.load(entry) is None and not list(tmp_path.rglob(MANIFEST))
    assert renamed and all(name.startswith(".") for name in renamed)  # every temporary name is hidden


def test_incomplete_or_tampered_folders_are_rebuilt(tmp_path) -> None:
    cache = HashedCache(tmp_path, version=1)
    entry = cache.entry("clip", source="clip", content=1)
    # A folder of the right name without a manifest (e.g. a copy cut short): not an entry; replaced.
    entry.directory.mkdir()
    (entry.directory / "a.bin").write_bytes(b"partial")
    assert cache.load(entry) is None
    cache.build(entry, _fill())
    assert cache.load(entry) is not None
    # A file shorter than the manifest says, a missing file, a foreign key: all invalid.
    (entry.directory / "a.bin").write_bytes(b"ab")
    assert cache.load(entry) is None
    cache.build(entry, _fill())
    (entry.directory / "b.bin").unlink()
    assert cache.load(entry) is None
    cache.build(entry, _fill())
    manifest = json.loads((entry.directory / MANIFEST).read_text())
    (entry.directory / MANIFEST).write_text(json.dumps({**manifest, "key": "0" * 16}))
    assert cache.load(entry) is None
    (entry.directory / MANIFEST).write_text("{not json")
    assert cache.load(entry) is None
    with pytest.raises(ValueError, match="reserved"):
        cache.build(entry, _fill(extra={"files": []}))


def test_concurrent_writer_keeps_the_first_commit(tmp_path) -> None:
    cache = HashedCache(tmp_path, version=1)
    entry = cache.entry("clip", source="clip", content=1)

    def racing(folder: Path) -> dict:
        cache.build(entry, _fill(b"first"))  # another process commits the same entry meanwhile
        (folder / "a.bin").write_bytes(b"second")
        return {"note": "second"}

    manifest = cache.build(entry, racing)
    assert manifest["files"]["a.bin"] == len(b"first") and manifest["note"] == "hello"
    assert (entry.directory / "a.bin").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == [entry.directory.name]


def test_temporary_folders_of_dead_processes_on_this_host_are_cleaned(tmp_path) -> None:
    cache = HashedCache(tmp_path, version=1)
    host = cache_module._host_id()
    dead = tmp_path / f".clip-a-b.tmp-{host}-999999999-xyz"
    alive = tmp_path / f".clip-a-b.tmp-{host}-{os.getpid()}-xyz"
    elsewhere = tmp_path / ".clip-a-b.tmp-00000000-999999999-xyz"
    for folder in (dead, alive, elsewhere):
        folder.mkdir()
    cache.clean_interrupted()
    assert not dead.exists() and alive.exists() and elsewhere.exists()


def test_names_and_digests() -> None:
    assert safe_stem("../.hidden clip") == "_.hidden_clip" and not safe_stem("...").startswith(".")
    assert digest([1, {"b": 2, "a": 1}]) == digest([1, {"a": 1, "b": 2}]) != digest([1, {"a": 2, "b": 1}])


# ----------------------------------------------------------------------------------------------------
# .npy crops
# ----------------------------------------------------------------------------------------------------


@pytest.fixture
def array() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (3, 37, 53), dtype=np.uint8)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_crops_match_the_array(tmp_path, array, version) -> None:
    path = tmp_path / "frame.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=version)
    rng = np.random.default_rng(1)
    for _ in range(20):
        h, w = int(rng.integers(1, 38)), int(rng.integers(1, 54))
        top, left = int(rng.integers(0, 38 - h)), int(rng.integers(0, 54 - w))
        crop = read_npy_crop(path, top, left, h, w)
        assert crop.flags.c_contiguous and np.array_equal(crop, array[:, top : top + h, left : left + w])
    assert np.array_equal(read_npy_crop(path), array)
    assert np.array_equal(read_npy_crop(path, 30, 50), array[:, 30:, 50:])


@pytest.mark.parametrize("missing", [("preadv",), ("preadv", "pread")])
def test_crops_without_positioned_vector_reads(tmp_path, array, monkeypatch, missing) -> None:
    path = tmp_path / "frame.npy"
    np.save(path, array)
    for name in missing:
        monkeypatch.delattr(cache_module.os, name, raising=False)
    assert np.array_equal(read_npy_crop(path, 5, 7, 10, 11), array[:, 5:15, 7:18])


def test_rewritten_file_is_read_anew(tmp_path, array) -> None:
    path = tmp_path / "frame.npy"
    np.save(path, array)
    read_npy_crop(path, 0, 0, 4, 4)
    np.save(path, array[:, :20, :30].copy())
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert read_npy_crop(path).shape == (3, 20, 30)


def test_crop_errors_name_the_file_and_the_folder_to_delete(tmp_path, array) -> None:
    folder = tmp_path / "cache" / "clip-1-2"
    folder.mkdir(parents=True)
    path = folder / "frame.npy"
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"{path} is missing; delete the cache folder {folder}")
    ):
        read_npy_crop(path)
    np.save(path, array)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(
        ValueError, match=rf"frame.npy is truncated; delete the cache folder {tmp_path / 'cache'}"
    ):
        read_npy_crop(path, cache_folder=tmp_path / "cache")
    np.save(path, array.astype(np.float32))
    with pytest.raises(ValueError, match=r"float32 array .* not a \(C, H, W\) uint8 array"):
        read_npy_crop(path)
    np.save(path, np.asfortranarray(array))
    with pytest.raises(ValueError, match="not a"):
        read_npy_crop(path)
    path.write_bytes(b"garbage, not an npy file at all")
    with pytest.raises(ValueError, match=r"not a readable \.npy array"):
        read_npy_crop(path)
    np.save(path, array)
    with pytest.raises(ValueError, match="outside the 53x37 array"):
        read_npy_crop(path, 30, 0, 10, 10)
