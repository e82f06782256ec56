"""Train a model from a recipe: ``python -m srlib.train [recipe=NAME] [key=value ...]``.

Recipes are Hydra configs (the ``recipes/`` tree, shipped inside the package). ``recipe=`` takes a
built-in name (``quickstart``, ``vdsr_x2``, ...) or the path of your own recipe file; add
``recipes_dir=DIR`` to make the recipes in your own folder available by name. ``key=value``
overrides any setting (``trainer.max_epochs=3``, ``data.root=/data/T91``, ``model.depth=12``).

With no arguments it runs the quickstart: a small VDSR trained for about two minutes on photos
bundled with scikit-image, then evaluated against bicubic on held-out photos.
"""

from __future__ import annotations

import difflib
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from srlib._logging import setup_cli_logging

__all__ = ["compose_recipe", "list_recipes", "main", "recipes_root", "train"]

log = logging.getLogger("srlib.train")

_SPECIAL_KEYS = ("recipe", "recipes_dir")


def recipes_root() -> Path:
    """The built-in recipe tree (package data in a wheel, ``recipes/`` in a checkout)."""
    packaged = Path(str(resources.files("srlib") / "recipes"))
    if (packaged / "train.yaml").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[1] / "recipes"
    if (checkout / "train.yaml").is_file():
        return checkout
    raise FileNotFoundError(
        f"srlib's recipes are missing (looked in {packaged} and {checkout}); reinstall srlib."
    )


def list_recipes(recipes_dir: str | Path | None = None) -> list[str]:
    """Names accepted by ``recipe=`` (built-in, plus those in ``recipes_dir``)."""
    folders = [recipes_root() / "recipe"]
    if recipes_dir is not None:
        folders.append(_user_recipe_folder(Path(recipes_dir)))
    return sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")})


def _user_recipe_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise FileNotFoundError(f"recipes_dir {folder} does not exist.")
    return folder / "recipe" if (folder / "recipe").is_dir() else folder


@contextmanager
def _config_tree(recipe: str, recipes_dir: str | None):
    """A temporary copy of the built-in tree with the user's recipe file/folder merged in."""
    with tempfile.TemporaryDirectory(prefix="srlib-recipes-") as tmp:
        tree = Path(tmp) / "recipes"
        shutil.copytree(recipes_root(), tree)
        if recipes_dir is not None:
            user = Path(recipes_dir).expanduser()
            src = user if (user / "train.yaml").is_file() or (user / "recipe").is_dir() else None
            if src is not None:
                shutil.copytree(src, tree, dirs_exist_ok=True)
            else:
                for file in _user_recipe_folder(user).glob("*.yaml"):
                    shutil.copy(file, tree / "recipe" / file.name)
        name = recipe
        as_path = Path(recipe).expanduser()
        if recipe.endswith((".yaml", ".yml")) or as_path.is_file():
            if not as_path.is_file():
                raise FileNotFoundError(f"Recipe file {as_path} does not exist.")
            name = as_path.stem
            shutil.copy(as_path, tree / "recipe" / f"{name}.yaml")
        available = sorted(p.stem for p in (tree / "recipe").glob("*.yaml"))
        if name not in available:
            close = difflib.get_close_matches(name, available, n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"Unknown recipe {name!r}.{hint} Available: {', '.join(available)}. "
                "A path to your own .yaml recipe works too."
            )
        yield tree, name


