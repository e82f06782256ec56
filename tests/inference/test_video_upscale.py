"""srlib.upscale_video: streamed decode -> model -> encode, timing and audio kept, atomic output, bad input.

The clips are made here with PyAV: 32x24 moving bars, 12 frames at 8 fps (1.5 s), with a mono AAC
tone when asked.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

import srlib
from srlib.inference import upscale_video
from srlib.inference.engine import Upscaler
from srlib.inference.output_size import OutputSize
from srlib.inference.temporal import TemporalStream
from srlib.inference.video import VideoReport

W, H, FRAMES, FPS, RATE = 32, 24, 12, 8, 16000


def _image(k: int, w: int = W, h: int = H) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = (40 + 15 * k) % 256
    image[:, : 2 + (3 * k) % (w - 2), 1] = 200
    image[h // 2 :, :, 2] = 120
    return image


def make_clip(
    path: Path,
    *,
    audio: bool = True,
    frames: int = FRAMES,
    size: tuple[int, int] = (W, H),
    options: dict[str, str] | None = None,
) -> Path:
    """A libx264 clip at ``FPS`` (and a 440 Hz AAC tone as long as the video) written to ``path``."""
    with av.open(str(path), "w", options=options or {}) as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "10"}
        sound = container.add_stream("aac", rate=RATE, layout="mono") if audio else None
        samples = 0
        for k in range(frames):
            container.mux(video.encode(av.VideoFrame.from_ndarray(_image(k, *size), format="rgb24")))
            while sound is not None and samples < (k + 1) * RATE // FPS:
                t = (np.arange(1024) + samples) / RATE
                wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
                frame.sample_rate, frame.pts = RATE, samples
                container.mux(sound.encode(frame))
                samples += 1024
        container.mux(video.encode())
        if sound is not None:
            container.mux(sound.encode())
    return path


def _video_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return {
            "frames": len(frames),
            "times": [f.time for f in frames],
            "fps": stream.average_rate,
            "duration": float(stream.duration * stream.time_base) if stream.duration else None,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "audio": len(container.streams.audio),
            "mean": np.mean([f.to_ndarray(format="rgb24").reshape(-1, 3).mean(0) for f in frames], axis=0),
        }


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def _leftovers(folder: Path, src: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p != src)


def _video_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("srlib-video")]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="module")
def bicubic() -> nn.Module:
    return srlib.create_model("bicubic", scale=2)


def test_frames_fps_duration_size_kept_and_audio_copied(clip, bicubic, tmp_path):
    dst = tmp_path / "out" / "up.mp4"
    report = upscale_video(clip, dst, bicubic, batch_size=5, progress=False)  # 5, 5, 2: a short last batch
    src, out = _video_facts(clip), _video_facts(dst)
    assert out["frames"] == src["frames"] == FRAMES
    assert out["fps"] == src["fps"] == FPS
    assert out["duration"] == pytest.approx(FRAMES / FPS, abs=1 / FPS)
    assert out["times"] == pytest.approx(src["times"], abs=1e-6)  # every frame keeps its timestamp
    assert out["size"] == (2 * W, 2 * H)
    assert out["audio"] == 1
    assert _audio_packets(dst) == _audio_packets(clip)  # remuxed, not re-encoded
    assert np.abs(out["mean"] - src["mean"]).max() < 2  # colours survive the YUV round trips
    assert isinstance(report, VideoReport)
    assert (report.frames, report.fps, report.audio_streams) == (FRAMES, FPS, 1)
    assert report.duration == pytest.approx(FRAMES / FPS, abs=1 / FPS)
    assert (report.width_in, report.height_in, report.width_out, report.height_out) == (W, H, 2 * W, 2 * H)
    assert report.src == clip and report.dst == dst and report.frames_per_second > 0
    assert _leftovers(dst.parent, clip) == ["up.mp4"]


def test_no_audio_into_mkv_with_a_tiny_srvgg(tmp_path):
    src = make_clip(tmp_path / "silent.mkv", audio=False)
    net = srlib.create_model("srvgg_compact", scale=2, num_feat=8, num_conv=2)
    report = upscale_video(src, tmp_path / "up.mkv", net, batch_size=4, dtype="fp32", progress=False)
    out = _video_facts(tmp_path / "up.mkv")
    assert out["frames"] == FRAMES and out["audio"] == 0 and out["size"] == (2 * W, 2 * H)
    assert out["times"] == pytest.approx(_video_facts(src)["times"], abs=1e-6)
    assert report.audio_streams == 0


def test_progress_bar_shows_frames_per_second(clip, bicubic, tmp_path, capsys):
    upscale_video(clip, tmp_path / "on.mp4", bicubic, progress=True)
    err = capsys.readouterr().err
    assert f"{FRAMES}/{FRAMES}" in err and "frames/s" in err
    upscale_video(clip, tmp_path / "off.mp4", bicubic, progress=False)
    assert "frames/s" not in capsys.readouterr().err


def test_output_height_is_exact_and_odd_sizes_are_padded(clip, bicubic, tmp_path):
    report = upscale_video(clip, tmp_path / "h50.mp4", bicubic, output=OutputSize(height=50), progress=False)
    assert _video_facts(tmp_path / "h50.mp4")["size"] == (66, 50)  # 32 * 50 / 24 = 66.7 -> even 66
    assert (report.width_out, report.height_out) == (66, 50)
    # yuv420p needs even sizes: 63x47 gets one replicated column and row.
    report = upscale_video(
        clip, tmp_path / "odd.mp4", bicubic, output=OutputSize(size=(63, 47)), progress=False
    )
    assert _video_facts(tmp_path / "odd.mp4")["size"] == (64, 48)
    assert (report.width_out, report.height_out) == (64, 48)


def test_upscaler_instance_and_conflicting_settings(clip, bicubic, tmp_path):
    up = Upscaler(bicubic, dtype="fp32", tile=16, tile_overlap=4)
    report = upscale_video(clip, tmp_path / "tiled.mp4", up, progress=False)
    assert report.frames == FRAMES and report.width_out == 2 * W
    with pytest.raises(ValueError, match="tile cannot be given with a ready Upscaler"):
        upscale_video(clip, tmp_path / "x.mp4", up, tile=8, progress=False)
    stream = TemporalStream(up, scene_cut=None)  # a ready stream: every frame goes through its push
    report = upscale_video(clip, tmp_path / "streamed.mp4", stream, progress=False)
    assert report.frames == FRAMES and report.width_out == 2 * W
    with pytest.raises(ValueError, match="dtype cannot be given with a ready TemporalStream"):
        upscale_video(clip, tmp_path / "x.mp4", stream, dtype="fp32", progress=False)
    with pytest.raises(TypeError, match=r"nn\.Module, an Upscaler or a TemporalStream"):
        upscale_video(clip, tmp_path / "x.mp4", "bicubic", progress=False)  # type: ignore[arg-type]
    assert not (tmp_path / "x.mp4").exists()


def test_refuses_existing_output_and_the_input_itself(clip, bicubic, tmp_path):
    dst = tmp_path / "done.mp4"
    dst.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        upscale_video(clip, dst, bicubic, progress=False)
    assert dst.read_bytes() == b"keep me"
    upscale_video(clip, dst, bicubic, progress=False, overwrite=True)
    assert _video_facts(dst)["frames"] == FRAMES
    same = clip.parent / "sub" / ".." / clip.name  # another spelling of the same file
    for target in (clip, same):
        with pytest.raises(ValueError, match="is the input video"):
            upscale_video(clip, target, bicubic, progress=False, overwrite=True)
    assert _video_facts(clip)["frames"] == FRAMES


def test_bad_paths_names_and_codecs(clip, bicubic, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        upscale_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", bicubic, progress=False)
    with pytest.raises(ValueError, match=r"o\.unknownext"):
        upscale_video(clip, tmp_path / "o.unknownext", bicubic, progress=False)
    with pytest.raises(ValueError, match="no_such_encoder"):
        upscale_video(clip, tmp_path / "o.mp4", bicubic, codec="no_such_encoder", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        upscale_video(clip, tmp_path / "o.mp4", bicubic, batch_size=0, progress=False)
    # WebM cannot hold H.264 (nor AAC): refused when the file is started, nothing left behind.
    with pytest.raises(ValueError, match=r"o\.webm"):
        upscale_video(clip, tmp_path / "o.webm", bicubic, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_file_without_a_video_stream(bicubic, tmp_path):
    src = tmp_path / "sound.m4a"
    with av.open(str(src), "w") as container:
        sound = container.add_stream("aac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = RATE, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode())
    with pytest.raises(ValueError, match=r"sound\.m4a has no video stream \(its streams: audio\)"):
        upscale_video(src, tmp_path / "o.mp4", bicubic, progress=False)
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match=r"Could not open video .*notes\.mp4"):
        upscale_video(not_video, tmp_path / "o.mp4", bicubic, progress=False)
    assert _leftovers(tmp_path, src) == ["notes.mp4"]


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("moov_first.mp4", {"movflags": "faststart"}, r"Only \d+ of the 12 frames"),  # frame count in header
        ("clip.mkv", None, r"Decoded .* s of the .* s"),  # duration in header
        ("moov_last.mp4", None, "Could not open video"),  # the index was cut off
    ],
)
def test_truncated_file_leaves_nothing(bicubic, tmp_path, name, options, match):
    whole = make_clip(tmp_path / f"whole_{name}", options=options)
    src = tmp_path / name
    data = whole.read_bytes()
    src.write_bytes(data[: len(data) * 2 // 3])
    whole.unlink()
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match) as info:
        upscale_video(src, out / "up.mp4", bicubic, batch_size=2, progress=False)
    assert name in str(info.value)
    assert not out.exists() or list(out.iterdir()) == []  # no output, no .up.mp4.*.tmp
    assert _video_threads() == []


class _FailsOnCall(nn.Module):
    """A x2 model that raises on its ``n``-th call."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.calls = n, 0
        self.scale = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("model exploded")
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)


