"""upscale_video on the containers a user's camera or a hostile client brings (issue 17, Outputs and inputs).

Every clip is made here with PyAV: 32x24 (or smaller), 6-12 frames, no audio unless a case needs it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from torch import nn

import srlib
from srlib.inference import upscale_video

W, H, FPS = 32, 24, 8


def _pattern(k: int, w: int = W, h: int = H) -> np.ndarray:
    """A frame no turn or mirror maps onto itself: a bright block in the top-left corner only."""
    image = np.full((h, w, 3), 40, np.uint8)
    image[: h // 3, : w // 3] = (230, 230, 230)
    image[h // 2 :, :, 2] = 150
    image[:, -2:, 1] = 20 + 10 * k
    return image


def _write(
    path: Path,
    *,
    frames: int = 8,
    times_ms: list[int] | None = None,
    rate: int = FPS,
    rotation: tuple[int, bool] | None = None,
    extra_stream: tuple[int, int] | None = None,
) -> Path:
    """A libx264 clip: ``frames`` at ``rate`` (or frames at ``times_ms``), a display rotation, a second
    video stream of size ``extra_stream``."""
    times = times_ms if times_ms is not None else [round(1000 * k / rate) for k in range(frames)]
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "10"})
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.time_base = tb
        if rotation is not None:
            video.set_display_rotation(rotation[0], hflip=rotation[1])
        other = None
        if extra_stream is not None:
            other = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
            other.width, other.height, other.pix_fmt = *extra_stream, "yuv420p"
            other.codec_context.time_base = tb
        for k, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(_pattern(k), format="rgb24")
            frame.pts, frame.time_base = t, tb
            container.mux(video.encode(frame))
            if other is not None:
                small = av.VideoFrame.from_ndarray(_pattern(k, *extra_stream), format="rgb24")
                small.pts, small.time_base = t, tb
                container.mux(other.encode(small))
        container.mux(video.encode())
        if other is not None:
            container.mux(other.encode())
    return path


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)]


def _stored_times(path: Path) -> list[float]:
    """Presentation times as the container stores them (AVI stores decoding order only: packet dts)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(p.dts * p.time_base) for p in container.demux(stream) if p.size)


@pytest.fixture(scope="module")
def bicubic() -> nn.Module:
    return srlib.create_model("bicubic", scale=2)


@pytest.mark.parametrize(
    ("rotation", "turns", "mirror"),
    [((90, False), 1, False), ((-90, False), 3, False), ((90, True), 1, True)],
)
def test_rotated_phone_clip_comes_out_upright_not_sideways(bicubic, tmp_path, rotation, turns, mirror):
    src = _write(tmp_path / "portrait.mp4", frames=6, rotation=rotation)
    with av.open(str(src)) as container:
        stored = next(container.decode(video=0))
        assert stored.rotation == (rotation[0] + 180) % 360 - 180 and (stored.width, stored.height) == (W, H)
        stored_rgb = stored.to_ndarray(format="rgb24").astype(float)
    expected = np.rot90(stored_rgb, turns)
    expected = expected[:, ::-1] if mirror else expected
    report = upscale_video(src, tmp_path / "up.mp4", bicubic, progress=False)
    assert (report.rotation, report.mirrored) == (90 * turns, mirror)
    assert (report.width_in, report.height_in, report.width_out, report.height_out) == (H, W, 2 * H, 2 * W)
    with av.open(str(tmp_path / "up.mp4")) as container:
        first = next(container.decode(video=0))
        assert (first.width, first.height) == (2 * H, 2 * W)  # upright: portrait
        assert first.rotation == 0  # and no matrix that would turn it again
        out = first.to_ndarray(format="rgb24").astype(float)
    pooled = out.reshape(W, 2, H, 2, 3).mean(axis=(1, 3))
    assert np.abs(pooled - expected).mean() < 12
    wrong = np.rot90(stored_rgb, turns + 2)  # the same size turned the other way: must not match
    assert np.abs(pooled - (wrong[:, ::-1] if mirror else wrong)).mean() > 40


