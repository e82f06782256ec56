"""The synthetic pixelation generator and the DataModule."""

from __future__ import annotations

import pytest
import torch

from srlib.detect.data import CLEAN_KINDS, PixelationDataModule, PixelationSynth, pixelate


def _photo(size: int = 64, batch: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    base = torch.rand(batch, 3, size // 8, size // 8, generator=g)
    smooth = torch.nn.functional.interpolate(base, size=(size, size), mode="bicubic", align_corners=False)
    return (smooth + 0.05 * torch.rand(batch, 3, size, size, generator=g)).clamp(0, 1)


def test_replayable_from_seed_and_from_params():
    synth, x = PixelationSynth(), _photo()
    a, la = synth(x, generator=torch.Generator().manual_seed(5))
    params = synth.last_params
    b, lb = synth(x, generator=torch.Generator().manual_seed(5))
    c, lc = synth(x, params)
    assert torch.equal(a, b) and torch.equal(a, c) and torch.equal(la, lb) and torch.equal(la, lc)
    d, _ = synth(x, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(a, d)


def test_parameters_are_per_sample():
    params = PixelationSynth().generate_parameters(64, generator=torch.Generator().manual_seed(0))
    for key in ("label", "block", "area", "region", "jpeg", "blur", "clean_kind", "noise_sigma"):
        assert params[key].shape[0] == 64
        assert params[key].unique().numel() > 1, key
    assert params["block"].min() >= 2 and params["block"].max() <= 16
    assert (params["offset"] < params["block"].ceil()[:, None]).all()


def test_device_follows_input():
    x = _photo(32, 4)
    out, labels = PixelationSynth()(x, generator=torch.Generator().manual_seed(0))
    assert out.device == x.device and labels.device == x.device and out.dtype == torch.float32
    assert out.shape == x.shape and ((out * 255).round() == out * 255).all()


def _params(synth: PixelationSynth, n: int, **fixed) -> dict:
    params = synth.generate_parameters(n, generator=torch.Generator().manual_seed(1))
    for key, value in fixed.items():
        params[key] = torch.as_tensor(value).expand_as(params[key]).clone()
    return params


def test_labels_pixelated_are_blocks_and_clean_originals_unchanged():
    synth, x = PixelationSynth(), _photo(64, 4)
    off = dict(region=False, jpeg=False, blur=False, area=False)
    params = _params(synth, 4, label=True, block=8.0, offset=0, **off)
    out, labels = synth(x, params)
    assert labels.tolist() == [1.0] * 4
    blocks = out.unfold(2, 8, 8).unfold(3, 8, 8)  # (B, C, 8, 8, 8, 8): constant inside each block
    assert (blocks.amax(dim=(-1, -2)) == blocks.amin(dim=(-1, -2))).all()
    params = _params(synth, 4, label=False, clean_kind=CLEAN_KINDS.index("original"))
    out, labels = synth(x, params)
    assert labels.tolist() == [0.0] * 4
    assert torch.equal(out, (x * 255).round() / 255)


def test_block_offsets_shift_the_grid():
    x = _photo(64, 1)
    grids = []
    for offset in (0, 3, 5):
        y = pixelate(x, 8, (offset, offset), area=False)
        jumps = (y[0, 0, 0, 1:] != y[0, 0, 0, :-1]).nonzero().flatten() + 1
        grids.append(set((jumps % 8).tolist()))
    assert grids[0] == {0} and grids[1] == {3} and grids[2] == {5}  # the grid starts `offset` px in
    params = PixelationSynth().generate_parameters(200, generator=torch.Generator().manual_seed(0))
    assert params["offset"].unique().numel() > 5


def test_region_mode_changes_only_the_region():
    synth, x = PixelationSynth(), _photo(64, 1)
    params = _params(synth, 1, label=True, block=8.0, region=True, jpeg=False, blur=False, area=True)
    params["region_size"] = torch.tensor([[0.5, 0.5]])
    params["region_pos"] = torch.tensor([[0.0, 1.0]])  # top-right quarter
    out, _ = synth(x, params)
    changed = (out - (x * 255).round() / 255).abs().sum(dim=1)[0] > 0
    assert changed[:32, 32:].float().mean() > 0.5 and not changed[32:, :].any() and not changed[:, :32].any()


def test_bad_settings():
    with pytest.raises(ValueError, match="block_range"):
        PixelationSynth(block_range=(1, 4))
    with pytest.raises(ValueError, match="clean_weights"):
        PixelationSynth(clean_weights=(1.0,))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        PixelationSynth()(torch.rand(3, 8, 8))


def test_datamodule_splits_are_fixed_and_disjoint():
    dm = PixelationDataModule(
        train_photos=["astronaut"],
        val_photos=["chelsea"],
        test_photos=["coffee"],
        crop_size=64,
        batch_size=4,
        samples_per_epoch=8,
        val_per_image=4,
        test_per_image=4,
    )
    dm.setup("fit")
    dm.setup("test")
    assert len(dm.train_set) == 8 and len(dm.val_set) == 4 and len(dm.test_set) == 4
    batch = next(iter(dm.val_dataloader()))
    a = dm.on_after_batch_transfer(batch, 0)
    b = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert a["image"].shape == (4, 3, 64, 64)


def test_datamodule_names_a_missing_folder(tmp_path):
    dm = PixelationDataModule(train_dirs=[str(tmp_path / "nope")], crop_size=64)
    with pytest.raises(FileNotFoundError, match="nope"):
        dm.setup("fit")


def test_log_block_sampling_and_eval_synth():
    g = torch.Generator().manual_seed(0)
    uniform = PixelationSynth().generate_parameters(4000, generator=g)["block"]
    log = PixelationSynth(block_sampling="log").generate_parameters(4000, generator=g)["block"]
    assert (log < 3).float().mean() > 2 * (uniform < 3).float().mean()
    assert log.min() >= 2 and log.max() <= 16
    dm = PixelationDataModule(synth=PixelationSynth(block_sampling="log"), eval_synth=PixelationSynth())
    images = (torch.rand(4, 3, 32, 32) * 255).to(torch.uint8)
    dm.make_batch(images, seed=1)
    assert dm.eval_synth.last_params is not None and dm.synth.last_params is None
