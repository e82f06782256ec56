"""Throughput of the pixelation detector: images/s at 224x224 and at full HD, fp32 vs ``auto``.

    python benchmarks/detector_throughput.py                 # the real measurement (all cores)
    python benchmarks/detector_throughput.py --quick         # a smoke run with tiny settings

What is measured, per precision (``fp32``, and ``auto``: bf16 only where the CPU computes it natively,
decided by ``srlib.precision``; on a CPU without native bf16 ``auto`` *is* fp32 and says so):

- **224x224**: batches of ``--batch`` images through the whole detector (Canny edge map + MobileNetV3),
  and the two parts on their own (the Canny edge map, then the network on precomputed inputs), so the
  bottleneck is visible;
- **full HD** (1920x1080): whole frames scored as ``srlib.detect`` scores them: never resized (resizing
  would wipe out small blocks), but 3 x 3 = 9 native-resolution 224 px tiles per frame, one batch per
  frame. A frame therefore costs about 9 images of 224 px.

The CPU model, thread count and the native-bf16 flags are printed beside the figures, and the
``auto`` / ``fp32`` ratio is from the same run. Inputs are random (the cost does not depend on content).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rate(fn, count: int, repeats: int) -> float:
    fn()  # warm-up (allocations, oneDNN kernel selection)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def measure(runner, x224: torch.Tensor, frame: torch.Tensor, args, tile_batch) -> dict[str, float]:
    """images/s of the whole detector, Canny alone, the network alone (224 px) and frames/s at full HD."""
    net = runner.net
    with torch.inference_mode():
        feats = net.features(x224).to(next(net.backbone.parameters()).dtype)
        feats = feats.contiguous(memory_format=torch.channels_last)
        return {
            "detector_224": _rate(lambda: runner.logits(x224), args.batch, args.repeats),
            "canny_224": _rate(lambda: net.edge_map(x224), args.batch, args.repeats),
            "network_224": _rate(lambda: net.backbone(feats), args.batch, args.repeats),
            "full_hd": _rate(
                lambda: [runner.logits(tile_batch(frame)) for _ in range(args.frames)],
                args.frames,
                args.repeats,
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (batch 4, one repeat, 1 thread)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--frames", type=int, default=4, help="full-HD frames per repeat")
    parser.add_argument("--random", action="store_true", help="random weights (default: shipped ones)")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.repeats, args.threads, args.frames = 4, 1, 1, 1
    torch.set_num_threads(args.threads)

    from srlib._package_weights import list_packaged
    from srlib.detect import create_detector
    from srlib.detect.predict import DetectorRunner, tile_batch
    from srlib.precision import cpu_bf16_flags, native_reduced_dtype

    pretrained = not args.random and bool(list_packaged("detector", "mobilenetv3_canny"))
    native, why = native_reduced_dtype("cpu")
    flags = ", ".join(cpu_bf16_flags()) or "none"
    print(f"CPU: {cpu_model()} | threads: {args.threads} | bf16 flags: {flags}")
    print(f"auto precision -> {native or torch.float32}: {why}")
    print(f"weights: {'shipped' if pretrained else 'random'}; batch {args.batch}; best of {args.repeats}")
    x224 = torch.rand(args.batch, 3, 224, 224)
    frame = torch.rand(3, 1080, 1920)
    results: dict[str, dict[str, float]] = {}
    for dtype in ("fp32", "auto"):
        runner = DetectorRunner(create_detector("mobilenetv3_canny", pretrained=pretrained), dtype=dtype)
        r = measure(runner, x224, frame, args, tile_batch)
        results[dtype] = r
        print(
            f"{dtype:>4} ({str(runner.dtype).removeprefix('torch.')}): "
            f"224x224 {r['detector_224']:8.1f} img/s (Canny alone {r['canny_224']:8.1f}, network alone "
            f"{r['network_224']:8.1f}) | full HD (9 tiles) {r['full_hd']:6.2f} frames/s"
        )
    ratio = {k: results["auto"][k] / results["fp32"][k] for k in results["fp32"]}
    print(
        "auto / fp32: "
        + ", ".join(f"{k} x{v:.2f}" for k, v in ratio.items())
        + f"  (CPU: {cpu_model()}, {args.threads} threads)"
    )
    goal = results["auto"]["detector_224"]
    print(f"goal 200 img/s at 224x224: {'met' if goal >= 200 else 'NOT met'} ({goal:.1f} img/s with auto)")


if __name__ == "__main__":
    main()
