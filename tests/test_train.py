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
from tests.conftest import DEBUG_TRAIN, REPO, shared_path

RECIPES = list_recipes()

#: Recipes whose debug run (+debug=tiny) takes over ~3 s on 2 idle cores (measured, AMD EPYC), and why:
#: they run in CI (`.ci/run`, `-m "slow or not slow"`), not in the default `python -m pytest`.
SLOW_DEBUG_RUNS = {
    "hat_lite_x2": "HAT attention on 128 px patches, about 13 s",
    "hat_lite_x4": "HAT attention on 128 px patches, about 4 s",
    "minisrgan_x4": "GAN: VGG19 perceptual loss and a discriminator, about 7 s",
    "mobilesr_x4_gan": "GAN: VGG19 perceptual loss and a discriminator, about 7 s",
    "realesrgan_x4": "GAN: VGG19 perceptual loss and a U-Net discriminator, about 9 s",
    "pixelation_detector": "detector: threshold choice and test scoring after fit, about 18 s",
}


def _needs(recipe: str, tmp_path: Path, *, weights: bool = True) -> list[str]:
    """The overrides a recipe cannot build without: the weights a staged recipe starts from, photos."""
    import srlib

    cfg = compose_recipe([f"recipe={recipe}"])
    extra = []
    if weights and "init_weights" in (cfg.get("requires") or []):
        name = "fsrcnn" if cfg.model.name == "from_weights" else str(cfg.model.name)
        weights = srlib.save_model(srlib.create_model(name, scale=int(cfg.scale)), tmp_path / "w.safetensors")
        extra.append(f"init_weights={weights}")
    if OmegaConf.is_missing(cfg.data, "train_dir"):  # data=folder: the user's photos
        extra.append(f"data.train_dir={tmp_path}")
    for key, term in (cfg.loss.get("terms") or {}).items() if cfg.get("loss") else ():
        if "backbone_weights" in term:
            extra.append(f"loss.terms.{key}.backbone_weights=random")  # no VGG19 download here
    return extra


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_builtin_recipe_composes_and_builds(recipe: str, tmp_path) -> None:
    """Each recipe builds its network, loss, optimizer, degradation and Lightning module (or detector)."""
    from hydra.utils import get_class, instantiate

    cfg = compose_recipe([f"recipe={recipe}", *_needs(recipe, tmp_path)])
    assert cfg.name == recipe
    get_class(str(cfg.data._target_))  # the data module exists (building it needs the data itself)
    if cfg.get("task") == "detector":
        from srlib.detect.models import create_detector
        from srlib.detect.module import DetectorModule

        model = OmegaConf.to_container(cfg.model, resolve=True)
        net = create_detector(str(model.pop("name")), **model)
        module = DetectorModule(
            net,
            optimizer=instantiate(cfg.optimizer),
            scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
            scheduler_interval=str(cfg.module.scheduler_interval),
        )
        assert module.net is net
        instantiate(cfg.optimizer)(net.parameters())
        return
    from srlib.lit.run import build_module, build_network

    net = build_network(cfg)
    assert net.scale == cfg.scale
    module = build_module(cfg, net)
    assert module.net is net and (cfg.gan != {}) == hasattr(module, "discriminator")
    instantiate(cfg.optimizer)(net.parameters())
    assert instantiate(cfg.degrade).scale == cfg.scale


def test_staged_recipes_without_their_weights_are_refused_first(tmp_path) -> None:
    """``requires: [init_weights]`` stops the run with the key named, before any data is read or written."""
    from srlib.lit.run import RecipeError

    staged = 0
    for recipe in RECIPES:
        required = list(compose_recipe([f"recipe={recipe}"]).get("requires") or [])
        if not required:
            continue
        staged += 1
        out = tmp_path / recipe
        cfg = compose_recipe(
            [f"recipe={recipe}", *_needs(recipe, tmp_path, weights=False), f"output_dir={out}"]
        )
        with pytest.raises(RecipeError, match=rf"needs {required[0]}="):
            train(cfg)
        assert not out.exists(), recipe
        # The recipe file itself tells the user what to pass.
        assert f"{required[0]}=" in (recipes_root() / "recipe" / f"{recipe}.yaml").read_text(), recipe
    assert staged >= 6  # fsrcnn_x2/x3, the three GAN stages, finetune