def compose_recipe(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose the config ``python -m srlib.train`` would run, without running it.

    Args:
        overrides: command-line style ``key=value`` strings, ``recipe=`` and ``recipes_dir=`` included.

    Raises:
        ValueError: unknown recipe (with close matches) or unknown key (with the valid keys).
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, HydraException

    special = {k: None for k in _SPECIAL_KEYS}
    rest = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.lstrip("+~") in special:
            special[key.lstrip("+~")] = value
        else:
            rest.append(item)
    recipe = special["recipe"] or "quickstart"
    with _config_tree(recipe, special["recipes_dir"]) as (tree, name):
        with initialize_config_dir(config_dir=str(tree), version_base="1.3"):
            try:
                cfg = compose(config_name="train", overrides=[f"recipe={name}", *rest])
            except (ConfigCompositionException, HydraException) as err:
                base = compose(config_name="train", overrides=[f"recipe={name}"])
                raise ValueError(_explain_override_error(err, rest, base)) from err
    return cfg


def _explain_override_error(err: Exception, overrides: Sequence[str], base: DictConfig) -> str:
    """Name each override key the recipe does not have, with the closest existing keys."""
    problems = []
    for item in overrides:
        key = item.partition("=")[0]
        if key.startswith(("+", "~")) or not key:
            continue
        parent_path, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(base, parent_path) if parent_path else base
        if isinstance(parent, DictConfig) and leaf not in parent:
            close = difflib.get_close_matches(leaf, [str(k) for k in parent], n=3, cutoff=0.5)
            valid = ", ".join(str(k) for k in parent)
            suggestion = (
                f" Did you mean {', '.join(f'{parent_path}.{c}' if parent_path else c for c in close)}?"
            )
            problems.append(f"unknown key {key!r}.{suggestion if close else ''} Keys there: {valid}.")
    if problems:
        return "Could not apply the overrides: " + " ".join(problems)
    message = str(err).splitlines()[0]
    hint = (
        " Keys are dotted paths into the recipe (trainer.max_epochs=3, model.depth=12, data.root=/path); "
        "add a new key with +key=value. Print the composed recipe with `python -m srlib.train --show`."
    )
    return f"Could not apply overrides {list(overrides)}: {message}{hint}"


def _output_dir(cfg: DictConfig) -> Path:
    if cfg.get("output_dir"):
        return Path(cfg.output_dir)
    return Path("outputs") / str(cfg.name) / time.strftime("%Y%m%d-%H%M%S")


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run a composed recipe: fit, export weights, evaluate, write metrics and a comparison image.

    Returns:
        Paths of what was written and the final metrics.
    """
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.loggers import CSVLogger

    from srlib.lit import ExportWeights, SRModule
    from srlib.models import create_model, load_model

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    out_dir = _output_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out_dir / "recipe.yaml")

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    net = create_model(model_cfg.pop("name"), **model_cfg)
    degradation = instantiate(cfg.degrade) if cfg.get("degrade") else None
    datamodule = instantiate(cfg.data, degradation=degradation)
    module = SRModule(
        net,
        loss=instantiate(cfg.loss),
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        scheduler_interval=cfg.module.scheduler_interval,
        channels_last=bool(cfg.channels_last),
    )
    exporter = ExportWeights(out_dir)
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer = L.Trainer(
        **trainer_kwargs,
        default_root_dir=str(out_dir),
        logger=CSVLogger(str(out_dir), name="logs", version=""),
        callbacks=[exporter],
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    result: dict[str, Any] = {
        "output_dir": str(out_dir),
        "best_weights": str(exporter.best_path),
        "last_weights": str(exporter.last_path),
        "train_seconds": round(time.perf_counter() - started, 1),
        "global_steps": int(trainer.global_step),
    }
    if cfg.final_eval.enabled and not trainer_kwargs.get("fast_dev_run") and datamodule.val_set is not None:
        best = load_model(exporter.best_path)
        result.update(final_evaluation(best, datamodule, out_dir, amp=bool(cfg.final_eval.amp)))
    return result


def final_evaluation(net: torch.nn.Module, datamodule: Any, out_dir: Path, *, amp: bool) -> dict[str, Any]:
    """Score ``net`` and bicubic on the validation images; write metrics.json and comparison.png."""
    from srlib.data.image_io import write_image
    from srlib.evaluate import evaluate_images, super_resolve, write_json
    from srlib.metrics import make_lr
    from srlib.models import create_model

    val = datamodule.val_set
    images = list(zip(val.names, val.images, strict=True))
    scale = datamodule.scale
    model_scores = evaluate_images(net, images, scale, amp=amp, name="model")
    bicubic = create_model("bicubic", scale=scale)
    bicubic_scores = evaluate_images(bicubic, images, scale, name="bicubic")
    metrics = {
        "scale": scale,
        "model": model_scores.to_dict(),
        "bicubic": bicubic_scores.to_dict(),
        "psnr_gain_over_bicubic": round(model_scores.psnr - bicubic_scores.psnr, 4),
    }
    metrics_path = write_json(out_dir / "metrics.json", metrics)

    name, hr = images[0]
    lr = make_lr(hr, scale).float().div(255.0)
    lr = lr.repeat(3, 1, 1) if lr.shape[0] == 1 else lr
    hr_rgb = hr.float().div(255.0)
    hr_rgb = hr_rgb.repeat(3, 1, 1) if hr_rgb.shape[0] == 1 else hr_rgb
    panels = [super_resolve(bicubic, lr[None])[0], super_resolve(net, lr[None], amp=amp)[0], hr_rgb]
    gap = torch.ones(3, hr_rgb.shape[1], 8)
    strip = torch.cat([panels[0], gap, panels[1], gap, panels[2]], dim=2)
    comparison = write_image(out_dir / "comparison.png", strip)
    return {
        "metrics": str(metrics_path),
        "comparison": str(comparison),
        "comparison_image": name,
        "psnr": round(model_scores.psnr, 4),
        "bicubic_psnr": round(bicubic_scores.psnr, 4),
        "ssim": round(model_scores.ssim, 4),
        "bicubic_ssim": round(bicubic_scores.ssim, 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.train``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    setup_cli_logging(logging.INFO)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        print("Built-in recipes:", ", ".join(list_recipes()))
        return 0
    show = "--show" in args
    args = [a for a in args if a != "--show"]
    try:
        cfg = compose_recipe(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if show:
        print(OmegaConf.to_yaml(cfg))
        return 0
    try:
        result = train(cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"\nTrained {cfg.name} in {result['train_seconds']} s ({result['global_steps']} steps).")
    print(f"  weights:    {result['best_weights']}  (last: {result['last_weights']})")
    if "metrics" in result:
        print(
            f"  metrics:    {result['metrics']}\n"
            f"              PSNR {result['psnr']:.2f} dB vs bicubic {result['bicubic_psnr']:.2f} dB, "
            f"SSIM {result['ssim']:.4f} vs {result['bicubic_ssim']:.4f}"
        )
        print(
            f"  comparison: {result['comparison']}  "
            f"(bicubic | model | ground truth, {result['comparison_image']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
