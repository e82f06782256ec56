"""Runs that survive: output-folder guard, resume, non-finite losses, max_time, Ctrl-C, bad input, sweeps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import srlib
from srlib.lit.run import RecipeError
from srlib.train import compose_recipe, main, train
from tests.conftest import DEBUG_TRAIN, TINY_TRAIN

TINY = TINY_TRAIN


class FailingLoss(torch.nn.Module):
    """L1 that turns NaN (or raises Ctrl-C) from its ``after``-th call on."""

    def __init__(self, after: int, failure: str = "nan") -> None:
        super().__init__()
        self.after, self.failure, self.calls = after, failure, 0

    def forward(self, sr, hr):
        self.calls += 1
        loss = (sr - hr).abs().mean()
        if self.calls > self.after:
            if self.failure == "interrupt":
                raise KeyboardInterrupt
            return loss * float("nan")
        return loss


def _cfg(tmp_path: Path, *extra: str):
    return compose_recipe([*TINY, f"output_dir={tmp_path / 'run'}", *extra])


def test_finished_run_is_refused_and_resume_continues(tmp_path) -> None:
    first = train(_cfg(tmp_path))
    assert first["global_steps"] == 4 and Path(first["checkpoint"]).is_file()
    best = Path(first["best_weights"]).read_bytes()
    with pytest.raises(RecipeError, match=r"already holds a run.*resume=true"):
        train(_cfg(tmp_path))
    assert Path(first["best_weights"]).read_bytes() == best  # nothing replaced
    resumed = train(_cfg(tmp_path, "resume=true", "trainer.max_epochs=2"))
    assert resumed["global_steps"] == 8 and resumed["planned_steps"] == 8
    ckpt = torch.load(resumed["checkpoint"], weights_only=False)
    assert ckpt["global_step"] == 8 and ckpt["optimizer_states"][0]["state"]
    with pytest.raises(RecipeError, match="Nothing to resume"):
        train(compose_recipe([*TINY, f"output_dir={tmp_path / 'empty'}", "resume=true"]))


def test_default_run_folders_are_unique(tmp_path, monkeypatch) -> None:
    from srlib.lit.run import run_dir

    monkeypatch.chdir(tmp_path)
    cfg = compose_recipe(TINY)
    folders = {run_dir(cfg) for _ in range(3)}  # the same second
    assert len(folders) == 3 and all(f.is_dir() for f in folders)


def test_non_finite_loss_stops_and_keeps_the_last_good_weights(tmp_path) -> None:
    cfg = _cfg(tmp_path, "trainer.max_epochs=3", "callbacks.checkpoint_every_n_steps=1")
    cfg.loss = OmegaConf.create({"_target_": "tests.test_train_runs.FailingLoss", "after": 5})
    result = train(cfg)
    # The 6th step's loss is NaN: it is skipped (no update) and the run stops there.
    assert result["stopped"] == "non-finite loss" and "step 6" in result["stop_detail"]
    assert result["global_steps"] == 6
    net = srlib.load_model(result["last_weights"])
    assert all(torch.isfinite(v).all() for v in net.state_dict().values())
    ckpt = torch.load(result["checkpoint"], weights_only=False)
    assert ckpt["global_step"] == 6
    for k, v in ckpt["state_dict"].items():
        torch.testing.assert_close(v, net.state_dict()[k.removeprefix("net.")]) if k.startswith(
            "net."
        ) else None
    schedule = json.loads(Path(result["metrics"]).read_text())["schedule"]
    assert schedule == {**schedule, "global_steps": 6, "planned_steps": 12, "stopped": "non-finite loss"}


def test_ctrl_c_saves_a_checkpoint(tmp_path) -> None:
    cfg = _cfg(tmp_path, "trainer.max_epochs=3")
    cfg.loss = OmegaConf.create(
        {"_target_": "tests.test_train_runs.FailingLoss", "after": 6, "failure": "interrupt"}
    )
    with pytest.raises(SystemExit):
        train(cfg)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 6
    resumed = train(_cfg(tmp_path, "trainer.max_epochs=3", "resume=true"))
    assert resumed["global_steps"] == 12 and "stopped" not in resumed


def test_max_time_cut_is_reported(tmp_path, capsys) -> None:
    code = main([*TINY, f"output_dir={tmp_path}", "trainer.max_epochs=400", "trainer.max_time=00:00:00:02"])
    assert code == 0
    out = capsys.readouterr().out
    assert "STOPPED EARLY: max_time" in out and "of 1600 steps" in out
    schedule = json.loads((tmp_path / "metrics.json").read_text())["schedule"]
    assert schedule["stopped"] == "max_time" and schedule["global_steps"] < schedule["planned_steps"] == 1600


def _photos(folder: Path, n: int, size: int = 40) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(torch.randint(0, 255, (size, size, 3), dtype=torch.uint8).numpy()).save(
            folder / f"p{i}.png"
        )
    return folder


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loss.terms.pixel.name=l3"], "l1"),
        (["gan=srgan", "gan.discriminator.name=vgg_discrim"], "vgg_discriminator"),
        (["model=fsrcnx"], "fsrcnn"),
        (["trainer.max_steps=abc"], "trainer.max_steps must be an integer"),
        (["recipe=minisrgan_x4"], "needs init_weights="),
        (["data=folder"], "data.train_dir is required"),
        (["data=folder", "data.train_dir=EMPTY"], "holds no images"),
        (["loss=mse_vgg54"], "vgg19-dcbb9e9d.pth"),
        (
            [
                "loss=mse_vgg54",
                "loss.terms.perceptual.backbone_weights=random",
                "+loss.terms.perceptual.layer_weights.relu5_5=1.0",
            ],
            "relu5_4",
        ),
        (["recipe=finetune", "init_weights=WRONG_SCALE", "data.train_dir=PHOTOS"], "pass scale=2"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_nothing_written(
    tmp_path, capsys, monkeypatch, overrides, message
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no VGG19 in this cache
    (tmp_path / "empty").mkdir()
    weights = srlib.save_model(srlib.create_model("fsrcnn", scale=2), tmp_path / "x2.safetensors")
    photos = _photos(tmp_path / "photos", 3)
    subst = {"EMPTY": str(tmp_path / "empty"), "WRONG_SCALE": str(weights), "PHOTOS": str(photos)}
    args = list(overrides)
    for key, value in subst.items():
        args = [a.replace(key, value) for a in args]
    out_dir = tmp_path / "out"
    scale = ["scale=4"] if "recipe=finetune" in overrides else []
    assert main([*args, *scale, f"output_dir={out_dir}", *DEBUG_TRAIN]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_finetune_foreign_weights_on_a_user_folder_with_holdout(tmp_path) -> None:
    net = srlib.create_model("fsrcnn", scale=2)
    foreign = tmp_path / "fsrcnn.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, foreign)
    photos = _photos(tmp_path / "photos", 10)
    cfg = compose_recipe(
        [
            "recipe=finetune",
            f"init_weights={foreign}",
            f"data.train_dir={photos}",
            "scale=2",
            "data.patch_size=24",
            "data.batch_size=2",
            "data.samples_per_epoch=4",
            "trainer.max_epochs=1",
            f"output_dir={tmp_path / 'run'}",
        ]
    )
    result = train(cfg)
    metrics = json.loads(Path(result["metrics"]).read_text())
    assert metrics["model"]["data"] == "1 images"  # 10% of 10 held out and scored
    assert type(srlib.load_model(result["best_weights"])) is type(net)
    # comparison.png: the three whole images (label bar 14 px), then their zoomed detail below.
    from PIL import Image

    held_out = srlib.io.read_image(next((tmp_path / "photos").glob(f"{result['comparison_image']}.*")))
    with Image.open(result["comparison"]) as sheet:
        assert sheet.width >= 3 * held_out.shape[-1] + 8
        assert sheet.height > 2 * (held_out.shape[-2] + 14)


@pytest.mark.slow  # 8 compositions and 4 trainings: about 13 s on 2 idle cores
def test_sweep_runs_every_cell_and_writes_table_and_plot(tmp_path) -> None:
    root = tmp_path / "sweep"
    assert main(["-m", *TINY, "model=vdsr,vdsr_bn", "model.depth=2,3", f"output_dir={root}"]) == 0
    rows = list(csv.DictReader((root / "summary.csv").open()))
    assert len(rows) == 4 and {r["model"] for r in rows} == {"vdsr", "vdsr_bn"}
    assert all(float(r["psnr"]) > 10 for r in rows)
    assert (root / "summary.md").read_text().count("\n") == 6 and (root / "summary.png").stat().st_size > 1000
    # Continuing the same sweep keeps finished cells.
    assert (
        main(["-m", *TINY, "model=vdsr,vdsr_bn", "model.depth=2,3", f"output_dir={root}", "resume=true"]) == 0
    )
    assert len(list(root.glob("0*"))) == 4


def test_expand_sweep_merges_recipe_and_command_line() -> None:
    from srlib.train import expand_sweep

    runs = expand_sweep(["scale=2,4"], {"model.depth": "12,18", "scale": "2,3,4"})
    assert runs == [
        ["model.depth=12", "scale=2"],
        ["model.depth=12", "scale=4"],
        ["model.depth=18", "scale=2"],
        ["model.depth=18", "scale=4"],
    ]