def _data_overrides(cfg, request: pytest.FixtureRequest) -> list[str]:
    """Point a recipe's data at ../shared/data (skipping, with the reason, when it is absent)."""
    target = str(cfg.data._target_)
    if target.endswith("BundledPhotosDataModule"):
        return []  # photos shipped with scikit-image: runs without ../shared too
    if target.endswith("T91DataModule"):
        return [
            f"data.root={shared_path('data', 'T91')}",
            f"data.val_dir={request.getfixturevalue('tiny_val')}",
        ]
    if target.endswith("ImageFolderDataModule"):
        return [
            f"data.train_dir={shared_path('data', 'T91')}",
            f"data.val_dir={request.getfixturevalue('tiny_val')}",
        ]
    if target.endswith("VideoPairDataModule") and "clips" in cfg.data:
        return [f"data.root={request.getfixturevalue('tiny_clip_pairs')}"]
    if target.endswith("PixelationDataModule"):
        # T91 (train), Set14 and Set5 (test) under one root; 2 crops per image keep the scoring short.
        return [f"data.root={shared_path('data')}", "data.val_per_image=2", "data.test_per_image=2"]
    pytest.skip(f"no local data for {target} (needs a download); the recipe is composed and built above")


@pytest.mark.parametrize(
    "recipe",
    [pytest.param(r, marks=pytest.mark.slow) if r in SLOW_DEBUG_RUNS else r for r in RECIPES],
)
def test_every_builtin_recipe_trains_with_debug(recipe: str, tmp_path, request) -> None:
    """``recipe=NAME +debug=tiny`` runs the recipe's whole path: fit, checkpoint, export, final scores."""
    import srlib

    base = compose_recipe([f"recipe={recipe}"])
    out = tmp_path / "run"
    cfg = compose_recipe(
        [
            f"recipe={recipe}",
            *_needs(recipe, tmp_path),
            *_data_overrides(base, request),
            *DEBUG_TRAIN,
            f"output_dir={out}",
        ]
    )
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.data.samples_per_epoch) == (1, 2, 8)
    result = train(cfg)
    assert "stopped" not in result, result
    assert result["global_steps"] == result["planned_steps"] > 0
    assert (out / "recipe.yaml").is_file() and Path(result["checkpoint"]).is_file()
    metrics = json.loads(Path(result["metrics"]).read_text())
    if cfg.get("task") == "detector":
        from srlib.detect.models import load_detector

        assert load_detector(result["best_weights"]) is not None
        assert {"detector", "baseline"} <= set(metrics)
        return
    net = srlib.load_model(result["best_weights"])
    assert net.scale == cfg.scale
    assert metrics["model"]["psnr"] > 0 and metrics["bicubic"]["psnr"] > 0


def test_sweep_recipes_expand_to_their_grid() -> None:
    from srlib.train import expand_sweep

    cfg = compose_recipe(["recipe=vdsr_ablation"])
    runs = expand_sweep([], OmegaConf.to_container(cfg.sweep))
    assert len(runs) == 36 and runs[0] == ["model=vdsr", "model.depth=12", "scale=2"]
    cell = compose_recipe(["recipe=vdsr_ablation", *runs[-1]])
    assert (cell.model.norm, cell.model.block_residual, cell.model.depth, cell.scale) == ("bn", True, 30, 4)


def test_recipes_listed() -> None:
    """list_recipes() names every recipe file of the tree (the parametrised tests above start from it)."""
    assert sorted(p.stem for p in (REPO / "recipes" / "recipe").glob("*.yaml")) == RECIPES
    assert {"quickstart", "finetune", "vdsr_x2", "pixelation_detector"} <= set(RECIPES)
    assert (recipes_root() / "train.yaml").is_file()


def test_debug_group_wins_over_the_recipe_and_loses_to_the_command_line() -> None:
    """``+debug=tiny`` is appended after the recipe; a key=value given after it still wins."""
    cfg = compose_recipe(["recipe=vdsr_x2", *DEBUG_TRAIN])
    assert (cfg.trainer.max_epochs, cfg.trainer.precision) == (1, "32-true")
    assert (cfg.data.batch_size, cfg.data.samples_per_epoch, cfg.data.num_workers) == (2, 8, 0)
    assert cfg.data.patch_size == 42 and cfg.model.depth == 18  # the recipe's own sizes stay
    assert compose_recipe(["recipe=vdsr_x2", *DEBUG_TRAIN, "trainer.max_epochs=3"]).trainer.max_epochs == 3


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


@pytest.mark.slow
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
    for recipe in RECIPES:
        assert f"srlib/recipes/recipe/{recipe}.yaml" in names
    assert "srlib/recipes/debug/tiny.yaml" in names
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
