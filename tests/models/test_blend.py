import pytest
import torch

import srlib
from srlib.models import blend_models


def _pair(**kwargs):
    torch.manual_seed(0)
    a = srlib.create_model("vdsr", depth=2, num_feat=8, norm="bn", **kwargs)
    torch.manual_seed(1)
    b = srlib.create_model("vdsr", depth=2, num_feat=8, norm="bn", **kwargs)
    return a, b


def test_blend_is_the_parameterwise_interpolation(tmp_path) -> None:
    a, b = _pair()
    pa, pb = srlib.save_model(a, tmp_path / "a"), srlib.save_model(b, tmp_path / "b")
    mid = blend_models(pa, pb, 0.25)
    for key, value in mid.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.75 * a.state_dict()[key] + 0.25 * b.state_dict()[key])
        else:
            assert torch.equal(value, a.state_dict()[key])
    x = torch.rand(1, 3, 12, 12)
    with torch.inference_mode():
        torch.testing.assert_close(blend_models(a, b, 0.0)(x), a.eval()(x))
        torch.testing.assert_close(blend_models(a, b, 1.0)(x), b.eval()(x))
    assert srlib.load_model(srlib.save_model(mid, tmp_path / "mid")).srlib_arch == "vdsr"


def test_blend_refuses_different_networks_and_weights() -> None:
    a, _ = _pair()
    other = srlib.create_model("vdsr", depth=3, num_feat=8, norm="bn")
    with pytest.raises(ValueError, match="same network"):
        blend_models(a, other, 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        blend_models(a, a, 1.5)
