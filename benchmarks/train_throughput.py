"""Training samples/s per zoo recipe: srlib's Lightning path beside a plain PyTorch loop, same run.

Usage::

    python benchmarks/train_throughput.py [--models quickstart fsrcnn_x4 ...] [--warmup 10] [--steps 20]
        [--repeats 3] [--quick] [--run-seconds S] [--threads N] [--no-compile]
        [--compile-models NAME ...] [--variants KEY ...] [--json PATH]

    # all seven recipes in about 12 minutes on 2 cores, compiling only the three small ones:
    python benchmarks/train_throughput.py --run-seconds 3 --compile-models quickstart fsrcnn_x4 realesrnet_x4

Each model is built from its recipe (``srlib.train.compose_recipe(["recipe=NAME"])``) and trained on
one synthetic batch held in memory (random LR/HR float tensors of the recipe's HR patch, LR = patch //
scale, and batch size), the same tensors for every variant, so data loading is not measured. The
variants, all with L1 loss and Adam(lr=1e-4):

* ``plain fp32``: the comparison, a hand-written loop ``sr = net(lr); loss = F.l1_loss(sr, hr);
  opt.zero_grad(); loss.backward(); opt.step()`` with torch's default (foreach) Adam.
* ``srlib ...``: :class:`srlib.SRModule` fitted by ``lightning.Trainer`` (no logger, checkpoints,
  progress bar or validation) on a DataLoader that yields the same preset batch every step; the
  module's per-step work (finite-loss check, ``self.log("train/loss", prog_bar=True)``) is included,
  since that is what users get. ``fp32`` is ``precision="32-true"``; ``auto`` is
  ``srlib.precision.auto_precision("cpu")`` with channels_last, which is srlib's default path (the
  recipes default to ``channels_last: true`` and ``trainer.precision: auto``); ``cl`` is
  channels_last; ``fused Adam`` is ``torch.optim.Adam(fused=True)``; ``+ compile`` is the same
  SRModule around ``torch.compile(net)`` (compiled once, reused across repeats); ``bf16-true`` (only
  where ``auto`` chose bf16) is Lightning's ``precision="bf16-true"``: weights, gradients and Adam's
  state all in bf16, with no fp32 master copy (Lightning keeps one only inside FSDP), so updates
  smaller than bf16's resolution of a weight are lost: its quality must be checked apart.
* ``plain compile``: the plain loop on ``torch.compile(net)`` in fp32 and, where ``auto`` chose bf16,
  also under ``torch.autocast("cpu", bfloat16)``. Its first step (the compilation) is reported apart;
  it is much shorter when inductor's on-disk cache already holds the kernels from an earlier run.

Timing: every run does ``--warmup`` untimed steps, then ``--steps`` timed ones, and both kinds of run
take ``time.perf_counter()`` at the end of every step (for Lightning, in a callback's
``on_train_batch_end``). The timed span runs from the end of the last warm-up step to the end of the
last step, so it holds exactly ``--steps`` whole iterations, with everything Lightning does between
two steps (fetching the batch, hooks, logging bookkeeping) and nothing of ``Trainer`` construction
or ``fit`` setup/teardown. (Subtracting a warm-up-only fit from a full fit would also cancel the
setup, but as the difference of two noisy totals.) Every srlib run is checked to have made
warm-up + steps optimizer steps, as many as the plain loop. Each variant runs ``--repeats`` times,
interleaved (repeat 1 of every variant, then repeat 2, ...; the order rotates per repeat) so a change
in machine load hits all variants alike; the table shows the median samples/s, the min-max over the
repeats and the ratio to ``plain fp32``.

The goal (issue 21): srlib's default path (``srlib auto``) at least 2x the plain fp32 loop on a CPU
with native bf16 (AMX or AVX512-BF16), at least 1.3x on one without, and never slower than fp32.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import itertools
import json
import logging
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

import srlib
from srlib.evaluation.cost import device_name
from srlib.lit.run import build_network
from srlib.precision import auto_precision, cpu_bf16_flags, native_reduced_dtype
from srlib.train import compose_recipe

RECIPES = (
    "quickstart",
    "fsrcnn_x4",
    "mobilesr_x4",
    "minisrresnet_x4",
    "edsr_baseline_x4",
    "hat_lite_x4",
    "realesrnet_x4",
)
LR = 1e-4


@dataclass(frozen=True)
class Variant:
    """One way of training: ``kind`` is ``plain``, ``srlib`` or ``compile``."""

    key: str
    label: str
    kind: str
    precision: str = "32-true"  # Lightning precision string; for ``compile``: 32-true or bf16-mixed
    channels_last: bool = False
    fused: bool = False
    compiled: bool = False  # ``srlib`` only: SRModule around ``torch.compile(net)``

    @property
    def compiles(self) -> bool:
        return self.kind == "compile" or self.compiled


def make_variants(auto: str) -> list[Variant]:
    """All variants; the bf16 compile one only where ``auto`` chose a reduced precision."""
    variants = [
        Variant("plain_fp32", "plain fp32", "plain"),
        Variant("srlib_fp32", "srlib fp32", "srlib"),
        Variant("srlib_auto", f"srlib auto ({auto}, cl) [default]", "srlib", auto, channels_last=True),
        Variant("srlib_fp32_cl", "srlib fp32 cl", "srlib", channels_last=True),
        Variant("srlib_fp32_cl_fused", "srlib fp32 cl + fused Adam", "srlib", channels_last=True, fused=True),
        Variant(
            "srlib_auto_fused",
            f"srlib auto ({auto}, cl) + fused Adam",
            "srlib",
            auto,
            channels_last=True,
            fused=True,
        ),
        Variant("compile_fp32", "plain compile fp32", "compile"),
        Variant(
            "srlib_auto_compile", f"srlib auto ({auto}, cl) + compile", "srlib", auto, True, compiled=True
        ),
    ]
    if auto != "32-true":
        variants.append(Variant("compile_auto", f"plain compile {auto} autocast", "compile", auto))
        # Lightning's bf16-true casts the module's weights to bf16 and Adam updates them in bf16: it
        # keeps no fp32 master copy (Lightning offers that only inside FSDP's mixed precision).
        variants.append(Variant("srlib_bf16_true", "srlib bf16-true (cl)", "srlib", "bf16-true", True))
    return variants


# ----------------------------------------------------------------------------------------------------
# Machine description


def auto_choice() -> tuple[str, str]:
    """What ``auto_precision("cpu")`` chooses and the line it logs."""
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("srlib.precision")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        precision = auto_precision("cpu")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return precision, (records[-1] if records else "(nothing logged)")


def goal_ratio() -> float:
    """The issue's goal for ``srlib auto`` against plain fp32: 2x where bf16 is native, else 1.3x."""
    return 2.0 if native_reduced_dtype("cpu")[0] is not None else 1.3


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ----------------------------------------------------------------------------------------------------
# Runs


