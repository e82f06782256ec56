"""Inference throughput of the zoo, against this CPU's measured peak and a Real-ESRGAN-style loop.

    python benchmarks/inference_throughput.py                      # fast models, both sizes
    python benchmarks/inference_throughput.py --models all --quick # every model, fewer repeats
    python benchmarks/inference_throughput.py --video-only         # the end-to-end SRVGG check

Part 1, per model: frames/s at 144p (256x144) -> x4 and 480p (854x480) -> x2 for fp32 and ``auto``
precision, batch 1 and 8, channels_last on and off, ``torch.compile`` and onnxruntime, each the
median of timed runs after warm-up, with the fraction of the peak this CPU reached in the same run
(model FLOPs / time over the best of a large fp32 matmul and a 3x3 convolution, measured here).

Part 2, end to end on a real H.264 clip (a 144p pan across a Set14/T91 photo, encoded here):
SRVGG-compact (16 convs, 64 ch) x4 through ``srlib.upscale_video`` (decode, compute and encode in
overlapping threads, batches, channels_last, ``auto`` precision) beside the same network run the way
Real-ESRGAN's ``inference_realesrgan_video.py`` runs it: one frame at a time, fp32, numpy in and out
(``RealESRGANer.enhance``'s steps), decode, model and encode one after the other. Same weights, same
clip, same encoder settings; the ratio is printed.

Part 3: peak memory (RSS) of one 3840x2160 input upscaled x2 whole and in 512/256-pixel tiles, each
in a fresh process.

Run it on an idle machine; the figures name the CPU (``lscpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import srlib
from srlib.evaluation.cost import device_name
from srlib.inference import Upscaler
from srlib.precision import resolve_dtype

FAST = ["fsrcnn", "srvgg_compact", "mobilesr", "tinysrgan", "edsr_baseline", "vdsr", "hat_lite"]
SIZES = {"144p x4": ((144, 256), 4), "480p x2": ((480, 854), 2)}


def timed(fn: Callable[[], object], *, warmup: int, runs: int, budget_s: float) -> tuple[float, int]:
    """Median seconds per call after ``warmup`` calls; stops early when ``budget_s`` is spent."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < runs and (len(times) < 2 or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), len(times)


def peak_flops(dtype: torch.dtype = torch.float32) -> float:
    """The best FLOP/s of a 2048^3 matmul and a 64->64 3x3 convolution on 256x256 (channels_last)."""
    with torch.inference_mode():
        a, b = torch.rand(2048, 2048, dtype=dtype), torch.rand(2048, 2048, dtype=dtype)
        mm_s, _ = timed(lambda: a @ b, warmup=2, runs=5, budget_s=5)
        conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dtype=dtype, memory_format=torch.channels_last)
        x = torch.rand(1, 64, 256, 256, dtype=dtype).contiguous(memory_format=torch.channels_last)
        conv_s, _ = timed(lambda: conv(x), warmup=2, runs=5, budget_s=5)
    return max(2 * 2048**3 / mm_s, 2 * 64 * 64 * 9 * 256 * 256 / conv_s)


def model_flops(net: torch.nn.Module, h: int, w: int) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(torch.rand(1, 3, h, w))
    return float(counter.get_total_flops())


