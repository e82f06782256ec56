"""The protocol reproduces the published bicubic rows (VDSR paper, Table 3) within 0.02 dB."""

import pytest
import torch

import srlib
from srlib.evaluation import evaluate_folder
from srlib.metrics import make_lr, modcrop

PUBLISHED_BICUBIC = {
    "Set5": {2: 33.66, 3: 30.39, 4: 28.42},
    "Set14": {2: 30.24, 3: 27.55, 4: 26.00},
}


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
def test_bicubic_matches_published_tables(dataset: str, scale: int, request) -> None:
    folder = request.getfixturevalue(dataset.lower())
    result = evaluate_folder(srlib.create_model("bicubic", scale=scale), folder, scale)
    expected = PUBLISHED_BICUBIC[dataset][scale]
    assert abs(result.psnr - expected) <= 0.02, f"{dataset} x{scale}: {result.psnr:.3f} vs {expected}"
    assert len(result.per_image) == (5 if dataset == "Set5" else 14)


def test_modcrop_and_make_lr() -> None:
    hr = torch.randint(0, 256, (3, 31, 22), dtype=torch.uint8)
    cropped = modcrop(hr, 4)
    assert cropped.shape == (3, 28, 20)
    lr = make_lr(cropped, 4)
    assert lr.dtype == torch.uint8 and lr.shape == (3, 7, 5)
    with pytest.raises(ValueError, match="modcrop"):
        make_lr(hr, 4)
    with pytest.raises(ValueError, match="uint8"):
        make_lr(cropped.float(), 4)
