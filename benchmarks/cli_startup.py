"""Start-up cost of ``python -m srlib.upscale`` on one small image: this tree against another checkout.

    python benchmarks/cli_startup.py --baseline /tmp/srlib-base --runs 7

Each run is a fresh interpreter upscaling a 64x64 PNG x2 with bicubic (so the time is imports and
start-up, not the model). The two trees alternate run by run (the machine's noise hits both alike);
the medians and their ratio are printed, with the CPU. ``--baseline`` is a checkout of srlib (e.g.
``git worktree add /tmp/srlib-base <commit>``) run with the same interpreter and packages.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _one_run(tree: Path, image: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [
        sys.executable,
        "-m",
        "srlib.upscale",
        str(image),
        str(out),
        "--model",
        "bicubic",
        "--scale",
        "2",
    ]
    command.append("--overwrite") if out.exists() else None
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=tree, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def _lightning_modules(tree: Path) -> int:
    code = (
        "import sys, srlib.inference; print(len([m for m in sys.modules if m.split('.')[0] == 'lightning']))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True)
    return int(done.stdout.strip() or -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, type=Path, help="another srlib checkout to compare with")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "in.png"
        Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")).save(image)
        trees = {"this tree": REPO, "baseline": args.baseline.resolve()}
        times: dict[str, list[float]] = {name: [] for name in trees}
        for name, tree in trees.items():  # one untimed run each: page cache, .pyc files
            _one_run(tree, image, Path(tmp) / f"{name}.png")
        for _ in range(args.runs):
            for name, tree in trees.items():
                times[name].append(_one_run(tree, image, Path(tmp) / f"{name}.png"))
    print(
        f"CPU: {_cpu()}, {os.cpu_count()} cores; "
        f"python -m srlib.upscale 64x64 PNG x2 bicubic, {args.runs} runs"
    )
    for name, tree in trees.items():
        median = statistics.median(times[name])
        print(
            f"  {name:9s} median {median:.2f} s  (min {min(times[name]):.2f}, max {max(times[name]):.2f}); "
            f"lightning modules after `import srlib.inference`: {_lightning_modules(tree)}"
        )
    ratio = statistics.median(times["baseline"]) / statistics.median(times["this tree"])
    print(f"  start-up speed-up: {ratio:.2f}x (baseline median / this tree's median)")


if __name__ == "__main__":
    main()