def variants(
    net: torch.nn.Module, compile_: bool, onnx: bool
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> a callable that upscales a batch, for each way of running ``net``."""
    out: dict[str, Callable] = {
        "fp32 NCHW": Upscaler(net, dtype="fp32", channels_last=False),
        "fp32": Upscaler(net, dtype="fp32"),
    }
    if resolve_dtype("auto", "cpu") != torch.float32:
        out["auto"] = Upscaler(net, dtype="auto")
        if out["auto"].pure:  # what ``auto`` did before pure bf16: float32 weights under autocast
            autocast = Upscaler(net, dtype="bf16")
            autocast.model, autocast.pure = net.to(memory_format=torch.channels_last), False
            out["bf16 autocast"] = autocast
    if compile_:
        compiled = torch.compile(net.eval())
        compiled.srlib_arch = getattr(net, "srlib_arch", None)
        out["fp32 compile"] = Upscaler(net, dtype="fp32")
        out["fp32 compile"].model = compiled.to(memory_format=torch.channels_last)
    if onnx:
        try:
            from srlib.inference.onnx import OnnxRuntimeModel, export_onnx

            path = Path(tempfile.mkdtemp()) / "m.onnx"
            export_onnx(net, path, check=False)
            out["onnxruntime"] = Upscaler(OnnxRuntimeModel(path), dtype="fp32")
        except (ImportError, ValueError) as err:
            print(f"  onnxruntime: {type(err).__name__}: {str(err)[:90]}")
    return out


def part1(models: list[str], args: argparse.Namespace, peaks: dict[str, float]) -> list[dict]:
    rows = []
    for name in models:
        for label, ((h, w), scale) in SIZES.items():
            entry = srlib.models.get_model_entry(name)
            if scale not in entry.scales:
                continue
            net = srlib.create_model(name, scale=scale).eval()
            flops = model_flops(net, h, w)
            base = None
            for vname, run in variants(net, args.compile, args.onnx).items():
                batches = (1, 8) if vname in ("fp32", "auto") and label.startswith("144p") else (1,)
                for batch in batches:
                    x = torch.rand(batch, 3, h, w)
                    try:
                        sec, n = timed(
                            lambda run=run, x=x: run(x), warmup=1, runs=args.runs, budget_s=args.budget
                        )
                    except Exception as err:  # a variant that cannot run here is reported, not fatal
                        print(f"  {name} {label} {vname} b{batch}: {type(err).__name__}: {str(err)[:80]}")
                        continue
                    fps = batch / sec
                    base = base or fps
                    peak = peaks["auto"] if vname in ("auto", "bf16 autocast") else peaks["fp32"]
                    row = {
                        "model": name,
                        "size": label,
                        "variant": vname,
                        "batch": batch,
                        "fps": fps,
                        "runs": n,
                        "ratio": fps / base,
                        "peak_fraction": flops * fps / peak,
                    }
                    rows.append(row)
                    print(
                        f"  {name:14s} {label} {vname:13s} b{batch}: {fps:8.3f} frames/s "
                        f"({row['ratio']:.2f}x fp32 NCHW b1, {100 * row['peak_fraction']:.0f}% of peak, "
                        f"{n} runs)",
                        flush=True,
                    )
    summarise(rows)
    return rows


def summarise(rows: list[dict]) -> None:
    """``auto`` (and bf16 autocast) against fp32 channels_last, batch 1, per model and size."""
    fps = {(r["model"], r["size"], r["variant"]): r["fps"] for r in rows if r["batch"] == 1}
    for (model, size, variant), value in fps.items():
        if variant in ("auto", "bf16 autocast") and (model, size, "fp32") in fps:
            print(f"  {model:14s} {size} {variant:13s} = {value / fps[model, size, 'fp32']:.2f}x fp32 (b1)")


def make_clip(path: Path, frames: int, fps: int = 25) -> Path:
    """A 256x144 H.264 clip panning across a real photo (Set14 baboon, else a scikit-image photo)."""
    import av
    from PIL import Image

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "Set14" / "baboon.png"
    if shared.exists():
        photo = np.asarray(Image.open(shared).convert("RGB"))
    else:
        from skimage import data

        photo = data.astronaut()
    small = np.asarray(Image.fromarray(photo).resize((photo.shape[1] * 144 // photo.shape[0] * 2, 288)))
    small = np.asarray(Image.fromarray(small).resize((small.shape[1] // 2, 144), Image.BICUBIC))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
        for i in range(frames):
            left = (i * 2) % max(1, small.shape[1] - 256)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(small[:, left : left + 256]), format="rgb24"
            )
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def realesrgan_style(src: Path, dst: Path, net: torch.nn.Module, crf: int, preset: str) -> int:
    """Frame by frame, as Real-ESRGAN's video script: decode, numpy, fp32 model, numpy, encode."""
    import av

    count = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=vin.average_rate, options={"crf": str(crf), "preset": preset})
        stream.pix_fmt = "yuv420p"
        for frame in inp.decode(vin):
            img = frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0  # enhance(): img / max_range
            x = torch.from_numpy(np.transpose(img, (2, 0, 1))).float().unsqueeze(0)
            with torch.no_grad():
                y = net(x)
            y = y.data.squeeze().float().cpu().clamp_(0, 1).numpy()
            y = (np.transpose(y, (1, 2, 0)) * 255.0).round().astype(np.uint8)
            if count == 0:
                stream.width, stream.height = y.shape[1], y.shape[0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(y, format="rgb24")):
                out.mux(packet)
            count += 1
        for packet in stream.encode():
            out.mux(packet)
    return count


