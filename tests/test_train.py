"""The training CLI: recipes compose, errors are clear, a recipe runs, and the quickstart itself."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from srlib.train import compose_recipe, list_recipes, main, recipes_root, train
from tests.conftest import REPO

BUILTIN = [
    "quickstart",
    "vdsr_x2",
    "vdsr_x3",
    "vdsr_x4",
    "vdsr_ablation",
    "vdsr_ablation_short",
    "fsrcnn_x4",
    "edsr_baseline_x4",
    "mobilesr_x4",
    "mobilesr_x4_gan",
    "minisrresnet_x4",
    "minisrgan_x4",
    "hat_lite_x2",
    "hat_lite_x4",
    "realesrnet_x4",
    "realesrgan_x4",
    "finetune",
]


@pytest.mark.parametrize("recipe", BUILTIN)
def test_every_builtin_recipe_composes_and_builds(recipe: str, tmp_path) -> None:
    """Each recipe builds its network, loss, optimizer, degradation and Lightning module."""
    from hydra.utils import instantiate

    import srlib
    from srlib.lit.run import build_module, build_network

    overrides = [f"recipe={recipe}"]
    if recipe == "finetune":
        weights = srlib.save_model(srlib.create_model("fsrcnn", scale=4), tmp_path / "w.safetensors")
        overrides += [f"init_weights={weights}", f"data.train_dir={tmp_path}"]
    cfg = compose_recipe(overrides)
    assert cfg.name == recipe
    assert "init_weights" not in cfg.requires or recipe in (
        "finetune",
        "minisrgan_x4",
        "mobilesr_x4_gan",
        "realesrgan_x4",
    )
    for term in (cfg.loss.get("terms") or {}).values():
        if "backbone_weights" in term:
            term.backbone_weights = "random"  # no VGG19 download here
    net = build_network(cfg)
    assert net.scale == cfg.scale
    module = build_module(cfg, net)
    assert module.net is net and (cfg.gan != {}) == hasattr(module, "discriminator")
    instantiate(cfg.optimizer)(net.parameters())
    assert instantiate(cfg.degrade).scale == cfg.scale


def test_sweep_recipes_expand_to_their_grid() -> None:
    from srlib.train import expand_sweep

    cfg = compose_recipe(["recipe=vdsr_ablation"])
    runs = expand_sweep([], OmegaConf.to_container(cfg.sweep))
    assert len(runs) == 36 and runs[0] == ["model=vdsr", "model.depth=12", "scale=2"]
    cell = compose_recipe(["recipe=vdsr_ablation", *runs[-1]])
    assert (cell.model.norm, cell.model.block_residual, cell.model.depth, cell.scale) == ("bn", True, 30, 4)


def test_recipes_listed() -> None:
    assert set(BUILTIN) <= set(list_recipes())
    assert (recipes_root() / "train.yaml").is_file()


def test_unknown_recipe_and_key_errors_suggest_fixes(capsys) -> None:
    with pytest.raises(ValueError, match=r"Unknown recipe 'vdsr_x5'.*vdsr_x"):
        compose_recipe(["recipe=vdsr_x5"])
    with pytest.raises(ValueError, match=r"unknown key 'trainer.max_epoch'.*trainer.max_epochs"):
        compose_recipe(["trainer.max_epoch=2"])
    assert main(["model.dept=3"]) == 2
    assert "model.depth" in capsys.readouterr().err


def test_user_recipe_file_and_folder(tmp_path) -> None:
    own = tmp_path / "tiny.yaml"
    own.write_text(
        "# @package _global_\ndefaults:\n  - override /data: bundled\n"
        "name: tiny\nscale: 3\nmodel:\n  depth: 2\n"
    )
    cfg = compose_recipe([f"recipe={own}"])
    assert cfg.name == "tiny" and cfg.scale == 3 and cfg.model.depth == 2
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "other.yaml").write_text("# @package _global_\nname: other\nscale: 4\n")
    assert compose_recipe(["recipes_dir=" + str(folder), "recipe=other"]).scale == 4
    with pytest.raises(FileNotFoundError):
        compose_recipe([f"recipe={tmp_path / 'missing.yaml'}"])


def test_vdsr_recipe_fast_dev_run_on_t91(tmp_path, t91, set5) -> None:
    cfg = compose_recipe(
        [
            "recipe=vdsr_x2",
            f"data.root={t91}",
            f"data.val_dir={set5}",
            "data.num_workers=0",
            "data.batch_size=4",
            "model.depth=2",
            "trainer.fast_dev_run=true",
            f"output_dir={tmp_path}",
        ]
    )
    result = train(cfg)
    assert Path(result["last_weights"]).is_file() and result["global_steps"] == 1
    assert (tmp_path / "recipe.yaml").is_file()


def test_wheel_ships_the_recipes(tmp_path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("srlib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for recipe in BUILTIN:
        assert f"srlib/recipes/recipe/{recipe}.yaml" in names
    assert "srlib/recipes/train.yaml" in names and "srlib/recipes/model/vdsr.yaml" in names


@pytest.mark.slow
def test_quickstart_command_beats_bicubic(tmp_path) -> None:
    """The README's main job exactly as a user runs it (only the output folder is redirected)."""
    out = subprocess.run(
        [sys.executable, "-m", "srlib.train", f"output_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("best.safetensors", "last.safetensors", "metrics.json", "comparison.png"):
        assert (tmp_path / name).is_file(), name
        assert str(tmp_path / name) in out.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"]["psnr"] > metrics["bicubic"]["psnr"] + 0.3, metrics
    assert metrics["model"]["ssim"] > metrics["bicubic"]["ssim"]


@pytest.mark.parametrize("degrade", ["bicubic", "realesrgan", "bicubic_noise", "bicubic_jpeg", "video"])
def test_degrade_group_builds_every_degradation(degrade: str) -> None:
    import torch
    from hydra.utils import instantiate

    cfg = compose_recipe([f"degrade={degrade}", "scale=4"])
    lr, hr = instantiate(cfg.degrade)(torch.rand(2, 3, 32, 32))
    assert lr.shape == (2, 3, 8, 8) and hr.shape == (2, 3, 32, 32)