def test_second_video_stream_is_refused_with_a_named_choice(bicubic, tmp_path, caplog):
    src = _write(tmp_path / "two.mkv", frames=6, extra_stream=(16, 12))
    with pytest.raises(ValueError, match=r"2 video streams \(v:0 h264 32x24, v:1 h264 16x12\)") as info:
        upscale_video(src, tmp_path / "up.mkv", bicubic, progress=False)
    assert "video_stream=N" in str(info.value) and "--video-stream N" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.mkv"]
    report = upscale_video(src, tmp_path / "up.mkv", bicubic, progress=False, video_stream=1)
    assert (report.width_in, report.height_in, report.frames) == (16, 12, 6)
    assert "v:0 h264 32x24 is neither upscaled nor copied" in caplog.text  # said, not silently dropped
    with pytest.raises(ValueError, match=r"video_stream=2 does not name .* from 0 to 1"):
        upscale_video(src, tmp_path / "o.mkv", bicubic, progress=False, video_stream=2)


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov", ".avi"])
@pytest.mark.parametrize(
    "times_ms", [None, [0, 125, 250, 500, 625, 1000]], ids=["constant_rate", "frames_missing"]
)
def test_output_timestamps_match_the_input_within_half_a_frame(bicubic, tmp_path, ext, times_ms):
    src = _write(tmp_path / "in.mkv", frames=10, times_ms=times_ms)
    dst = tmp_path / f"up{ext}"
    upscale_video(src, dst, bicubic, progress=False)
    want, half = _frame_times(src), 0.5 / FPS
    if ext == ".avi":
        # AVI stores no presentation times: frames sit in slots of 1/fps, in decoding order (B-frames off).
        assert _stored_times(dst) == pytest.approx(want, abs=half)
        with av.open(str(dst)) as container:
            assert container.streams.video[0].time_base == Fraction(1, FPS)
        if times_ms is None:
            # FFmpeg's reader presents H.264 in AVI one packet late (a reorder-delay guess); the sequence
            # must still be the input's (with B-frames it came out reordered: 0.125, 0.25, 0.5, 0.375, ...).
            got = _frame_times(dst)
            assert [t - got[0] for t in got] == pytest.approx([t - want[0] for t in want], abs=half)
        # A codec without that guess (MPEG-4 Part 2, AVI's own) reads back at the stored times.
        upscale_video(src, tmp_path / "mpeg4.avi", bicubic, progress=False, codec="mpeg4")
        assert _frame_times(tmp_path / "mpeg4.avi") == pytest.approx(want, abs=half)
    else:
        assert _frame_times(dst) == pytest.approx(want, abs=half)


def test_avi_refuses_frames_closer_than_one_slot(bicubic, tmp_path):
    src = _write(tmp_path / "burst.mkv", times_ms=[0, 20, 40, 125], rate=FPS)
    with pytest.raises(ValueError, match=r"closer than one frame at 8 frames/s; \.avi .* \.mkv"):
        upscale_video(src, tmp_path / "up.avi", bicubic, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["burst.mkv"]
    upscale_video(src, tmp_path / "up.mkv", bicubic, progress=False)  # a VFR container keeps them all
    assert _frame_times(tmp_path / "up.mkv") == pytest.approx([0, 0.02, 0.04, 0.125])


def test_vfr_mkv_written_as_mp4_declares_the_input_duration(bicubic, tmp_path):
    times = [0, 100, 150, 400, 450, 1000]  # ms; the last frame lasts 100 ms: 1.1 s in all
    src = _write(tmp_path / "vfr.mkv", times_ms=times, rate=10)
    with av.open(str(src)) as container:
        declared_in = container.duration / 1e6
    assert declared_in == pytest.approx(1.1, abs=1e-3)
    upscale_video(src, tmp_path / "up.mp4", bicubic, progress=False)
    with av.open(str(tmp_path / "up.mp4")) as container:
        stream = container.streams.video[0]
        declared_stream = float(stream.duration * stream.time_base)
        declared_container = container.duration / 1e6
        times_out = [float(f.time) for f in container.decode(stream)]
    frame = 0.1
    assert declared_stream == pytest.approx(declared_in, abs=frame)  # was 0.65 s
    assert declared_container == pytest.approx(declared_in, abs=frame)
    assert times_out == pytest.approx([t / 1000 for t in times], abs=1e-3)  # VFR times kept


def test_max_pixels_applies_to_video_frames_in_the_cli(tmp_path, capsys):
    from srlib.upscale import main

    src = _write(tmp_path / "clip.mp4", frames=6)
    dst = tmp_path / "out.mp4"
    args = [str(src), str(dst), "--model", "bicubic", "--scale", "2", "--no-progress"]
    assert main([*args, "--max-pixels", str(W * H - 1)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{W}x{H} frames" in err and f"{W * H - 1:,} pixels" in err and "--max-pixels" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    assert main([*args, "--max-pixels", str(W * H)]) == 0 and dst.is_file()  # the limit is inclusive


def test_max_pixels_applies_to_video_frames_in_the_library(bicubic, tmp_path, monkeypatch):
    src = _write(tmp_path / "clip.mkv", frames=6)
    with pytest.raises(ValueError, match=r"32x24 frames .* over srlib's limit of 700 pixels"):
        upscale_video(src, tmp_path / "up.mkv", bicubic, progress=False, max_pixels=700)
    monkeypatch.setenv("SRLIB_MAX_IMAGE_PIXELS", "700")  # the images' limit is the frames' limit
    with pytest.raises(ValueError, match="SRLIB_MAX_IMAGE_PIXELS"):
        upscale_video(src, tmp_path / "up.mkv", bicubic, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]
