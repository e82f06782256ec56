import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from srlib.data import ImageTooLargeError, list_images, max_image_pixels, read_image, scan_images, write_image
from srlib.io.images import MAX_PIXELS_ENV, read_headers


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


# -- untrusted input: the pixel limit and hidden files -----------------------------------------------


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit PNG of ``width x height`` zeros: a few KB on disk, ``3 * width * height`` decoded."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = bytes(height * (1 + (width + 7) // 8))  # filter byte + packed bits per row, all zero
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Any attempt to decode pixels fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{self.filename} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)


def test_pixel_limit_refuses_from_the_header_without_decoding(tmp_path, monkeypatch, no_decoding) -> None:
    big = _png_declaring(tmp_path / "big.png", 10000, 10000)
    assert big.stat().st_size < 100_000
    monkeypatch.setenv(MAX_PIXELS_ENV, "50_000_000")
    with pytest.raises(ImageTooLargeError) as info:
        read_image(big)
    message = str(info.value)
    for part in ("big.png", "10000x10000", "100.0 megapixels", "50,000,000", "max_pixels=", MAX_PIXELS_ENV):
        assert part in message
    assert isinstance(info.value, ValueError) and info.value.limit == 50_000_000
    monkeypatch.delenv(MAX_PIXELS_ENV)
    with pytest.raises(ImageTooLargeError, match=r"1,000,000 pixels"):
        read_image(big, max_pixels=1_000_000)  # the argument
    with pytest.raises(
        ValueError, match=r"(?s)1 problem file.*big\.png is 10000x10000.*over srlib's limit of 99,999,999"
    ):
        scan_images([big], max_pixels=99_999_999)  # the dataset header scan
    headers, problems = read_headers([big])  # 100 MP: exactly the default limit
    assert not problems and (headers[0].width, headers[0].height) == (10000, 10000)


def test_over_pils_own_limit_gives_srlibs_error_naming_the_file(tmp_path, no_decoding) -> None:
    huge = _png_declaring(tmp_path / "huge.png", 20000, 20000)  # over 2x PIL's limit: a bomb error there
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError, match=r"huge\.png is 20000x20000 \(400\.0 megapixels\)"):
        read_image(huge)
    _, problems = read_headers([huge])
    assert len(problems) == 1 and "huge.png" in problems[0] and "DecompressionBomb" not in problems[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 96 MP: over PIL's warning threshold, under srlib's limit
        headers, problems = read_headers([_png_declaring(tmp_path / "ok.png", 9800, 9800)])
    assert not problems and headers[0].width == 9800
    assert before == Image.MAX_IMAGE_PIXELS  # PIL's own limit is back for everybody else
    with pytest.raises(Image.DecompressionBombError):
        Image.open(huge)


def test_pixel_limit_settings_are_validated(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=rf"{MAX_PIXELS_ENV}='lots' is not a positive whole number"):
        max_image_pixels()
    monkeypatch.setenv(MAX_PIXELS_ENV, "250000000")
    assert max_image_pixels() == 250_000_000 and max_image_pixels(7) == 7
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert max_image_pixels() == 100_000_000
    with pytest.raises(ValueError, match="max_pixels must be a positive"):
        max_image_pixels(0)
    err = pickle.loads(pickle.dumps(ImageTooLargeError(tmp_path / "a.png", 3, 4, 5)))
    assert (err.width, err.height, err.limit) == (3, 4, 5) and "a.png" in str(err)


def test_hidden_files_and_folders_are_skipped(tmp_path) -> None:
    _save(tmp_path / "a.png", np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork
    _save(tmp_path / ".hidden.png", np.zeros((40, 40, 3), np.uint8))
    (tmp_path / ".b.png.k2j3h4.tmp").write_bytes(b"half-written")  # srlib's own temporary name
    (tmp_path / ".c.png").write_bytes(b"half-written")
    for sub in ("sub", ".cache", "sub/.git"):
        (tmp_path / sub).mkdir()
        _save(tmp_path / sub / "d.png", np.zeros((40, 40, 3), np.uint8))
    assert list_images(tmp_path) == [tmp_path / "a.png"]
    assert list_images(tmp_path, recursive=True) == [tmp_path / "a.png", tmp_path / "sub" / "d.png"]
    assert len(scan_images(list_images(tmp_path), min_size=32)) == 1
    outer = tmp_path / "outer"
    (outer / ".inner").mkdir(parents=True)
    _save(outer / ".inner" / "e.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(ValueError, match=r"names starting with '\.' are skipped"):
        list_images(outer, recursive=True)
    hidden = tmp_path / ".cache"
    assert list_images(hidden) == [hidden / "d.png"]  # a hidden folder named explicitly is listed


def test_write_image_files_follow_the_umask(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        path = write_image(tmp_path / "out.png", torch.zeros(3, 4, 4, dtype=torch.uint8))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
