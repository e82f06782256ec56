import pytest
import torch

from srlib.data import BenchmarkDataset, HRPatchDataset, ImageFolderHRDataModule, T91DataModule
from srlib.metrics import make_lr


def _images(n=3, size=(40, 52)):
    return [(f"im{i}", torch.randint(0, 256, (3, *size), dtype=torch.uint8)) for i in range(n)]


def test_patches_are_scale_aligned_crops() -> None:
    images = _images(1)
    ds = HRPatchDataset(images, scale=3, patch_size=24, augment=False, samples_per_epoch=20)
    assert len(ds) == 20
    full = images[0][1]
    for i in range(5):
        patch = ds[i]["hr"]
        assert patch.shape == (3, 24, 24) and patch.dtype == torch.uint8
        found = [
            (t, l)
            for t in range(0, 40 - 23)
            for l in range(0, 52 - 23)
            if torch.equal(full[:, t : t + 24, l : l + 24], patch)
        ]
        assert found and all(t % 3 == 0 and l % 3 == 0 for t, l in found)


def test_patch_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="not a multiple of scale"):
        HRPatchDataset(_images(), scale=3, patch_size=32)
    with pytest.raises(ValueError, match=r"smaller than the 48px patch.*im0 \(52x40\)"):
        HRPatchDataset(_images(), scale=2, patch_size=48)


def test_benchmark_dataset_modcrops_and_keeps_gray() -> None:
    ds = BenchmarkDataset([("g", torch.zeros(1, 31, 30, dtype=torch.uint8))], scale=4)
    assert ds[0]["hr"].shape == (1, 28, 28)


def test_t91_datamodule_from_root_makes_lr_on_device(t91, set5) -> None:
    dm = T91DataModule(root=t91, scale=2, patch_size=32, batch_size=4, num_workers=0, val_dir=set5)
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["hr"].dtype == torch.uint8
    # Outside a trainer the hook treats the batch like validation: protocol bicubic LR.
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["lr"].shape == (4, 3, 16, 16) and out["hr"].shape == (4, 3, 32, 32)
    assert torch.equal((out["lr"] * 255).round().to(torch.uint8), make_lr(batch["hr"], 2))
    val = next(iter(dm.val_dataloader()))
    assert val["hr"].shape[0] == 1 and len(dm.val_set) == 5


def test_t91_offline_without_copy_names_url_and_folder(tmp_path) -> None:
    dm = T91DataModule(data_dir=tmp_path, download=False, scale=2)
    with pytest.raises(FileNotFoundError) as info:
        dm.prepare_data()
    assert "T91" in str(info.value) and str(tmp_path) in str(info.value)


def test_folder_datamodule_reports_empty_folder(tmp_path) -> None:
    dm = ImageFolderHRDataModule(train_dir=tmp_path, scale=2, patch_size=32, num_workers=0)
    with pytest.raises(ValueError, match="holds no images"):
        dm.setup("fit")


def test_training_batches_go_through_the_configured_degradation() -> None:
    from types import SimpleNamespace

    from srlib.data import BundledPhotosDataModule
    from srlib.degrade import BicubicNoiseDegradation

    deg = BicubicNoiseDegradation(scale=2, seed=0)
    dm = BundledPhotosDataModule(scale=2, patch_size=32, batch_size=2, num_workers=0, degradation=deg)
    dm.trainer = SimpleNamespace(training=True)
    hr = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    out = dm.on_after_batch_transfer({"hr": hr, "name": ["a", "b"]}, 0)
    assert out["lr"].shape == (2, 3, 16, 16) and deg.last_params is not None
    # Noise makes the training LR differ from the clean protocol LR.
    clean = make_lr(hr, 2).float() / 255
    assert (out["lr"] - clean).abs().mean() > 1e-3
