"""Does a training precision keep quality? The same recipe, seed and steps in each precision, scored alike.

Usage::

    python benchmarks/train_precision_quality.py [--recipes edsr_baseline_x4 minisrresnet_x4]
        [--precisions 32-true bf16-mixed bf16-true] [--steps 300] [--t91 DIR] [--set5 DIR] [--json PATH]

Each run is ``python -m srlib.train recipe=NAME`` as users start it, on T91 (``../shared/data/T91``)
with Set5 as the validation set, for one epoch of ``--steps`` steps (``data.samples_per_epoch`` =
steps x batch, so the recipe's cosine schedule and EMA run as they would, just shorter), with
``trainer.precision`` set to each of ``--precisions`` and everything else equal (seed 0). The run's
own final evaluation scores its best weights in fp32 with the SR protocol (Y channel, border shave);
the table gives Set5 PSNR, its difference from ``32-true`` and the wall time of the fit.

The rule (issue 21): a faster precision may be the default only where it ends within 0.05 dB of fp32
after the same steps. Short runs sit on a steep part of the curve, so a difference this small is also
the size of run-to-run noise: read the ``--steps`` you chose beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from srlib.evaluation.cost import device_name
from srlib.precision import native_reduced_dtype
from srlib.train import compose_recipe

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def run(recipe: str, precision: str, steps: int, args: argparse.Namespace, work: Path) -> dict:
    out = work / f"{recipe}-{precision}"
    batch = int(compose_recipe([f"recipe={recipe}"]).data.batch_size)  # the recipe's own
    cmd = [
        sys.executable,
        "-m",
        "srlib.train",
        f"recipe={recipe}",
        f"data.root={args.t91}",
        f"data.val_dir={args.set5}",
        f"data.samples_per_epoch={steps * batch}",
        "trainer.max_epochs=1",
        f"trainer.precision={precision}",
        "logger=none",
        f"output_dir={out}",
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"recipe": recipe, "precision": precision, "error": " | ".join(tail), "wall_s": wall}
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "recipe": recipe,
        "precision": precision,
        "psnr": metrics["model"]["psnr"],
        "bicubic_psnr": metrics["bicubic"]["psnr"],
        "steps": metrics["schedule"]["global_steps"],
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["edsr_baseline_x4", "minisrresnet_x4"])
    parser.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed", "bf16-true"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--t91", type=Path, default=SHARED / "T91")
    parser.add_argument("--set5", type=Path, default=SHARED / "Set5")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    for folder in (args.t91, args.set5):
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing: pass --t91/--set5 (folders of HR images)")
    native, why = native_reduced_dtype("cpu")
    print(f"CPU: {device_name('cpu')}; native reduced precision: {native} ({why})")
    print(f"{args.steps} steps per run, T91 -> Set5, seed 0, final evaluation in fp32", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="srlib-precision-") as tmp:
        for recipe in args.recipes:
            for precision in args.precisions:
                row = run(recipe, precision, args.steps, args, Path(tmp))
                rows.append(row)
                base = next((r for r in rows if r["recipe"] == recipe and r["precision"] == "32-true"), None)
                if "error" in row:
                    print(f"{recipe:18s} {precision:11s} failed: {row['error']}", flush=True)
                    continue
                if base and "psnr" in base:
                    delta = row["psnr"] - base["psnr"]
                    keeps = "yes" if delta >= -0.05 else "NO"
                    verdict = f"{delta:+.3f} vs 32-true, not 0.05 dB below: {keeps}"
                else:
                    verdict = "no 32-true run of this recipe to compare with (list 32-true first)"
                print(
                    f"{recipe:18s} {precision:11s} Set5 {row['psnr']:.3f} dB "
                    f"(bicubic {row['bicubic_psnr']:.3f}) {verdict}; {row['steps']} steps, fit+eval "
                    f"{row['wall_s']:.0f} s",
                    flush=True,
                )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp_json = args.json.with_name(f".{args.json.name}.tmp")
        payload = {"cpu": device_name("cpu"), "steps": args.steps, "runs": rows}
        tmp_json.write_text(json.dumps(payload, indent=2) + "\n")
        os.replace(tmp_json, args.json)


if __name__ == "__main__":
    main()
