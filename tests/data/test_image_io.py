import numpy as np
import pytest
import torch
from PIL import Image

from srlib.data import list_images, read_image, scan_images, write_image


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_modes_are_converted_as_documented(tmp_path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    gray = rgb[:, :, 0]
    _save(tmp_path / "rgb.png", rgb)
    _save(tmp_path / "gray.png", gray)
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")

    assert torch.equal(read_image(tmp_path / "rgb.png"), torch.from_numpy(rgb).permute(2, 0, 1))
    assert read_image(tmp_path / "gray.png", channels="keep").shape == (1, 10, 12)
    assert read_image(tmp_path / "gray.png").shape == (3, 10, 12)
    assert torch.equal(read_image(tmp_path / "rgba.png"), read_image(tmp_path / "rgb.png"))
    assert read_image(tmp_path / "palette.png").shape == (3, 10, 12)
    assert read_image(tmp_path / "cmyk.jpg").shape == (3, 10, 12)
    sixteen = read_image(tmp_path / "sixteen.png", channels="keep")
    assert sixteen.dtype == torch.uint8 and torch.equal(sixteen[0], torch.from_numpy(gray))


def test_corrupt_and_truncated_files_are_named(tmp_path) -> None:
    (tmp_path / "junk.png").write_bytes(b"definitely not a png")
    good = _save(tmp_path / "good.png", np.zeros((64, 64, 3), np.uint8) + 7)
    data = good.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"junk\.png.*corrupt"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(ValueError, match=r"cut\.png"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def test_scan_reports_every_bad_file_at_once(tmp_path) -> None:
    (tmp_path / "a_junk.png").write_bytes(b"xx")
    _save(tmp_path / "b_small.png", np.zeros((8, 8, 3), np.uint8))
    _save(tmp_path / "c_ok.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(ValueError) as info:
        scan_images(list_images(tmp_path), min_size=32)
    message = str(info.value)
    assert "2 problem file(s)" in message and "a_junk.png" in message and "b_small.png" in message


def test_empty_and_missing_folders(tmp_path) -> None:
    with pytest.raises(ValueError, match="holds no images"):
        list_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "nope")


def test_write_image_round_trip_atomic(tmp_path) -> None:
    x = torch.randint(0, 256, (3, 9, 7), dtype=torch.uint8)
    path = write_image(tmp_path / "out.png", x)
    assert torch.equal(read_image(path), x)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    write_image(tmp_path / "f.png", x.float() / 255)
    assert torch.equal(read_image(tmp_path / "f.png"), x)


def test_scan_finds_truncated_png_by_its_missing_end_chunk(tmp_path) -> None:
    rng = np.random.default_rng(1)
    good = _save(tmp_path / "noise.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = good.read_bytes()
    (tmp_path / "noise.png").write_bytes(data[: len(data) - 200])
    with pytest.raises(ValueError, match=r"noise\.png: truncated PNG"):
        scan_images(list_images(tmp_path))
