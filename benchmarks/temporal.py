"""What time adds to video SR and what streaming costs: temporal models beside their per-frame control.

    python benchmarks/temporal.py --weights vsr_window=W.safetensors --weights vsr_recurrent=R.safetensors \\
        --weights vsr_frame=F.safetensors         # trained weights (see docs/video.md for the recipes)
    python benchmarks/temporal.py --quick         # untrained networks: speed and memory only

Part 1, quality, on held-out clip pairs made here from Set14 photos (``make_video_pairs``: a camera
pan, HR near-lossless H.264, LR the clip's own low-bitrate H.264), every frame streamed as
``upscale_video`` does: Y-PSNR, SSIM, ``tdiff_psnr`` (the PSNR of frame-to-frame differences; higher =
steadier), params and GFLOPs per output frame for ``vsr_window``, ``vsr_recurrent``, their per-frame
control ``vsr_frame`` and bicubic, with each temporal model's gain over the control in the same run.
Twice: x4 (LR 48x36 -> HR 192x144) and the 144p->480p ratio (x3.33, LR 96x54 -> HR 320x180 at Set14's
sizes) through ``FramePairPolicy(size_policy="resize_lr")``, as a x4 model is used on 144p uploads.
Without ``--weights`` the networks are untrained (seeded) and the quality rows say so.

Part 2, speed: frames/s end to end (decode, model, encode; ``srlib.upscale_video``) on a 256x144 H.264
pan upscaled x4, fp32 and ``auto`` precision, median of the runs, with the ratio to ``vsr_frame``.

Part 3, memory: peak RSS of ``upscale_video`` on a 200-frame and a 2,000-frame clip (``--rss-size``),
each in a fresh process, and the ratio long/short (the goal: within 10%).

Run it alone on an idle machine; every figure is printed beside the CPU's name (``lscpu``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import srlib
from srlib.data.video.synthetic import CameraPan, make_video_pairs, pan_frames
from srlib.evaluation.cost import device_name
from srlib.evaluation.video import evaluate_video_pairs
from srlib.inference import upscale_video
from srlib.io import read_image
from srlib.io.video import write_video
from srlib.precision import resolve_dtype

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MODELS = ["vsr_window", "vsr_recurrent", "vsr_frame", "bicubic"]
TEMPORAL = ["vsr_window", "vsr_recurrent"]
CONTROL = "vsr_frame"


def network(name: str, weights: dict[str, str]) -> torch.nn.Module:
    """The trained network of ``name`` from ``--weights``, else a seeded untrained one."""
    if name in weights:
        return srlib.load_model(weights[name])
    torch.manual_seed(0)
    return srlib.create_model(name, scale=4)


def photo(name: str = "baboon.png") -> np.ndarray:
    """A Set14 photo as ``(H, W, 3)`` uint8 (scikit-image's astronaut when ../shared is absent)."""
    path = SHARED / "Set14" / name
    if path.exists():
        return np.ascontiguousarray(read_image(path).permute(1, 2, 0).numpy())
    from skimage import data

    return data.astronaut()


def pan_clip(path: Path, frames: int, size: tuple[int, int]) -> Path:
    """An H.264 clip of ``frames`` ``size`` ``(h, w)`` frames panning across a photo, near-lossless."""
    if not path.exists():
        image = photo()
        h, w = size
        shrink = max(h / image.shape[0], w / image.shape[1]) * 1.6  # room to pan
        if shrink < 1:
            resized = torch.nn.functional.interpolate(
                torch.from_numpy(image).permute(2, 0, 1)[None].float(),
                scale_factor=shrink,
                mode="bilinear",
                antialias=True,
            )
            image = resized[0].clamp(0, 255).byte().permute(1, 2, 0).contiguous().numpy()
        write_video(path, pan_frames(image, size, CameraPan(frames=frames, seed=3)), fps=25.0, crf=18)
    return path


# -- part 1: quality -------------------------------------------------------------------------------
def quality(args: argparse.Namespace, weights: dict[str, str], work: Path) -> list[dict]:
    sets = {
        "x4": dict(hr_size=(144, 192), lr_size=None, policy=None),
        "144p->480p ratio (x3.33)": dict(
            hr_size=(180, 320), lr_size=(54, 96), policy={"size_policy": "resize_lr"}
        ),
    }
    trained = all(m in weights for m in MODELS if m != "bicubic")
    results = []
    for label, spec in sets.items():
        root = work / f"set14_{spec['hr_size'][1]}x{spec['hr_size'][0]}"
        make_video_pairs(
            SHARED / "Set14",
            root,
            hr_size=spec["hr_size"],
            lr_size=spec["lr_size"],
            pan=CameraPan(frames=args.clip_frames, seed=7),
            limit=args.clips,
        )
        models = [weights.get(m, m) for m in MODELS]
        if not trained:  # seeded untrained networks, saved so every model is a file like trained ones
            for m in MODELS[:-1]:
                if m not in weights:
                    path = work / f"untrained_{m}.safetensors"
                    if not path.exists():
                        srlib.save_model(network(m, {}), path)
                    models[MODELS.index(m)] = str(path)
        result = evaluate_video_pairs(
            models, root, scale=4, dtype="fp32", policy=spec["policy"], speed_runs=0, speed_warmup=0
        )
        by_model = {MODELS[models.index(row.source)]: row for row in result.rows}
        clips = len(by_model[CONTROL].clips)
        state = "trained" if trained else "UNTRAINED"
        frames = args.clip_frames
        print(
            f"\n{label}: {clips} Set14 clips of {frames} frames, LR {_sizes(spec)}; {state} networks, "
            f"fp32, {device_name('cpu')}"
        )
        print("| model | PSNR (Y) | SSIM | tdiff PSNR | vs vsr_frame (PSNR/tdiff) | GFLOPs/frame | params |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        control = by_model[CONTROL]
        for name, row in by_model.items():
            psnr, tdiff = row.mean("psnr"), row.mean("tdiff_psnr")
            gain = (
                f"{psnr - control.mean('psnr'):+.2f} / {tdiff - control.mean('tdiff_psnr'):+.2f} dB"
                if name in TEMPORAL
                else ""
            )
            cost = row.cost
            gflops = f"{cost.flops / 1e9:.2f}" if cost else ""
            print(
                f"| {name} | {psnr:.2f} | {row.mean('ssim'):.4f} | {tdiff:.2f} | {gain} | {gflops} | "
                f"{cost.params if cost else 0:,} |"
            )
            results.append(
                {
                    "set": label,
                    "model": name,
                    "trained": name == "bicubic" or name in weights,
                    "psnr": psnr,
                    "ssim": row.mean("ssim"),
                    "tdiff_psnr": tdiff,
                    "flops_at_256x144": cost.flops if cost else None,
                    "params": cost.params if cost else 0,
                }
            )
        if not trained:
            print("(untrained networks: these quality figures say nothing about the architectures)")
    return results


def _sizes(spec: dict) -> str:
    h, w = spec["hr_size"]
    lh, lw = spec["lr_size"] or (h // 4, w // 4)
    return f"{lw}x{lh} -> HR {w}x{h}"


# -- part 2: speed ---------------------------------------------------------------------------------
def speed(args: argparse.Namespace, weights: dict[str, str], work: Path) -> list[dict]:
    src = pan_clip(work / f"pan_144p_{args.speed_frames}.mp4", args.speed_frames, (144, 256))
    native = resolve_dtype("auto", torch.device("cpu"))
    dtypes = ["fp32"] if native == torch.float32 else ["fp32", "auto"]
    print(
        f"\nEnd to end, 256x144 -> 1024x576 (x4), {args.speed_frames} frames, upscale_video batch "
        f"{args.batch_size}, median of {args.runs} runs, {torch.get_num_threads()} threads, "
        f"{device_name('cpu')}"
    )
    if native == torch.float32:
        print("('auto' resolves to float32 on this CPU: bf16 is not native here, so it is the fp32 row)")
    rows = []
    for dtype in dtypes:
        fps = {}
        for name in MODELS:
            net = network(name, weights)
            times = []
            for k in range(args.runs + 1):  # the first run warms up
                dst = work / f"out_{name}.mp4"
                started = time.perf_counter()
                report = upscale_video(
                    src, dst, net, batch_size=args.batch_size, dtype=dtype, progress=False, overwrite=True
                )
                if k:
                    times.append(time.perf_counter() - started)
                assert report.frames == args.speed_frames, report
            fps[name] = args.speed_frames / statistics.median(times)
        for name in MODELS:
            ratio = fps[name] / fps[CONTROL]
            print(f"  {name:14s} {dtype:5s} {fps[name]:7.2f} frames/s   x{ratio:.2f} of {CONTROL}")
            rows.append({"model": name, "dtype": dtype, "frames_per_second": fps[name], "vs_control": ratio})
    return rows


# -- part 3: memory --------------------------------------------------------------------------------
RSS_SCRIPT = """
import sys, torch, srlib
from srlib.inference import upscale_video
name, weights, src, dst = sys.argv[1:5]
torch.manual_seed(0)
net = srlib.load_model(weights) if weights != "-" else srlib.create_model(name, scale=4)
report = upscale_video(src, dst, net, batch_size=4, dtype="fp32", progress=False, overwrite=True)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(report.frames, int(hwm) / 1024, report.seconds)
"""


def memory(args: argparse.Namespace, weights: dict[str, str], work: Path) -> list[dict]:
    if not Path("/proc/self/status").exists():
        print("\nPeak RSS: skipped (reads VmHWM from /proc, which this system lacks)")
        return []
    h, w = args.rss_size
    print(
        f"\nPeak RSS of upscale_video x4 on {w}x{h} clips, each in a fresh process, fp32, "
        f"{device_name('cpu')}"
    )
    rows = []
    for name in TEMPORAL:
        peaks = {}
        for frames in (args.rss_short, args.rss_long):
            src = pan_clip(work / f"pan_{w}x{h}_{frames}.mp4", frames, (h, w))
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    RSS_SCRIPT,
                    name,
                    weights.get(name, "-"),
                    str(src),
                    str(work / "o.mp4"),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            done, peak, seconds = int(out[0]), float(out[1]), float(out[2])
            assert done == frames, (done, frames)
            peaks[frames] = peak
            fps = done / seconds
            print(f"  {name:14s} {frames:5d} frames: peak RSS {peak:7.1f} MB  ({fps:.2f} frames/s)")
            rows.append({"model": name, "frames": frames, "peak_rss_mb": peak, "seconds": seconds})
        ratio = peaks[args.rss_long] / peaks[args.rss_short]
        print(f"  {name:14s} {args.rss_long} / {args.rss_short} frames: x{ratio:.3f} (goal: within 10%)")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", action="append", default=[], help="MODEL=FILE, e.g. vsr_window=W.safetensors")
    p.add_argument("--clips", type=int, default=14, help="Set14 photos made into held-out clips (default 14)")
    p.add_argument("--clip-frames", type=int, default=20)
    p.add_argument("--speed-frames", type=int, default=48)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--rss-size", type=lambda s: tuple(int(v) for v in s.split("x")), default=(72, 128),
                   help="HEIGHTxWIDTH of the memory clips (default 72x128)")  # fmt: skip
    p.add_argument("--rss-short", type=int, default=200)
    p.add_argument("--rss-long", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="4 clips of 10 frames, 1 run, 50/500 memory frames")
    p.add_argument("--skip", action="append", default=[], choices=["quality", "speed", "memory"])
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--work", type=Path, help="keep the clips here (default: a temporary folder)")
    args = p.parse_args()
    if args.quick:
        args.clips, args.clip_frames, args.runs, args.rss_short, args.rss_long = 4, 10, 1, 50, 500
    weights = {}
    for item in args.weights:
        name, _, path = item.partition("=")
        if name not in MODELS[:-1] or not path:
            p.error(f"--weights takes MODEL=FILE with MODEL one of {', '.join(MODELS[:-1])}; got {item!r}")
        weights[name] = path
    if not (SHARED / "Set14").is_dir():
        p.error(f"Part 1 makes its clips from {SHARED / 'Set14'}, which is absent (../shared/data/README)")
    threads = torch.get_num_threads()
    print(f"srlib {srlib.__version__}, torch {torch.__version__}, {device_name('cpu')}, {threads} threads")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        figures = {"cpu": device_name("cpu"), "weights": weights}
        for part, fn in (("quality", quality), ("speed", speed), ("memory", memory)):
            if part not in args.skip:
                figures[part] = fn(args, weights, work)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