def part2(args: argparse.Namespace, peaks: dict[str, float]) -> dict:
    """The same clip three ways: Real-ESRGAN-style, srlib in fp32 (a CPU without native bf16) and auto."""
    from srlib.inference.video import upscale_video

    folder = Path(tempfile.mkdtemp())
    clip = make_clip(folder / "clip_144p.mp4", args.frames)
    torch.manual_seed(0)
    net = srlib.create_model("srvgg_compact", scale=4).eval()
    flops = model_flops(net, 144, 256)
    ways = {"realesrgan-style": None, "srlib fp32": "fp32"}
    if resolve_dtype("auto", "cpu") != torch.float32:
        ways["srlib auto"] = "auto"
    results = {}
    for name, dtype in ways.items():
        times = []
        for rep in range(args.video_repeats):
            dst = folder / f"{name.replace(' ', '_')}_{rep}.mp4"
            t = time.perf_counter()
            if dtype is None:
                frames = realesrgan_style(clip, dst, net, 18, "medium")
            else:
                up = Upscaler(net, dtype=dtype)
                report = upscale_video(
                    clip, dst, up, batch_size=args.video_batch, crf=18, preset="medium", progress=False
                )
                frames = report.frames
            times.append(time.perf_counter() - t)
        fps = frames / statistics.median(times)
        peak = peaks["auto"] if dtype == "auto" else peaks["fp32"]
        results[name] = {
            "fps": fps,
            "frames": frames,
            "runs": len(times),
            "peak_fraction_model": flops * fps / peak,
        }
        print(
            f"  {name:17s}: {fps:.2f} frames/s end to end ({frames} frames, median of {len(times)}; "
            f"model FLOPs at that rate = {100 * flops * fps / peak:.0f}% of its precision's peak)",
            flush=True,
        )
    base = results["realesrgan-style"]["fps"]
    for name in ways:
        if name != "realesrgan-style":
            results[name]["ratio"] = results[name]["fps"] / base
            print(f"  {name} / Real-ESRGAN-style: {results[name]['ratio']:.2f}x")
    return results


MEMORY_SCRIPT = """
import sys, time, torch, srlib
from srlib.inference import Upscaler
torch.manual_seed(0)
net = srlib.create_model(sys.argv[1], scale=int(sys.argv[2]))
tile = int(sys.argv[3]) or None
up = Upscaler(net, dtype="fp32", tile=tile, tile_overlap=32)
x = torch.rand(1, 3, 2160, 3840)
def status(key):  # this process's own figures (ru_maxrss would include the parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
base = status("VmRSS")
t = time.perf_counter()
y = up(x)
seconds = time.perf_counter() - t
print(base, status("VmHWM"), seconds, tuple(y.shape))
"""


def part3(args: argparse.Namespace) -> list[dict]:
    """Peak memory of one 4K (3840x2160) input, whole and in tiles, each in a fresh process."""
    rows = []
    for tile in (0, 512, 256):
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, args.memory_model, "2", str(tile)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        base, peak, seconds = float(out[0]), float(out[1]), float(out[2])
        row = {
            "model": args.memory_model,
            "tile": tile or None,
            "peak_mb": peak,
            "input_and_model_mb": base,
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"  {args.memory_model} x2 on 3840x2160, tile {tile or 'none':>4}: peak RSS {peak:,.0f} MB "
            f"({base:,.0f} MB before the call; output alone {2160 * 3840 * 4 * 3 * 4 / 2**20:,.0f} MB), "
            f"{seconds:.1f} s",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(FAST), help="comma list, or 'all'")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per variant at most (>= 2 runs)")
    parser.add_argument("--quick", action="store_true", help="3 runs, 8 s per variant")
    parser.add_argument("--compile", action="store_true", help="add torch.compile variants (slow to warm up)")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false")
    parser.add_argument("--video-only", action="store_true")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--no-video", dest="video", action="store_false", help="skip part 2")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--video-batch", type=int, default=4)
    parser.add_argument("--video-repeats", type=int, default=3)
    parser.add_argument("--memory-model", default="fsrcnn", help="model for the 4K peak-memory part")
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.budget = 3, 8.0
    threads = torch.get_num_threads()
    print(
        f"CPU: {device_name('cpu')}; torch {torch.__version__}, {threads} threads; "
        f"auto = {resolve_dtype('auto', 'cpu')}"
    )
    peaks = {"fp32": peak_flops()}
    reduced = resolve_dtype("auto", "cpu")
    peaks["auto"] = peak_flops(reduced) if reduced != torch.float32 else peaks["fp32"]
    print(
        f"measured peak: fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, "
        f"auto ({reduced}) {peaks['auto'] / 1e9:.1f} GFLOP/s"
    )
    report: dict = {
        "cpu": device_name("cpu"),
        "threads": threads,
        "peak_gflops": {k: v / 1e9 for k, v in peaks.items()},
    }
    if not (args.video_only or args.memory_only):
        models = srlib.list_models() if args.models == "all" else args.models.split(",")
        models = [m for m in models if m != "bicubic"]
        print("part 1: model throughput")
        report["models"] = part1(models, args, peaks)
    if args.video and not args.memory_only:
        print("part 2: SRVGG-compact x4, 144p clip, end to end")
        report["video"] = part2(args, peaks)
    if args.memory:
        print("part 3: peak memory on a 4K input")
        report["memory"] = part3(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
