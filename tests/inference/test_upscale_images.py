"""Upscaling images and folders: every format, 16 bits, gray, alpha, sizes, tiles, bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import srlib
from srlib.io.pictures import Picture, read_picture, write_picture
from srlib.upscale import main
from tests.conftest import shared_path


@pytest.fixture
def bicubic2():
    return srlib.create_model("bicubic", scale=2)


def _png(path, array):
    Image.fromarray(array).save(path)
    return path


def test_rgba_keeps_its_alpha_and_jpeg_refuses_it(tmp_path, bicubic2) -> None:
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0], rgba[:, 4:, 3] = 200, 255  # right half opaque, left half transparent
    src = _png(tmp_path / "a.png", rgba)
    assert main([str(src), str(tmp_path / "b.png"), "--model", "bicubic", "--scale", "2"]) == 0
    out = Image.open(tmp_path / "b.png")
    assert out.mode == "RGBA" and out.size == (16, 12)
    alpha = np.asarray(out)[..., 3]
    assert alpha[:, :6].max() < 30 and alpha[:, 10:].min() > 225
    for mode in ("model", "bicubic"):
        pic = srlib.inference.upscale_picture(
            read_picture(src), srlib.inference.Upscaler(bicubic2), alpha=mode
        )
        assert pic.alpha is not None and pic.alpha.shape == (1, 12, 16)
    assert main([str(src), str(tmp_path / "b.jpg"), "--model", "bicubic", "--scale", "2"]) == 2
    assert not (tmp_path / "b.jpg").exists()


def test_sixteen_bit_in_gives_sixteen_bit_out(tmp_path) -> None:
    rgb = torch.rand(3, 10, 12)
    src = write_picture(tmp_path / "deep.png", Picture(rgb, bits=16))
    for name in ("out.png", "out.tiff"):
        assert main([str(src), str(tmp_path / name), "--model", "bicubic", "--scale", "2"]) == 0
        back = read_picture(tmp_path / name)
        assert back.bits == 16 and back.size == (20, 24)
        expected = srlib.ops.imresize(rgb[None], 2).clamp(0, 1)[0]
        assert float((back.rgb - expected).abs().max()) < 2 / 65535  # 16-bit precision kept


def test_gray_stays_gray(tmp_path) -> None:
    src = _png(tmp_path / "g.png", (np.arange(48).reshape(6, 8) * 5).astype(np.uint8))
    assert main([str(src), str(tmp_path / "g2.png"), "--model", "bicubic", "--scale", "2"]) == 0
    assert Image.open(tmp_path / "g2.png").mode == "L"
    pil16 = Image.fromarray((np.arange(48).reshape(6, 8) * 1000).astype(np.uint16))
    out = srlib.upscale(pil16, srlib.create_model("bicubic", scale=2))
    assert out.mode in ("I;16", "I") and out.size == (16, 12)


@pytest.mark.parametrize(
    ("flags", "size"),
    [
        (["--outscale", "3"], (18, 24)),  # an x2 model, final x3
        (["--size", "20x10"], (10, 20)),
        (["--height", "15"], (15, 20)),  # width follows, even
    ],
)
def test_any_final_size(tmp_path, flags, size) -> None:
    src = _png(tmp_path / "p.png", np.full((6, 8, 3), 99, np.uint8))
    assert main([str(src), str(tmp_path / "o.png"), "--model", "bicubic", "--scale", "2", *flags]) == 0
    assert read_picture(tmp_path / "o.png").size == size


def test_tiled_equals_whole_with_real_weights(tmp_path) -> None:
    weights = shared_path("weights", "fsrcnn_x4.safetensors")
    src = shared_path("data", "Set14", "baboon.png")
    whole, tiled = tmp_path / "whole.png", tmp_path / "tiled.png"
    assert main([str(src), str(whole), "--model", str(weights), "--dtype", "fp32"]) == 0
    assert (
        main(
            [
                str(src),
                str(tiled),
                "--model",
                str(weights),
                "--dtype",
                "fp32",
                "--tile",
                "64",
                "--tile-overlap",
                "32",
            ]
        )
        == 0
    )
    a, b = (np.asarray(Image.open(p)).astype(int) for p in (whole, tiled))
    assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_weights_for_another_scale_are_an_error_not_a_rebuild(tmp_path) -> None:
    weights = shared_path("weights", "fsrcnn_x4.safetensors")
    src = _png(tmp_path / "p.png", np.full((6, 8, 3), 99, np.uint8))
    assert main([str(src), str(tmp_path / "o.png"), "--model", str(weights), "--scale", "2"]) == 2
    vdsr = shared_path("weights", "vdsr_model_epoch_50.safetensors")  # VDSR's weights serve every scale
    assert main([str(src), str(tmp_path / "o.png"), "--model", str(vdsr), "--scale", "3"]) == 0
    assert read_picture(tmp_path / "o.png").size == (18, 24)


def test_folder_writes_the_good_lists_the_bad_and_resumes(tmp_path, capsys) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i in range(3):
        _png(src / f"p{i}.png", np.full((5, 7, 3), 40 * i, np.uint8))
    _png(src / "sub" / "deep.png", np.full((5, 7, 3), 9, np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "empty.jpg").write_bytes(b"")
    (src / "._p0.png").write_bytes(b"macOS resource fork")  # hidden: never an image
    out = tmp_path / "out"
    args = [
        str(src),
        str(out),
        "--model",
        "bicubic",
        "--scale",
        "2",
        "--no-progress",
        "--recursive",
        "--ext",
        "webp",
    ]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.rglob("*.webp")) == ["deep.webp", "p0.webp", "p1.webp", "p2.webp"]
    assert "broken.png" in captured.out and "empty.jpg" in captured.out and "2 of 6" in captured.err
    assert not list(out.rglob(".*"))  # no temporary files left
    assert main(args) == 2 and "4 skipped" in capsys.readouterr().out  # a re-run continues


def test_onnxruntime_backend_and_onnx_files(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    weights = srlib.save_model(
        srlib.create_model("srvgg_compact", scale=2, num_conv=2, num_feat=8), tmp_path / "w"
    )
    src = _png(tmp_path / "p.png", (np.random.default_rng(0).random((9, 11, 3)) * 255).astype(np.uint8))
    outs = {}
    for backend in ("torch", "onnxruntime"):
        outs[backend] = tmp_path / f"{backend}.png"
        assert (
            main(
                [
                    str(src),
                    str(outs[backend]),
                    "--model",
                    str(weights),
                    "--backend",
                    backend,
                    "--dtype",
                    "fp32",
                ]
            )
            == 0
        )
    a, b = (np.asarray(Image.open(outs[k])).astype(int) for k in outs)
    assert np.abs(a - b).max() <= 1


def test_frame_policy_stored_with_the_weights_is_applied(tmp_path) -> None:
    policy = {
        "scale": 2,
        "size_policy": "resize_hr",
        "filter": "bicubic",
        "max_ratio_deviation": 0.5,
        "ratio": [2.5, 2.5],
    }
    weights = srlib.save_model(
        srlib.create_model("srvgg_compact", scale=2, num_conv=1, num_feat=4),
        tmp_path / "w",
        metadata={"frame_policy": json.dumps(policy)},
    )
    assert json.loads(srlib.load_model(weights).srlib_file_metadata["frame_policy"]) == policy
    src = _png(tmp_path / "p.png", np.full((8, 12, 3), 50, np.uint8))
    assert main([str(src), str(tmp_path / "o.png"), "--model", str(weights)]) == 0
    assert read_picture(tmp_path / "o.png").size == (20, 30)  # the trained 2.5x geometry
    assert main([str(src), str(tmp_path / "o2.png"), "--model", str(weights), "--no-policy"]) == 0
    assert read_picture(tmp_path / "o2.png").size == (16, 24)


@pytest.mark.slow
def test_a_folder_of_images_and_videos_on_two_processes(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from tests.inference.test_video_upscale import make_clip

    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        _png(src / f"p{i}.png", np.full((5, 7, 3), 40 * i, np.uint8))
    make_clip(src / "clip.mp4", audio=False)
    (src / "bad.png").write_bytes(b"nope")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "srlib.upscale",
            str(src),
            str(out),
            "--model",
            "bicubic",
            "--scale",
            "2",
            "--devices",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "6 written, 0 skipped, 1 failed (2 processes)" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", *(f"p{i}.png" for i in range(5))]
    assert read_picture(out / "p3.png").size == (10, 14)
