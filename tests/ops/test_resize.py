import math

import numpy as np
import pytest
import torch

from srlib.ops import imresize


def _matlab_reference(line: np.ndarray, scale: float) -> np.ndarray:
    """Direct per-pixel evaluation of MATLAB's imresize along one line (float64, slow)."""

    def cubic(x):
        ax = abs(x)
        if ax <= 1:
            return 1.5 * ax**3 - 2.5 * ax**2 + 1
        if ax <= 2:
            return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
        return 0.0

    n = len(line)
    out_len = math.ceil(n * scale)
    width = 4 / scale if scale < 1 else 4
    out = np.zeros(out_len)
    for i in range(out_len):
        u = (i + 1) / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        acc, total = 0.0, 0.0
        for j in range(left, left + math.ceil(width) + 2):
            w = scale * cubic(scale * (u - j)) if scale < 1 else cubic(u - j)
            k = (j - 1) % (2 * n)
            k = k if k < n else 2 * n - 1 - k
            acc += w * line[k]
            total += w
        out[i] = acc / total
    return out


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.25, 2.0, 3.0, 4.0])
def test_matches_direct_matlab_formula(scale: float) -> None:
    line = np.random.default_rng(0).uniform(0, 1, 23)
    expected = _matlab_reference(line, scale)
    # A one-row image: the row pass only ever sees copies of that row, so the width pass is compared.
    got = imresize(torch.from_numpy(line)[None, :].double(), scale)
    assert torch.allclose(got[0], torch.from_numpy(expected), atol=1e-12)


def test_shapes_dtype_and_constant_preserved() -> None:
    x = torch.full((2, 3, 12, 18), 0.3)
    y = imresize(x, 0.5)
    assert y.shape == (2, 3, 6, 9) and y.dtype == x.dtype
    assert torch.allclose(y, torch.full_like(y, 0.3), atol=1e-6)
    assert imresize(x, 3.0).shape == (2, 3, 36, 54)


def test_uint8_rounds_after_each_pass() -> None:
    x = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    y = imresize(x, 0.5)
    assert y.dtype == torch.uint8
    # Rounding twice differs from rounding once for some pixels, but never by more than one level.
    once = imresize(x.double(), 0.5).round()
    assert (y.double() - once).abs().max() <= 1


def test_separable_order_equivalent_in_float() -> None:
    x = torch.rand(1, 1, 20, 20, dtype=torch.float64)
    down = imresize(x, 0.5)
    manual = imresize(imresize(x, size=(10, 20)), size=(10, 10))
    assert torch.allclose(down, manual, atol=1e-12)


def test_errors() -> None:
    with pytest.raises(ValueError, match="scale or size"):
        imresize(torch.rand(1, 4, 4))
    with pytest.raises(ValueError, match="positive"):
        imresize(torch.rand(1, 4, 4), -1.0)
    with pytest.raises(ValueError, match="shape"):
        imresize(torch.rand(4), 2.0)


# ----------------------------------------------------------------------------------------------------
# One resampling vocabulary: resolve_filter and resize
# ----------------------------------------------------------------------------------------------------


def test_filter_names_aliases_and_unknown_names() -> None:
    from srlib.ops import FILTER_ALIASES, FILTERS, resolve_filter

    assert all(resolve_filter(name) == name for name in FILTERS)
    assert resolve_filter("matlab") == "bicubic" and FILTER_ALIASES == {"matlab": "bicubic"}
    with pytest.raises(
        ValueError, match=r"Unknown resize filter 'lanczos' in resize; choose one of bicubic, "
    ):
        resolve_filter("lanczos", where="resize")
    with pytest.raises(ValueError, match=r"'torch_area' is not available here\); choose one of bicubic"):
        resolve_filter("torch_area", allowed=("bicubic", "bilinear", "area"))
    with pytest.raises(ValueError, match="Unknown resize filter 'Bicubic'"):
        resolve_filter("Bicubic")


@pytest.mark.parametrize("size", [(12, 20), (80, 100), (37, 26)])
def test_resize_filters_match_their_references(size: tuple[int, int]) -> None:
    import torch.nn.functional as F

    from srlib.ops import resize

    x = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        resize(x, size, filter="bilinear"),
        F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False),
        atol=1e-5,
        rtol=0,
    )
    for name in ("area", "bilinear", "bicubic"):
        torch.testing.assert_close(
            resize(x, size, filter=f"torch_{name}"), F.interpolate(x, size=size, mode=name), atol=2e-5, rtol=0
        )
    torch.testing.assert_close(resize(x, size, filter="bicubic"), imresize(x, size=size))
    assert torch.equal(resize(x, size, filter="matlab"), resize(x, size, filter="bicubic"))


def test_resize_by_factor() -> None:
    import torch.nn.functional as F

    from srlib.ops import resize

    x = torch.rand(3, 36, 52, dtype=torch.float64)
    assert torch.equal(resize(x, scale=0.5), imresize(x, 0.5))  # "bicubic" by one factor is imresize
    torch.testing.assert_close(resize(x, scale=0.25, filter="area"), F.avg_pool2d(x[None], 4)[0])
    assert resize(x, scale=(1 / 3, 2.0), filter="bilinear").shape == (3, 12, 104)
    assert resize(x, scale=0.5, filter="torch_area").shape == (3, 18, 26)
    # The factor fixes the grid; size only says how much of it is kept.
    full = resize(x, scale=(0.7, 0.7), filter="area")
    torch.testing.assert_close(resize(x, (20, 30), scale=(0.7, 0.7), filter="area"), full[:, :20, :30])
    # uint8 stays uint8; bicubic rounds after each pass as MATLAB (and imresize) does.
    u = (torch.rand(3, 20, 24) * 255).to(torch.uint8)
    assert torch.equal(resize(u, (10, 12), scale=0.5), imresize(u, 0.5))
    assert resize(u, (7, 9), filter="bilinear").dtype == torch.uint8
    assert resize(x, (36, 52), filter="area") is x
    with pytest.raises(ValueError, match="resizes edge to edge"):
        resize(x, (10, 10), scale=0.5, filter="torch_bicubic")
    with pytest.raises(ValueError, match="needs size"):
        resize(x)
    with pytest.raises(ValueError, match="Unknown resize filter 'nearest' in resize"):
        resize(x, (10, 10), filter="nearest")
