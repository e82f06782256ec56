"""``python -m srlib.train -m ...``: run every combination of a sweep, then tabulate and plot the scores.

Each run gets its own folder ``<root>/<NN>_<key=value,...>`` under ``output_dir`` (default
``outputs/<name>/multirun-<date-time>``). Re-running the same command with ``resume=true
output_dir=<root>`` skips finished runs and resumes interrupted ones, so a long sweep (the 36-cell VDSR
ablation) can be stopped and continued. The summary is ``summary.csv``, ``summary.md`` and
``summary.png`` (Set5 PSNR per cell) in the root.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from srlib._fs import atomic_write

__all__ = ["run_sweep", "summarize_sweep"]

log = logging.getLogger("srlib.train")

_SCORE_COLUMNS = ("psnr", "ssim", "bicubic_psnr", "global_steps", "train_seconds", "status")


def _job_name(index: int, combo: Sequence[str], varying: set[str]) -> str:
    parts = [c.replace("=", "-") for c in combo if c.partition("=")[0] in varying]
    label = "_".join(parts) or "run"
    return f"{index:02d}_" + re.sub(r"[^A-Za-z0-9_.+-]", "_", label)[:120]


def run_sweep(
    args: Sequence[str],
    *,
    show: bool = False,
) -> int:
    """Run the sweep described by ``args`` (CLI overrides) and the recipe's ``sweep:`` table.

    Each cell runs the task its recipe names (:func:`srlib.lit.run_task`); a plug-in task's module
    must be imported (registered) first, as ``python -m srlib.train -m`` does.
    """
    from srlib.lit.recipes import RecipeError, expand_sweep
    from srlib.lit.recipes import compose_recipe as compose
    from srlib.lit.run import run_task as train

    special = [a for a in args if a.partition("=")[0].lstrip("+") in ("recipe", "recipes_dir")]
    control = {
        a.partition("=")[0]: a.partition("=")[2]
        for a in args
        if a.partition("=")[0] in ("output_dir", "resume")
    }
    rest = [a for a in args if a not in special and a.partition("=")[0] not in control]
    base = compose(special)
    sweep = base.get("sweep")
    recipe_sweep = OmegaConf.to_container(sweep, resolve=False) if sweep is not None else {}
    combos = expand_sweep(rest, recipe_sweep)
    keys = [[c.partition("=")[0] for c in combo] for combo in combos]
    varying = (
        {k for i, k in enumerate(keys[0]) if len({combo[i] for combo in combos}) > 1} if combos else set()
    )
    root = Path(
        control.get("output_dir")
        or Path("outputs") / str(base.name) / time.strftime("multirun-%Y%m%d-%H%M%S")
    )
    resume = str(control.get("resume", "false")).lower() in ("true", "1", "yes")
    log.info("Sweep of %d runs over %s into %s", len(combos), ", ".join(sorted(varying)) or "-", root)
    if show:
        for combo in combos:
            print(" ".join(special + combo))
        return 0
    if root.exists() and any(root.iterdir()) and not resume:
        raise RecipeError(
            f"output_dir {root} already holds a sweep; continue it with resume=true or choose another folder."
        )
    # Compose every run first: a bad key fails the sweep before any run starts.
    jobs = []
    for i, combo in enumerate(combos):
        folder = root / _job_name(i, combo, varying)
        jobs.append((combo, folder))
        compose([*special, *combo, f"output_dir={folder}"])
    rows = []
    for combo, folder in jobs:
        row: dict[str, Any] = {
            c.partition("=")[0]: c.partition("=")[2] for c in combo if c.partition("=")[0] in varying
        }
        metrics = folder / "metrics.json"
        if metrics.is_file():
            log.info("%s: finished before, kept", folder.name)
            rows.append(row | _scores(json.loads(metrics.read_text())) | {"status": "done"})
            continue
        again = (folder / "checkpoints" / "last.ckpt").is_file()
        cfg = compose([*special, *combo, f"output_dir={folder}", f"resume={str(again).lower()}"])
        try:
            result = train(cfg)
        except (RecipeError, RuntimeError) as err:
            log.error("%s failed: %s", folder.name, err)
            rows.append(row | {"status": f"failed: {str(err).splitlines()[0][:80]}"})
            continue
        payload = json.loads(Path(result["metrics"]).read_text())
        rows.append(
            row
            | _scores(payload)
            | {"train_seconds": result["train_seconds"], "status": result.get("stopped") or "done"}
        )
    written = summarize_sweep(rows, sorted(varying), root)
    print(f"\nSweep of {len(rows)} runs: {', '.join(str(p) for p in written)}")
    return 0 if all(r.get("status") == "done" for r in rows) else 1


def _scores(payload: dict) -> dict[str, Any]:
    out: dict[str, Any] = {"global_steps": payload.get("schedule", {}).get("global_steps")}
    if "model" in payload:
        out |= {
            "psnr": round(payload["model"]["psnr"], 3),
            "ssim": round(payload["model"]["ssim"], 4),
            "bicubic_psnr": round(payload["bicubic"]["psnr"], 3),
        }
    return out


def summarize_sweep(rows: list[dict[str, Any]], keys: list[str], root: Path) -> list[Path]:
    """Write ``summary.csv``, ``summary.md`` and ``summary.png`` (PSNR per cell) into ``root``."""
    columns = [*keys, *_SCORE_COLUMNS]
    root.mkdir(parents=True, exist_ok=True)

    def write_csv(f: Any) -> None:
        import io

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        f.write(text.getvalue().encode())

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    paths = [
        atomic_write(root / "summary.csv", write_csv),
        atomic_write(root / "summary.md", lambda f: f.write(("\n".join(lines) + "\n").encode())),
    ]
    plot = _plot(rows, keys, root / "summary.png")
    return [*paths, *([plot] if plot else [])]


def _plot(rows: list[dict[str, Any]], keys: list[str], path: Path) -> Path | None:
    """PSNR against the first numeric swept key, one line per combination of the other keys."""
    scored = [r for r in rows if isinstance(r.get("psnr"), (int, float))]
    if not scored:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def numeric(key: str) -> bool:
        try:
            [float(r[key]) for r in scored]
            return True
        except (KeyError, ValueError):
            return False

    x_key = next((k for k in keys if numeric(k) and k != "scale"), None)
    others = [k for k in keys if k != x_key]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if x_key is None:
        labels = [",".join(str(r.get(k)) for k in keys) or "run" for r in scored]
        ax.bar(range(len(scored)), [r["psnr"] for r in scored])
        ax.set_xticks(range(len(scored)), labels, rotation=45, ha="right", fontsize=7)
    else:
        groups: dict[str, list[dict]] = {}
        for r in scored:
            groups.setdefault(", ".join(f"{k}={r.get(k)}" for k in others), []).append(r)
        for label, group in sorted(groups.items()):
            group.sort(key=lambda r: float(r[x_key]))
            ax.plot(
                [float(r[x_key]) for r in group], [r["psnr"] for r in group], marker="o", label=label or None
            )
        ax.set_xlabel(x_key)
        if len(groups) > 1:
            ax.legend(fontsize=7)
    ax.set_ylabel("validation Y-PSNR (dB)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path
