"""Train a model from a recipe: ``python -m srlib.train [-m] [recipe=NAME] [key=value ...]``.

Recipes are Hydra configs (the ``recipes/`` tree, shipped inside the package). ``recipe=`` takes a
built-in name (``quickstart``, ``fsrcnn_x4``, ``finetune``, ...) or the path of your own recipe file;
``recipes_dir=DIR`` adds your own recipe folder to Hydra's search path. ``key=value`` overrides any
setting (``trainer.max_steps=2000``, ``data.train_dir=/photos``, ``model.depth=12``).

``-m`` (multirun) runs every combination of comma-separated values (``-m model.depth=12,18
scale=2,3``) plus the recipe's own ``sweep:`` table, each run in its own folder, then writes one table
(``summary.md``, ``summary.csv``) and a plot of the scores. ``resume=true output_dir=DIR`` continues an
interrupted run from ``DIR/checkpoints/last.ckpt``.

With no arguments it runs the quickstart: a small VDSR trained on photos bundled with
scikit-image, then evaluated against bicubic on held-out photos.

A failure you can fix (unknown or missing key, a value of the wrong type, an output folder that cannot
be written, bad data) prints one ``error:`` line naming the key or path and exits with code 2, before
training starts where it can be known then; ``SRLIB_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from srlib._cli import check_writable, run_cli
from srlib._logging import setup_cli_logging
from srlib.lit.recipes import compose_recipe, expand_sweep, list_recipes, recipes_root
from srlib.lit.run import final_evaluation, run_task

__all__ = [
    "compose_recipe",
    "expand_sweep",
    "final_evaluation",
    "list_recipes",
    "main",
    "recipes_root",
    "train",
]

log = logging.getLogger("srlib.train")

#: Task plug-ins outside srlib.lit, imported when a recipe names them (each registers itself with
#: :func:`srlib.lit.register_task`); ``sr`` (SR and GAN) is built in.
TASK_MODULES = {"detector": "srlib.detect.train"}


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run a composed recipe with the task it names (``task:``, default ``sr``), by :func:`run_task`."""
    task = str(cfg.get("task") or "sr")
    if task in TASK_MODULES:
        importlib.import_module(TASK_MODULES[task])
    return run_task(cfg)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.train``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    setup_cli_logging(logging.INFO)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        print("Built-in recipes:", ", ".join(list_recipes()))
        return 0
    show = "--show" in args
    multirun = any(a in ("-m", "--multirun") for a in args)
    args = [a for a in args if a not in ("--show", "-m", "--multirun")]
    output_dirs = [a.partition("=")[2] for a in args if a.partition("=")[0].lstrip("+") == "output_dir"]
    return run_cli(lambda: _run(args, show=show, multirun=multirun), outputs=output_dirs)


def _run(args: list[str], *, show: bool, multirun: bool) -> int:
    if multirun:
        from srlib.lit.sweep import run_sweep

        for module in TASK_MODULES.values():  # a sweep's cells may name any task
            importlib.import_module(module)
        return run_sweep(args, show=show)
    cfg = compose_recipe(args)
    if show:
        print(OmegaConf.to_yaml(cfg))
        return 0
    if cfg.get("sweep"):
        log.warning(
            "Recipe %s is a sweep over %s: add -m to run every combination; running one run now.",
            cfg.name,
            ", ".join(str(k) for k in cfg.sweep),
        )
    if cfg.get("output_dir") and not cfg.get("resume"):
        check_writable(Path(str(cfg.output_dir)), folder=True)  # before the data is read
    result = train(cfg)
    print(format_result(cfg.name, result))
    return 1 if result.get("stopped") == "non-finite loss" else 0


def format_result(name: str, result: dict) -> str:
    """The run summary printed at the end of ``python -m srlib.train``."""
    done, planned = result["global_steps"], result.get("planned_steps")
    lines = [f"\nTrained {name} in {result['train_seconds']} s ({done} of {planned} steps)."]
    if result.get("stopped"):
        lines.append(f"  STOPPED EARLY: {result['stopped']} ({result.get('stop_detail', '')})")
    if result.get("best_weights"):
        which = "best validated" if result.get("best_validated") else "never validated: the last weights"
        lines.append(f"  weights:    {result['best_weights']}  ({which}; last: {result['last_weights']})")
    else:
        lines.append("  weights:    none written (no step ended with finite weights)")
    if result.get("checkpoint"):
        lines.append(
            f"  checkpoint: {result['checkpoint']}  "
            f"(continue with resume=true output_dir={result['output_dir']})"
        )
    if "psnr" in result:
        data = result.get("eval_data") or {}
        lines.append(
            f"  metrics:    {result['metrics']}\n"
            f"              on the run's validation data ({data.get('images', '?')} images, "
            f"LR: {data.get('lr', '?')}):"
        )
        if "before_psnr" in result:
            lines.append(
                f"              before (init weights) PSNR {result['before_psnr']:.2f} dB, "
                f"SSIM {result['before_ssim']:.4f}"
            )
        lines.append(
            f"              after  PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}\n"
            f"              bicubic PSNR {result['bicubic_psnr']:.2f} dB, SSIM {result['bicubic_ssim']:.4f}"
        )
        lines.append(
            f"  comparison: {result['comparison']}  "
            f"(bicubic | model | ground truth and a zoomed detail, {result['comparison_image']})"
        )
    elif "metrics" in result:
        lines.append(f"  metrics:    {result['metrics']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
