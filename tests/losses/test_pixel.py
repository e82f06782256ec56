from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srlib.losses import CharbonnierLoss, L1Loss, MSELoss, charbonnier_loss, l1_loss, mse_loss


def test_l1_and_mse_match_torch() -> None:
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(l1_loss(sr, hr), F.l1_loss(sr, hr))
    torch.testing.assert_close(mse_loss(sr, hr), F.mse_loss(sr, hr))
    torch.testing.assert_close(L1Loss()(sr, hr), F.l1_loss(sr, hr))
    torch.testing.assert_close(MSELoss()(sr, hr), F.mse_loss(sr, hr))


@pytest.mark.parametrize("eps", [1e-3, 1e-6, 0.5])
def test_charbonnier_matches_formula(eps: float) -> None:
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    expected = torch.sqrt((sr - hr) ** 2 + eps**2).mean()
    torch.testing.assert_close(charbonnier_loss(sr, hr, eps=eps), expected)
    torch.testing.assert_close(CharbonnierLoss(eps=eps)(sr, hr), expected)


def test_charbonnier_of_identical_inputs_is_eps_and_smooth() -> None:
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    loss = charbonnier_loss(x, x.detach().clone())
    assert float(loss.detach()) == pytest.approx(1e-3)
    loss.backward()
    assert torch.isfinite(x.grad).all()  # no NaN gradient at zero difference, unlike sqrt(diff^2)


def test_gradient_reaches_sr() -> None:
    sr, hr = torch.rand(1, 3, 8, 8, requires_grad=True), torch.rand(1, 3, 8, 8)
    (l1_loss(sr, hr) + mse_loss(sr, hr) + charbonnier_loss(sr, hr)).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0


@pytest.mark.parametrize("fn", [l1_loss, mse_loss, charbonnier_loss])
def test_shape_mismatch_is_value_error(fn) -> None:
    with pytest.raises(ValueError, match=r"same shape.*\(1, 3, 8, 8\).*\(1, 3, 16, 16\)"):
        fn(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16))


@pytest.mark.parametrize("eps", [0, -1e-3, float("nan"), "small"])
def test_bad_eps(eps: object) -> None:
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        CharbonnierLoss(eps=eps)  # type: ignore[arg-type]
