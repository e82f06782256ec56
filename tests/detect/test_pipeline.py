"""Detect, then correct: ``--only-pixelated`` upscales only the images the detector flags."""

from __future__ import annotations

from srlib.detect import create_detector
from srlib.detect.pipeline import clean_image_check, split_pixelated
from srlib.inference.upscale import folder_pairs, upscale_folder
from srlib.models import create_model


def test_upscale_folder_skips_what_the_detector_leaves_alone(image_folder, tmp_path):
    out = tmp_path / "out"
    pairs = folder_pairs(image_folder, out)
    report = upscale_folder(
        pairs,
        create_model("bicubic", scale=2),
        progress=False,
        skip=clean_image_check(create_detector("block_period")),
    )
    written = sorted(src.name for src, _ in report.written)
    assert written == ["gray16.png", "pixelated.png", "rgba.png"]
    skipped = {src.name: reason for src, reason in report.skipped}
    assert set(skipped) == {"clean.png", "gray.png"} and all("not pixelated" in r for r in skipped.values())
    assert sorted(p.name for p in out.iterdir()) == written


def test_split_pixelated_lists_failures(bad_folder):
    flagged, clean, failed = split_pixelated(sorted(bad_folder.iterdir()), "block_period")
    assert {p.name for p in flagged} == {"gray16.png", "pixelated.png", "rgba.png"}
    assert {p.name for p, _ in clean} == {"clean.png", "gray.png"}
    assert {p.name for p, _ in failed} == {"corrupt.png", "tiny.png"}


def test_upscale_cli_only_pixelated(image_folder, tmp_path, capsys):
    from srlib.upscale import main

    out = tmp_path / "out"
    assert main([str(image_folder), str(out), "--model", "bicubic", "--scale", "2", "--only-pixelated"]) == 0
    text = capsys.readouterr().out
    assert "skipped" in text and "not pixelated" in text
    assert sorted(p.name for p in out.iterdir()) == ["gray16.png", "pixelated.png", "rgba.png"]
    single = tmp_path / "single.png"
    assert main([str(image_folder / "clean.png"), str(single), "--model", "bicubic", "--only-pixelated"]) == 0
    assert "not upscaled" in capsys.readouterr().out and not single.exists()
