import torch

from srlib.ops import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def test_studio_range_endpoints() -> None:
    white, black = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    assert torch.allclose(
        rgb_to_ycbcr(white)[0, :, 0, 0] * 255, torch.tensor([235.0, 128.0, 128.0]), atol=1e-3
    )
    assert torch.allclose(
        rgb_to_ycbcr(black)[0, :, 0, 0] * 255, torch.tensor([16.0, 128.0, 128.0]), atol=1e-3
    )


def test_round_trip_and_y_consistent() -> None:
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    ycc = rgb_to_ycbcr(x)
    assert torch.allclose(ycbcr_to_rgb(ycc), x, atol=1e-10)
    assert torch.allclose(rgb_to_y(x), ycc[:, :1], atol=1e-12)


def test_rejects_wrong_channels() -> None:
    import pytest

    with pytest.raises(ValueError, match="3, H, W"):
        rgb_to_y(torch.rand(1, 1, 4, 4))
