"""One training run from a composed recipe: build, guard the output folder, fit, export, evaluate.

What a run writes (under ``output_dir``): ``recipe.yaml`` (the composed config), ``checkpoints/last.ckpt``
(Lightning state: optimisers, schedulers, EMA, step; resumable), ``best.safetensors`` /
``last.safetensors`` (srlib weights, EMA when on), ``metrics.json`` (schedule done vs planned, final
scores) and ``comparison.png``; logs under ``logs/``.
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from srlib.lit.recipes import RecipeError, check_recipe, explain_build_error, extra_callbacks, logger_nodes

__all__ = [
    "RecipeError",
    "build_module",
    "build_network",
    "final_evaluation",
    "register_task",
    "run_dir",
    "run_task",
    "train",
]

log = logging.getLogger("srlib.train")

#: Set by rank 0 for the worker processes Lightning's DDP launcher starts, so they share its folder.
RUN_DIR_ENV = "SRLIB_RUN_DIR"
_RUN_MARKERS = ("recipe.yaml", "checkpoints", "best.safetensors", "last.safetensors", "metrics.json")


# -- building ------------------------------------------------------------------------------------
def build_network(cfg: DictConfig) -> nn.Module:
    """The network of ``cfg.model``, started from ``cfg.init_weights`` when given.

    ``model.name: from_weights`` rebuilds the architecture from the weights file itself (srlib
    ``.safetensors`` or a recognised foreign ``.pth``). ``init_partial: true`` loads only the tensors
    whose names and shapes fit (for example x2 weights into an x4 model: all but the upsampler).
    """
    from srlib.models import create_model, load_checked, load_model, load_state_dict

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    name = model_cfg.pop("name")
    spec = str(cfg.init_weights) if cfg.get("init_weights") else None
    weights = Path(spec).expanduser() if spec is not None else None
    shipped = None
    if weights is not None and not weights.is_file():
        shipped = _shipped_weights(spec, int(cfg.scale))
    if name == "from_weights":
        if weights is None:
            raise RecipeError(
                "model=from_weights needs init_weights=/path/to/weights (.safetensors or .pth) or the name "
                "of shipped weights (init_weights=edsr_baseline; python -c 'import srlib; "
                "print(srlib.list_pretrained())' lists them)."
            )
        if shipped is not None:
            net = shipped
        elif weights.suffix == ".safetensors":  # srlib files record the scale they were trained for
            net = load_model(weights)
        else:  # foreign files: the scale comes from the recipe (a mismatch shows up as wrong shapes)
            net = load_model(weights, scale=int(cfg.scale))
        if int(getattr(net, "scale", cfg.scale)) != int(cfg.scale):
            raise RecipeError(
                f"{weights} holds an x{net.scale} {type(net).__name__} but the recipe trains x{cfg.scale}; "
                f"pass scale={net.scale}, or init_partial=true with model=NAME to reuse it for x{cfg.scale}."
            )
        log.info("Fine-tuning %s (x%d) from %s", type(net).__name__, net.scale, weights)
        return net.train()
    net = create_model(name, **model_cfg)
    if weights is not None:
        state = shipped.state_dict() if shipped is not None else load_state_dict(weights)
        own = net.state_dict()
        if cfg.get("init_partial"):
            fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
            skipped = sorted(set(own) - set(fitting))
            if not fitting:
                raise RecipeError(
                    f"No tensor of {weights} fits {name} (x{cfg.scale}); check model= and scale=."
                )
            log.info(
                "Initialised %d/%d tensors of %s from %s; new: %s",
                len(fitting),
                len(own),
                name,
                weights,
                ", ".join(skipped[:8]) or "none",
            )
            state = fitting
        load_checked(
            net,
            state,
            source=str(weights),
            what=f"{name} x{cfg.scale}",
            hint="Use the weights of the same architecture and scale, model=from_weights to rebuild from "
            "the file, or init_partial=true to load only what fits.",
            strict=not cfg.get("init_partial"),
        )
        log.info("Initialised %s from %s", name, weights)
    return net


def _shipped_weights(spec: str, scale: int) -> nn.Module:
    """The shipped network named by ``init_weights=NAME`` (or ``NAME.tag``); a RecipeError says why not."""
    from srlib.models import resolve_init_weights

    try:
        return resolve_init_weights(spec, scale=scale)
    except (ValueError, FileNotFoundError) as err:
        raise RecipeError(f"init_weights={spec}: {explain_build_error(err)}") from err


def build_module(cfg: DictConfig, net: nn.Module) -> Any:
    """``SRModule``, or ``SRGANModule`` when the recipe has a ``gan`` section."""
    from hydra.utils import instantiate

    from srlib.lit.sr_module import SRModule

    common = {
        "loss": instantiate(cfg.loss) if cfg.get("loss") else None,
        "optimizer": instantiate(cfg.optimizer),
        "scheduler": instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        "scheduler_interval": cfg.module.scheduler_interval,
        "channels_last": bool(cfg.channels_last),
    }
    gan = cfg.get("gan")
    if not gan:
        return SRModule(net, **common)
    from srlib.lit.srgan_module import SRGANModule
    from srlib.models import create_discriminator

    d_cfg = OmegaConf.to_container(gan.discriminator, resolve=True)
    discriminator = create_discriminator(d_cfg.pop("name"), **d_cfg)
    return SRGANModule(
        net,
        discriminator,
        gan_loss=str(gan.gan_loss),
        adversarial_weight=float(gan.adversarial_weight),
        d_optimizer=instantiate(gan.d_optimizer) if gan.get("d_optimizer") else None,
        d_steps=int(gan.d_steps),
        warmup_steps=int(gan.warmup_steps),
        gp_weight=float(gan.gp_weight),
        grad_clip=gan.get("grad_clip"),
        **common,
    )


# -- the output folder ---------------------------------------------------------------------------
def _holds_run(folder: Path) -> bool:
    return folder.is_dir() and any((folder / m).exists() for m in _RUN_MARKERS)


def open_run_dir(cfg: DictConfig) -> tuple[Path, Path | None]:
    """The run's folder (:func:`run_dir`) and the checkpoint to resume; a new run gets its recipe.yaml."""
    from srlib._fs import atomic_write

    out_dir = run_dir(cfg)
    resume_from = out_dir / "checkpoints" / "last.ckpt" if cfg.get("resume") else None
    if not resume_from:
        atomic_write(out_dir / "recipe.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg).encode()))
    return out_dir, resume_from


def run_dir(cfg: DictConfig) -> Path:
    """The run's folder: created new, or the one to resume; a finished or running run is never overwritten.

    Without ``output_dir`` the folder is ``outputs/<name>/<date-time>`` (``-1``, ``-2``, ... appended
    when two runs start in the same second).
    """
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited:  # a DDP worker started by rank 0
        return Path(inherited)
    if cfg.get("resume"):
        return run_dir_to_resume(cfg)
    if cfg.get("output_dir"):
        folder = Path(str(cfg.output_dir)).expanduser()
        if _holds_run(folder):
            raise RecipeError(
                f"output_dir {folder} already holds a run. Continue it with resume=true, or write this one "
                "elsewhere (another output_dir=..., or leave output_dir unset for a new dated folder)."
            )
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    base = Path("outputs") / str(cfg.name) / time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        folder = base if i == 0 else base.with_name(f"{base.name}-{i}")
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            continue
    raise RecipeError(f"Could not create a new run folder next to {base}; set output_dir=...")


def run_dir_to_resume(cfg: DictConfig) -> Path:
    """``output_dir`` of a ``resume=true`` run, which must hold ``checkpoints/last.ckpt``."""
    if not cfg.get("output_dir"):
        raise RecipeError("resume=true needs output_dir=<the folder of the run to continue>.")
    folder = Path(str(cfg.output_dir)).expanduser()
    ckpt = folder / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise RecipeError(
            f"Nothing to resume in {folder}: {ckpt} does not exist. Start a new run without resume=true."
        )
    return folder


# -- the run -------------------------------------------------------------------------------------
def _precision(cfg: DictConfig) -> str:
    from srlib.precision import auto_precision

    precision = str(cfg.trainer.precision)
    if precision == "auto":
        return auto_precision(str(cfg.trainer.get("accelerator", "auto")))
    log.info("precision %s (set in the recipe)", precision)
    return precision


def _loggers(cfg: DictConfig, out_dir: Path, resume_step: int | None) -> Any:
    """The recipe's logger(s), saving under ``out_dir``; srlib's CSV logger continues a resumed run's file."""
    from hydra.utils import instantiate

    from srlib.lit.loggers import CSVLogger

    loggers = []
    for node in logger_nodes(cfg):
        extra = (
            {"resume_step": resume_step} if str(node._target_) == f"{CSVLogger.__module__}.CSVLogger" else {}
        )
        loggers.append(instantiate(node, save_dir=str(out_dir), **extra))
    return loggers or False


def resolve_patch_size(cfg: DictConfig) -> None:
    """``data.patch_size: auto``: the largest multiple of the scale up to 128 px that the data allows.

    For a folder of photos (or LR/HR pairs) the patch is capped by the smallest HR side (so small photos
    are kept, down to 48 px); for paired clips (``data.root`` with ``hr/``) by the smallest HR frame
    side; other data takes 128 px rounded down to a multiple of the scale. A given integer is kept as
    it is (the data modules say how to fix one that is not a multiple of the scale).
    """
    if OmegaConf.select(cfg, "data.patch_size") != "auto":
        return
    scale = int(cfg.scale)
    target = 128
    train_dir = OmegaConf.select(cfg, "data.train_dir", default=None)
    if train_dir is not None:  # HR photos (with or without their LR pairs)
        from srlib.io.images import list_images, read_headers

        folders = [
            Path(str(f)).expanduser() for f in ([train_dir] if isinstance(train_dir, str) else train_dir)
        ]
        headers, _ = read_headers([p for f in folders if f.is_dir() for p in list_images(f)])
        if headers:  # unreadable files are reported by the data module itself
            target = max(48, min(target, min(min(h.width, h.height) for h in headers)))
    root = OmegaConf.select(cfg, "data.root", default=None)
    if train_dir is None and root is not None and (Path(str(root)).expanduser() / "hr").is_dir():
        sides = _video_frame_sides(Path(str(root)).expanduser() / "hr")
        if sides:  # paired clips: the patch fits inside the smallest HR frame
            target = max(scale, min(target, min(sides)))
    patch = max(scale, target - target % scale)
    cfg.data.patch_size = patch
    log.info("data.patch_size=auto: %d px (a multiple of x%d that the training images allow)", patch, scale)


def _video_frame_sides(folder: Path) -> list[int]:
    """The shorter side of the video stream of each clip in ``folder`` (unreadable clips left out)."""
    from srlib.io.video import probe_size

    sides = []
    for clip in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            sides.append(min(probe_size(clip)))
        except (ValueError, OSError):
            continue  # the data module names bad clips itself
    return sides


def validation_interval(cfg: DictConfig, datamodule: Any, *, at_least: int = 5) -> int | None:
    """Training batches between validations, so that any run validates at least ``at_least`` times.

    ``callbacks.val_every_n_steps``: ``auto`` (default) keeps Lightning's once-per-epoch validation when
    that gives ``at_least`` validations, else validates every ``planned // at_least`` batches; an integer
    is used as it is; ``null`` keeps the epochs. Returns ``None`` for per-epoch validation.
    """
    setting = OmegaConf.select(cfg, "callbacks.val_every_n_steps", default="auto")
    if setting is None or datamodule.val_set is None:
        return None
    if setting != "auto":
        return int(setting)
    try:
        per_epoch = len(datamodule.train_dataloader())
    except TypeError:  # an iterable dataset: no length
        return None
    world = int(cfg.trainer.get("devices", 1) or 1) if str(cfg.trainer.get("devices", 1)).isdigit() else 1
    world *= int(cfg.trainer.get("num_nodes", 1) or 1)
    per_epoch = max(1, per_epoch // world)
    epochs = int(cfg.trainer.get("max_epochs") or -1)
    steps = int(cfg.trainer.get("max_steps") or -1)
    planned = [n for n in (epochs * per_epoch if epochs > 0 else -1, steps) if n > 0]
    if not planned:
        return None
    total = min(planned)
    every_epoch = int(cfg.trainer.get("check_val_every_n_epoch") or 1)
    if total // (per_epoch * every_epoch) >= at_least:
        return None
    return max(1, total // at_least)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run a composed recipe: fit, export weights, evaluate, write metrics and a comparison image.

    Returns:
        Paths of what was written, the schedule done vs planned, and the final metrics.

    Raises:
        RecipeError: a bad recipe, override, weights file or data folder (nothing is written then).
    """
    import lightning as L
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from srlib.io import write_json
    from srlib.lit.callbacks import (
        AtomicCheckpointIO,
        ExportWeights,
        GeneratorEMA,
        LastCheckpoint,
        RunTimer,
    )
    from srlib.models import load_model

    check_recipe(cfg)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    precision = _precision(cfg)
    resume_step = _resume_step(cfg)
    try:
        resolve_patch_size(cfg)
        net = build_network(cfg)
        # The starting weights, scored beside the result when the run fine-tunes them.
        before = copy.deepcopy(net).eval() if cfg.get("init_weights") and resume_step is None else None
        degradation = instantiate(cfg.degrade) if cfg.get("degrade") else None
        datamodule = instantiate(cfg.data, degradation=degradation)
        module = build_module(cfg, net)
        # Check the data before anything is written: empty folders, bad files, too-small images.
        if not os.environ.get(RUN_DIR_ENV):
            datamodule.prepare_data()
        datamodule.setup("fit")
        user_callbacks = [instantiate(node) for node in extra_callbacks(cfg).values()]
    except RecipeError:
        raise
    except (ValueError, FileNotFoundError, TypeError, InstantiationException) as err:
        raise RecipeError(explain_build_error(err)) from err

    out_dir, resume_from = open_run_dir(cfg)

    cb = cfg.callbacks
    exporter = ExportWeights(out_dir, monitor=str(cb.monitor))
    last = LastCheckpoint(out_dir / "checkpoints", every_n_train_steps=int(cb.checkpoint_every_n_steps))
    callbacks: list[Any] = [exporter, last, *user_callbacks]
    if cb.get("ema_decay"):
        callbacks.append(GeneratorEMA(decay=float(cb.ema_decay)))
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_kwargs["precision"] = precision
    max_time = trainer_kwargs.pop("max_time", None)
    if max_time is not None:  # each run, first or resumed, gets the whole cap
        callbacks.append(RunTimer(duration=max_time, interval="step"))
    interval = validation_interval(cfg, datamodule)
    if interval is not None:
        trainer_kwargs.update(val_check_interval=interval, check_val_every_n_epoch=None)
        log.info("Validating every %d training steps", interval)
    if cfg.get("gan") and trainer_kwargs.get("strategy") == "ddp":
        # Each GAN step leaves one network's parameters out of the other's backward pass.
        trainer_kwargs["strategy"] = "ddp_find_unused_parameters_true"
    trainer = L.Trainer(
        **trainer_kwargs,
        default_root_dir=str(out_dir),
        logger=_loggers(cfg, out_dir, resume_step),
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False,
    )
    started = time.perf_counter()
    # Frozen loss backbones (VGG, LPIPS) stay in eval mode on purpose.
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
    # Lightning 2.6 on torch 2.14 touches a deprecated pytree class once per fit: noise for users.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
    os.environ[RUN_DIR_ENV] = str(out_dir)  # DDP workers started by fit() share this folder
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    finally:
        os.environ.pop(RUN_DIR_ENV, None)
    planned = _planned_steps(trainer)
    result: dict[str, Any] = {
        "output_dir": str(out_dir),
        "best_weights": str(exporter.best_path) if exporter.best_path.is_file() else None,
        "best_validated": exporter.validated,
        "last_weights": str(exporter.last_path) if exporter.last_path.is_file() else None,
        "checkpoint": str(last.path) if last.path.is_file() else None,
        "train_seconds": round(time.perf_counter() - started, 1),
        "global_steps": int(trainer.global_step),
        "planned_steps": planned,
        "precision": precision,
    }
    stop = _stop_reason(trainer, module, planned)
    if stop:
        result["stopped"], result["stop_detail"] = stop
        log.warning("Run stopped early: %s (%s).", *stop)
    if not trainer.is_global_zero:
        return result
    schedule = {k: result.get(k) for k in ("global_steps", "planned_steps", "stopped", "stop_detail")}
    payload: dict[str, Any] = {
        "schedule": schedule,
        "precision": precision,
        "best_validated": exporter.validated,
    }
    evaluate = (
        cfg.final_eval.enabled
        and not trainer_kwargs.get("fast_dev_run")
        and datamodule.val_set is not None
        and result["best_weights"] is not None
        and (stop is None or stop[0] in ("max_time", "interrupted"))
    )
    if evaluate:
        best = load_model(exporter.best_path)
        scores = final_evaluation(best, datamodule, out_dir, dtype=str(cfg.final_eval.dtype), before=before)
        payload.update(scores.pop("payload"))
        result.update(scores)
    result["metrics"] = str(write_json(out_dir / "metrics.json", payload))
    return result


#: Training tasks by the name a recipe gives as ``task:`` (``sr``: :func:`train`, SR and GAN modules).
_TASKS: dict[str, Callable[[DictConfig], dict[str, Any]]] = {}


def register_task(name: str, run: Callable[[DictConfig], dict[str, Any]]) -> None:
    """Make ``task: NAME`` in a recipe run ``run(cfg)`` (a plug-in's whole run, e.g. ``srlib.detect``)."""
    if name in _TASKS and _TASKS[name] is not run:
        raise ValueError(f"task {name!r} is already registered (by {_TASKS[name].__module__}).")
    _TASKS[name] = run


def run_task(cfg: DictConfig) -> dict[str, Any]:
    """Run a composed recipe with the task it names (``task:``; default ``sr``)."""
    name = str(cfg.get("task") or "sr")
    if name not in _TASKS:
        raise RecipeError(
            f"task {name!r} is not registered; registered: {', '.join(sorted(_TASKS))} (a task plug-in "
            "registers itself with srlib.lit.register_task when its module is imported)."
        )
    return _TASKS[name](cfg)


def _resume_step(cfg: DictConfig) -> int | None:
    """The step a ``resume=true`` run continues from, after checking its ``last.ckpt`` (``None``: new)."""
    if not cfg.get("resume"):
        return None
    from srlib.models import check_resume_checkpoint

    try:
        return check_resume_checkpoint(run_dir_to_resume(cfg) / "checkpoints" / "last.ckpt")
    except ValueError as err:
        raise RecipeError(str(err)) from err


def _planned_steps(trainer: Any) -> int | None:
    try:
        steps = trainer.estimated_stepping_batches
    except Exception:  # no loader length (iterable datasets)
        return None
    if steps == float("inf"):
        return None
    module = trainer.lightning_module
    if not module.automatic_optimization and hasattr(module, "optimizer_steps"):
        # Manual optimisation counts every optimizer's steps (generator and discriminator).
        return int(trainer.max_steps) if trainer.max_steps > 0 else module.optimizer_steps(int(steps))
    return int(steps)


def _stop_reason(trainer: Any, module: Any, planned: int | None) -> tuple[str, str] | None:
    if getattr(module, "stop_reason", None):
        return "non-finite loss", module.stop_reason
    if trainer.interrupted:
        return "interrupted", "Ctrl-C; resume with resume=true"
    from lightning.pytorch.callbacks import Timer

    timers = [c for c in trainer.callbacks if isinstance(c, Timer)]
    out_of_time = any((t.time_remaining() or 0) <= 0 for t in timers)
    if out_of_time and (planned is None or trainer.global_step < planned):
        return (
            "max_time",
            f"trainer.max_time reached after {trainer.global_step} of {planned} steps; continue with "
            "resume=true (the resumed run gets trainer.max_time afresh), or raise trainer.max_time",
        )
    return None


def final_evaluation(
    net: torch.nn.Module,
    datamodule: Any,
    out_dir: Path,
    *,
    dtype: str = "fp32",
    before: torch.nn.Module | None = None,
) -> dict:
    """Score ``net``, bicubic and (if given) the starting weights ``before`` on the run's validation data.

    The samples are the ones validation used: the user's own LR when the validation set is paired
    (image pairs, video frames), else the protocol's LR made from each 8-bit ground truth
    (:func:`srlib.evaluation.sample_input`); scores follow the protocol of ``python -m srlib.evaluate``.
    Writes ``comparison.png`` of the first sample: bicubic | model | ground truth, each with its PSNR,
    and below them the most detailed window of each, zoomed
    (:func:`srlib.evaluation.visuals.write_comparison`).
    """
    from srlib.evaluation import evaluate_images, samples_of
    from srlib.evaluation.results import ImageScore
    from srlib.evaluation.scoring import OutputHook
    from srlib.evaluation.visuals import write_comparison
    from srlib.models import create_model

    samples = samples_of(datamodule.val_set)
    scale = datamodule.scale
    if samples[0][1].ndim == 4:  # clips (T, 3, H, W): streamed frame by frame, flicker measured too
        return _final_clip_evaluation(net, samples, scale, out_dir, dtype=dtype, before=before)
    paired = len(samples[0]) == 3
    shown = samples[0][0]  # the image the comparison shows
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}

    def keep(label: str) -> OutputHook:
        def hook(name: str, sr: torch.Tensor, hr: torch.Tensor, score: ImageScore) -> None:
            if name == shown:
                outputs[label] = (sr, hr, score.psnr)

        return hook

    model_scores = evaluate_images(net, samples, scale, dtype=dtype, name="model", on_output=keep("model"))
    bicubic = create_model("bicubic", scale=scale)
    bicubic_scores = evaluate_images(bicubic, samples, scale, name="bicubic", on_output=keep("bicubic"))
    payload: dict[str, Any] = {
        "scale": scale,
        "data": {
            "images": len(samples),
            "lr": "the validation set's own LR" if paired else "MATLAB bicubic of each ground truth",
        },
        "model": model_scores.to_dict(),
        "bicubic": bicubic_scores.to_dict(),
        "psnr_gain_over_bicubic": round(model_scores.psnr - bicubic_scores.psnr, 4),
    }
    scores: dict[str, Any] = {}
    if before is not None:
        before_scores = evaluate_images(before, samples, scale, dtype=dtype, name="before")
        payload["before"] = before_scores.to_dict()
        payload["psnr_gain_over_before"] = round(model_scores.psnr - before_scores.psnr, 4)
        scores.update(before_psnr=round(before_scores.psnr, 4), before_ssim=round(before_scores.ssim, 4))
    (bic_sr, hr, bic_psnr), (model_sr, _, model_psnr) = outputs["bicubic"], outputs["model"]
    panels = [
        (f"bicubic {bic_psnr:.2f} dB", bic_sr),
        (f"model {model_psnr:.2f} dB", model_sr),
        ("ground truth", hr),
    ]
    comparison = write_comparison(out_dir / "comparison.png", panels)
    return {
        "payload": payload,
        "comparison": str(comparison),
        "comparison_image": shown,
        "eval_data": payload["data"],
        "psnr": round(model_scores.psnr, 4),
        "bicubic_psnr": round(bicubic_scores.psnr, 4),
        "ssim": round(model_scores.ssim, 4),
        "bicubic_ssim": round(bicubic_scores.ssim, 4),
        **scores,
    }


def _final_clip_evaluation(
    net: torch.nn.Module,
    samples: list,
    scale: int,
    out_dir: Path,
    *,
    dtype: str,
    before: torch.nn.Module | None,
) -> dict:
    """:func:`final_evaluation` on clip samples: every frame scored, ``tdiff_psnr`` beside PSNR/SSIM."""
    from srlib.evaluation import evaluate_clips
    from srlib.evaluation.visuals import write_comparison
    from srlib.models import create_model

    paired = len(samples[0]) == 3
    model, outputs = evaluate_clips(net, samples, scale, dtype=dtype)
    bicubic, bicubic_outputs = evaluate_clips(create_model("bicubic", scale=scale), samples, scale)
    payload: dict[str, Any] = {
        "scale": scale,
        "data": {
            "clips": model["clips"],
            "frames": model["frames"],
            "lr": "the validation set's own LR" if paired else "MATLAB bicubic of each ground truth frame",
        },
        "model": model,
        "bicubic": bicubic,
        "psnr_gain_over_bicubic": round(model["psnr"] - bicubic["psnr"], 4),
    }
    scores: dict[str, Any] = {}
    if before is not None:
        start, _ = evaluate_clips(before, samples, scale, dtype=dtype)
        payload["before"] = start
        payload["psnr_gain_over_before"] = round(model["psnr"] - start["psnr"], 4)
        scores.update(before_psnr=start["psnr"], before_ssim=start["ssim"])
    middle = len(outputs) // 2
    panels = [  # the middle frame of the first clip, labelled with the PSNR over all frames
        (f"bicubic {bicubic['psnr']:.2f} dB (mean)", bicubic_outputs[middle].clamp(0, 1)),
        (f"model {model['psnr']:.2f} dB (mean)", outputs[middle].clamp(0, 1)),
        ("ground truth", samples[0][1][middle].float() / 255),
    ]
    comparison = write_comparison(out_dir / "comparison.png", panels)
    return {
        "payload": payload,
        "comparison": str(comparison),
        "comparison_image": f"{samples[0][0]} frame {middle}",
        "eval_data": payload["data"],
        "psnr": model["psnr"],
        "bicubic_psnr": bicubic["psnr"],
        "ssim": model["ssim"],
        "bicubic_ssim": bicubic["ssim"],
        "tdiff_psnr": model["tdiff_psnr"],
        "bicubic_tdiff_psnr": bicubic["tdiff_psnr"],
        **scores,
    }


register_task("sr", train)
