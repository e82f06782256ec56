"""Kill -9 trials of a segmented video upscale: every killed job resumes to the uninterrupted output.

    python benchmarks/video_resume.py [--trials 20] [--frames 500] [--segment-frames 50] [--model fsrcnn]

Makes a 256x144 clip at 25 frames/s with an AAC track, upscales it once without interruption with
``python -m srlib.upscale IN OUT --segment-frames S`` (the user's command), then, per trial, starts the
same command, kills it with SIGKILL after a random delay (uniform over the uninterrupted run's time,
seeded), reruns it (it resumes by default) and compares the result with the uninterrupted one: frame
count, every frame's timestamp, a SHA-256 of the decoded frames and of the audio packets. It prints per
trial the kill time, the segments finished before the kill, the work lost (the time from the last
journal entry to the kill over the time one segment took in that run: lost work in segments) and the
resume time, then the totals: lost or corrupted outputs (must be 0) and the largest work redone (must be
at most one segment).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from srlib.evaluation.cost import device_name
from srlib.inference.segments import JOURNAL_NAME, segment_folder

FPS, RATE = 25, 16000


def make_clip(path: Path, frames: int, size: tuple[int, int] = (256, 144)) -> Path:
    """Moving bars and noise at ``FPS`` with a 440 Hz AAC tone as long as the video."""
    w, h = size
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "23"}
        sound = container.add_stream("aac", rate=RATE, layout="mono")
        samples = 0
        for k in range(frames):
            image = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
            image[:, (4 * k) % w :: 32, 1] = 220
            image[(2 * k) % h :: 24, :, 0] = 200
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            while samples < (k + 1) * RATE // FPS:
                t = (np.arange(1024) + samples) / RATE
                wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
                frame.sample_rate, frame.pts = RATE, samples
                container.mux(sound.encode(frame))
                samples += 1024
        container.mux(video.encode())
        container.mux(sound.encode())
    return path


def facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        digest, times = hashlib.sha256(), []
        for frame in container.decode(video):
            digest.update(frame.to_ndarray(format="rgb24").tobytes())
            times.append(frame.pts)
    with av.open(str(path)) as container:
        audio = hashlib.sha256(b"".join(bytes(p) for p in container.demux(audio=0) if p.size)).hexdigest()
    return {"frames": len(times), "pts": times, "video_sha256": digest.hexdigest(), "audio_sha256": audio}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--segment-frames", type=int, default=50)
    parser.add_argument("--model", default="fsrcnn")
    parser.add_argument("--scale", default="4")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="srlib-resume-"))
    src = make_clip(work / "clip.mp4", args.frames)

    def command(dst: Path) -> list[str]:
        return [
            sys.executable, "-m", "srlib.upscale", str(src), str(dst), "--model", args.model, "--scale",
            args.scale, "--segment-frames", str(args.segment_frames), "--preset", "veryfast", "--no-progress",
        ]  # fmt: skip

    print(f"CPU: {device_name('cpu')}; {args.frames} frames 256x144, {args.model} x{args.scale}, "
          f"segments of {args.segment_frames} frames, {args.trials} trials")  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command(work / "reference.mp4"), check=True, capture_output=True)
    whole = time.perf_counter() - start
    reference = facts(work / "reference.mp4")
    rate = args.frames / whole
    segments = -(-args.frames // args.segment_frames)
    print(f"uninterrupted: {whole:.1f} s ({rate:.1f} frames/s end to end)")
    rng = random.Random(args.seed)
    bad, lost_frames, resumes = 0, [], []
    for trial in range(args.trials):
        dst = work / f"trial{trial}.mp4"
        delay = rng.uniform(0.05, 0.95) * whole
        job = subprocess.Popen(command(dst), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        killed_at = time.time()
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
        journal = segment_folder(dst) / JOURNAL_NAME
        done, lost = 0, 0.0
        if dst.exists():
            state = "finished before the kill"
        elif journal.exists():
            entries = sorted(e["finished_at"] for e in json.loads(journal.read_text())["segments"].values())
            done = len(entries)
            # The work lost, in segments: the time since the last journal entry over the time one
            # segment took in this very run (the uninterrupted run's, before a second entry).
            period = np.median(np.diff(entries)) if done > 1 else whole / segments
            lost = (killed_at - entries[-1]) / period if done else 0.0
            state = f"{done} segment(s) kept"
        else:
            lost = delay / (whole / segments)
            state = "killed before the first segment"
        start = time.perf_counter()
        rerun = None if dst.exists() else subprocess.run(command(dst), capture_output=True, text=True)
        resume = time.perf_counter() - start
        ok = (rerun is None or rerun.returncode == 0) and facts(dst) == reference
        bad += not ok
        lost_frames.append(lost)
        resumes.append(resume)
        verdict = "identical" if ok else "DIFFERENT: " + (rerun.stderr if rerun else "").strip()[-300:]
        print(
            f"trial {trial:2d}: killed at {delay:5.1f} s, {state}; {lost:4.2f} segment(s) lost; resumed in "
            f"{resume:5.1f} s; {verdict}"
        )
    print(
        f"\n{args.trials} trials: {bad} lost or corrupted; "
        f"largest work redone {max(lost_frames):.2f} segment(s) of {args.segment_frames} frames "
        "(time since the last journal entry over the run's time per segment); "
        f"median resume {np.median(resumes):.1f} s against {whole:.1f} s uninterrupted (ratio "
        f"{np.median(resumes) / whole:.2f}); CPU: {device_name('cpu')}"
    )


if __name__ == "__main__":
    main()