@dataclass
class ModelSetup:
    recipe: str
    arch: str
    net: nn.Module  # the initial weights every run starts from (deep-copied)
    lr: torch.Tensor
    hr: torch.Tensor
    patch: int
    batch: int
    scale: int


def setup_model(recipe: str) -> ModelSetup:
    cfg = compose_recipe([f"recipe={recipe}"])
    if cfg.get("init_weights") == "???":
        cfg.init_weights = None
    torch.manual_seed(0)
    net = build_network(cfg).train()
    patch, batch, scale = int(cfg.data.patch_size), int(cfg.data.batch_size), int(cfg.scale)
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(batch, 3, patch, patch, generator=g)
    lr = torch.rand(batch, 3, patch // scale, patch // scale, generator=g)
    return ModelSetup(recipe, str(cfg.model.name), net, lr, hr, patch, batch, scale)


def adam(fused: bool) -> Callable[..., torch.optim.Optimizer]:
    """Adam(lr=1e-4): torch's default (foreach on CPU) or ``fused=True``."""
    kwargs = {"fused": True} if fused else {}
    return functools.partial(torch.optim.Adam, lr=LR, **kwargs)


def plain_steps(
    model: Callable[[torch.Tensor], torch.Tensor],
    opt: torch.optim.Optimizer,
    lr: torch.Tensor,
    hr: torch.Tensor,
    n: int,
    bf16: bool = False,
) -> list[float]:
    """``n`` steps of the hand-written loop; ``perf_counter()`` at the start and after every step."""
    marks = [time.perf_counter()]
    for _ in range(n):
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                sr = model(lr)
            loss = F.l1_loss(sr.float(), hr)
        else:
            sr = model(lr)
            loss = F.l1_loss(sr, hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        marks.append(time.perf_counter())
    return marks


class SameBatch(Dataset):
    """``length`` items, each the same preset batch dict (use with ``DataLoader(batch_size=None)``)."""

    def __init__(self, batch: dict[str, torch.Tensor], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.batch


class StepTimer(L.Callback):
    """``perf_counter()`` at the start of training and at the end of every training batch."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks = [time.perf_counter()]

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.marks.append(time.perf_counter())


def srlib_steps(setup: ModelSetup, v: Variant, n: int, net: nn.Module | None = None) -> list[float]:
    """``n`` steps of ``SRModule`` under ``lightning.Trainer``; marks as :func:`plain_steps`.

    ``net``: the network to train (a compiled one kept across repeats); a fresh copy when ``None``.
    """
    net = copy.deepcopy(setup.net) if net is None else net
    module = srlib.SRModule(net, optimizer=adam(v.fused), channels_last=v.channels_last)
    timer = StepTimer()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision=v.precision,
        max_steps=n,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    data = DataLoader(SameBatch({"lr": setup.lr, "hr": setup.hr}, n), batch_size=None, num_workers=0)
    trainer.fit(module, train_dataloaders=data)
    if trainer.global_step != n or len(timer.marks) != n + 1:
        raise RuntimeError(
            f"{v.label}: Lightning made {trainer.global_step} optimizer steps "
            f"({len(timer.marks) - 1} batches), expected {n}"
        )
    return timer.marks


class Runner:
    """Runs the variants of one model; keeps each compiled model (and its optimizer) across repeats."""

    def __init__(self, setup: ModelSetup, warmup: int, steps: int) -> None:
        self.setup, self.warmup, self.steps = setup, warmup, steps
        self.compiled: dict[str, tuple[Callable, torch.optim.Optimizer]] = {}  # plain loops
        self.compiled_nets: dict[str, nn.Module] = {}  # compiled networks for SRModule
        self.first_step_s: dict[str, float] = {}

    def run(self, v: Variant) -> float:
        """Samples/s over the timed steps of one run of ``v``."""
        s, n = self.setup, self.warmup + self.steps
        if v.kind == "srlib" and v.compiled:
            if v.key not in self.compiled_nets:  # compile once; later repeats reuse the compiled network
                self.compiled_nets[v.key] = torch.compile(copy.deepcopy(s.net))
            marks = srlib_steps(s, v, n, net=self.compiled_nets[v.key])
        elif v.kind == "srlib":
            marks = srlib_steps(s, v, n)
        elif v.kind == "plain":
            net = copy.deepcopy(s.net)
            marks = plain_steps(net, adam(v.fused)(net.parameters()), s.lr, s.hr, n)
        else:
            if v.key not in self.compiled:
                net = copy.deepcopy(s.net)
                self.compiled[v.key] = (torch.compile(net), adam(False)(net.parameters()))
            model, opt = self.compiled[v.key]
            marks = plain_steps(model, opt, s.lr, s.hr, n, bf16=v.precision != "32-true")
        self.first_step_s.setdefault(v.key, marks[1] - marks[0])
        return s.batch * self.steps / (marks[-1] - marks[self.warmup])


def short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().splitlines()[0]
    return text[:160]


def bench_model(
    recipe: str, variants: list[Variant], args: argparse.Namespace, compile_ok: bool
) -> dict[str, Any]:
    setup = setup_model(recipe)
    params = sum(p.numel() for p in setup.net.parameters())
    print(
        f"\n== {recipe}: {setup.arch} x{setup.scale}, {params:,} params, HR patch {setup.patch} "
        f"(LR {setup.patch // setup.scale}), batch {setup.batch} ==",
        flush=True,
    )
    warmup, steps, probe = args.warmup, args.steps, None
    if args.run_seconds:
        # Size the run from the plain fp32 step time: about --run-seconds of timed steps (3 at least,
        # --steps at most), and a warm-up of half that (2 at least, --warmup at most).
        net = copy.deepcopy(setup.net)
        marks = plain_steps(net, adam(False)(net.parameters()), setup.lr, setup.hr, 3)
        probe = min(b - a for a, b in itertools.pairwise(marks[1:]))  # steps 2 and 3
        steps = max(3, min(args.steps, round(args.run_seconds / probe)))
        warmup = max(2, min(args.warmup, steps // 2))
        del net
    print(
        f"per run: {warmup} warm-up + {steps} timed steps"
        + (f" (plain fp32 step ~{probe:.2f} s in a probe)" if probe else ""),
        flush=True,
    )
    runner = Runner(setup, warmup, steps)
    active = [v for v in variants if not v.compiles or compile_ok]
    rates: dict[str, list[float]] = {v.key: [] for v in active}
    status: dict[str, str] = {v.key: "ok" for v in variants}
    why_not = "--no-compile" if args.no_compile else "not in --compile-models"
    for v in variants:
        if v.compiles and not compile_ok:
            status[v.key] = f"skipped: {why_not}"
    started = time.perf_counter()
    for r in range(args.repeats):
        order = active[r % len(active) :] + active[: r % len(active)]
        for v in order:
            if status[v.key] != "ok":
                continue
            try:
                rates[v.key].append(runner.run(v))
            except Exception as err:  # report and go on (compile can fail on a missing compiler, ...)
                status[v.key] = "failed: " + short(err)
            gc.collect()
    elapsed = time.perf_counter() - started

    results: dict[str, Any] = {}
    base = statistics.median(rates["plain_fp32"]) if rates.get("plain_fp32") else float("nan")
    print(f"{'variant':<40} {'samples/s':>10} {'(min-max)':>17} {'vs plain fp32':>14}")
    for v in variants:
        got = rates.get(v.key, [])
        entry: dict[str, Any] = {"label": v.label, "status": status[v.key], "samples_per_s": got}
        if got and status[v.key] == "ok":
            med = statistics.median(got)
            entry.update(median=med, ratio=med / base)
            spread = f"({min(got):.1f}-{max(got):.1f})"
            print(f"{v.label:<40} {med:10.1f} {spread:>17} {med / base:13.2f}x")
        else:
            print(f"{v.label:<40} {status[v.key]}")
        if v.compiles and v.key in runner.first_step_s:
            entry["first_step_s"] = runner.first_step_s[v.key]
        results[v.key] = entry
    compiled = [
        f"{results[v.key]['label'].removeprefix('plain compile ')} {results[v.key]['first_step_s']:.1f} s"
        for v in variants
        if "first_step_s" in results[v.key]
    ]
    if compiled:
        print(f"first step (compilation + step): {', '.join(compiled)}")
    auto = results.get("srlib_auto", {})
    if "ratio" in auto:
        fp32 = [results[k]["median"] for k in ("plain_fp32", "srlib_fp32") if "median" in results.get(k, {})]
        target = goal_ratio()
        goal = "met" if auto["ratio"] >= target else "NOT met"
        slower = "no" if all(auto["median"] >= x for x in fp32) else "YES"
        print(
            f"goal srlib auto >= {target:g}x plain fp32: {auto['ratio']:.2f}x ({goal}); "
            f"slower than plain fp32 or srlib fp32: {slower}"
        )
    noisy = [
        v.label
        for v in variants
        if len(rates.get(v.key, [])) > 1 and max(rates[v.key]) > 1.5 * min(rates[v.key])
    ]
    if noisy:
        print(f"NOISY (max > 1.5x min over the repeats; was the machine busy? rerun): {', '.join(noisy)}")
    print(f"({elapsed:.0f} s for this model, load average {load()})", flush=True)
    return {
        "arch": setup.arch,
        "params": params,
        "scale": setup.scale,
        "patch_size": setup.patch,
        "batch_size": setup.batch,
        "warmup": warmup,
        "steps": steps,
        "seconds": elapsed,
        "variants": results,
    }


def quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        r".*does not have many workers.*",
        r".*defined a `validation_step` but have no `val_dataloader`.*",
        r".*Found \d+ module\(s\) in eval mode.*",
        r".*`max_epochs` was not set.*",
        r".*isinstance\(treespec, LeafSpec\).*",
        r".*Dynamo detected a call to a `functools.lru_cache`.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=RECIPES, metavar="RECIPE")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per run (10; --quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (20; --quick 5)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per variant (3; --quick 2)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=None,
        help="per model, fewer timed steps (>= 3) so one plain fp32 run takes about this long",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument(
        "--compile-models", nargs="+", default=None, metavar="RECIPE", help="compile only these (default all)"
    )
    parser.add_argument("--variants", nargs="+", default=None, metavar="KEY", help="subset of variant keys")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    defaults = (
        {"warmup": 2, "steps": 5, "repeats": 2} if args.quick else {"warmup": 10, "steps": 20, "repeats": 3}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        raise SystemExit("--warmup, --steps and --repeats must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_lightning()

    auto, why = auto_choice()
    variants = make_variants(auto)
    if args.variants:
        known = {v.key for v in variants}
        unknown = sorted(set(args.variants) - known)
        if unknown:
            raise SystemExit(f"unknown variants {unknown}; choose from {sorted(known)}")
        variants = [v for v in variants if v.key == "plain_fp32" or v.key in args.variants]
    compile_for = set(args.models if args.compile_models is None else args.compile_models)

    print(f"CPU: {device_name('cpu')}")
    print(
        f"torch {torch.__version__}, lightning {L.__version__}, srlib {srlib.__version__}, "
        f"{torch.get_num_threads()} threads, python {platform.python_version()}"
    )
    print(f"precision auto (cpu) -> {auto}; srlib.precision logs: {why}")
    print(f"native-bf16 flags found: {', '.join(cpu_bf16_flags()) or 'none'}")
    sizing = f", fewer per model to take ~{args.run_seconds:g} s" if args.run_seconds else ""
    print(
        f"per run: {args.warmup} warm-up + {args.steps} timed steps{sizing}; median of {args.repeats} "
        "repeats, interleaved across variants; L1 + Adam(lr=1e-4); cl = channels_last"
    )
    print(f"load average before: {load()}", flush=True)

    results: dict[str, Any] = {}
    started = time.perf_counter()
    for recipe in args.models:
        compile_ok = not args.no_compile and recipe in compile_for
        results[recipe] = bench_model(recipe, variants, args, compile_ok)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f} s; load average after: {load()}; threads {torch.get_num_threads()}")

    if args.json:
        payload = {
            "cpu": device_name("cpu"),
            "torch": torch.__version__,
            "lightning": L.__version__,
            "srlib": srlib.__version__,
            "threads": torch.get_num_threads(),
            "auto_precision": auto,
            "auto_reason": why,
            "warmup": args.warmup,
            "steps": args.steps,
            "repeats": args.repeats,
            "seconds": total,
            "models": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