def test_model_error_mid_stream_stops_everything(clip, tmp_path):
    model = _FailsOnCall(3)
    with pytest.raises(RuntimeError, match="model exploded") as info:
        upscale_video(clip, tmp_path / "up.mp4", model, batch_size=2, dtype="fp32", progress=False)
    assert "frames 4-5" in " ".join(getattr(info.value, "__notes__", []))
    assert model.calls == 3  # stopped at once: no batch after the failing one
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
    assert _video_threads() == []  # both worker threads joined


def test_error_while_encoding_stops_the_workers(clip, bicubic, tmp_path, monkeypatch):
    from srlib.inference import video

    def broken(self, item):
        raise OSError("disk full")

    monkeypatch.setattr(video._Sink, "write", broken)
    with pytest.raises(OSError, match="disk full"):
        upscale_video(clip, tmp_path / "up.mp4", bicubic, batch_size=1, progress=False)
    assert list(tmp_path.iterdir()) == [] and _video_threads() == []


def test_variable_frame_rate_timestamps_are_kept(bicubic, tmp_path):
    src = tmp_path / "vfr.mkv"
    times = [0, 100, 150, 400, 450, 1000]  # milliseconds
    with av.open(str(src), "w") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        for k, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(_image(k), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode())
    upscale_video(src, tmp_path / "up.mkv", bicubic, progress=False)
    assert _video_facts(tmp_path / "up.mkv")["times"] == pytest.approx([t / 1000 for t in times])


def test_the_upscale_cli_takes_videos(tmp_path, capsys) -> None:
    from srlib.upscale import main

    src = make_clip(tmp_path / "clip.mp4")
    dst = tmp_path / "out" / "clip_x2.mp4"
    args = [str(src), str(dst), "--model", "bicubic", "--scale", "2", "--no-progress", "--height", "50"]
    assert main(args) == 0
    facts = _video_facts(dst)
    assert facts["frames"] == FRAMES and facts["size"] == (66, 50)
    assert "12 frames" in capsys.readouterr().out
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err  # never replaced silently
    (tmp_path / "cut.mp4").write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    assert (
        main(
            [
                str(tmp_path / "cut.mp4"),
                str(tmp_path / "cut_x2.mp4"),
                "--model",
                "bicubic",
                "--scale",
                "2",
                "--no-progress",
            ]
        )
        == 2
    )
    assert not (tmp_path / "cut_x2.mp4").exists() and not list(tmp_path.glob(".*"))
