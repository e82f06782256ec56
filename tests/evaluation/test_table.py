"""python -m srlib.evaluate as a table: models x sets x scales, the files it writes, crops and the plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import srlib
from srlib import evaluate
from srlib.evaluation import CSV_COLUMNS, evaluate_table, measure_cost

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = ["--speed-size", "16x12", "--speed-warmup", "1", "--speed-runs", "2"]


def _write_set(folder: Path, sizes: list[tuple[int, int]], gray: bool = False) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(sizes))
    for i, (h, w) in enumerate(sizes):
        # Smooth content (upsampled noise) so a model's output is not pure noise.
        small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        image.save(folder / f"im{i}.png")
    if gray:
        Image.fromarray(rng.integers(0, 256, (30, 33), dtype=np.uint8)).save(folder / "gray.png")
    return folder


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, Path]:
    return (
        _write_set(tmp_path / "setA", [(36, 40), (37, 50)], gray=True),
        _write_set(tmp_path / "setB", [(42, 42)]),
    )


@pytest.fixture
def weights(tmp_path: Path) -> dict[str, Path]:
    """Small weight files: an x2 network tied to its scale and an x2 VDSR (its weights serve any scale)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    tied = srlib.create_model("srvgg_compact", scale=2, num_feat=8, num_conv=2)
    vdsr = srlib.create_model("vdsr", scale=2, depth=3, num_feat=8)
    return {
        "tied": srlib.save_model(tied, folder / "tied_x2.safetensors"),
        "vdsr": srlib.save_model(vdsr, folder / "vdsr_x2.safetensors"),
    }


@pytest.fixture
def no_lpips_backbone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty torch hub cache: the LPIPS backbone is not on this machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def _valid_png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


def test_models_sets_scales_table_and_its_files(sets, weights, tmp_path, no_lpips_backbone, capsys) -> None:
    out = tmp_path / "out"
    models = f"bicubic,{weights['tied']}"
    args = ["--model", models, "--model", str(weights["vdsr"]), "--data", str(sets[0]), str(sets[1])]
    args += ["--scale", "2", "3", *FAST, "--md", str(out / "t.md"), "--csv", str(out / "t.csv")]
    args += ["--json", str(out / "t.json"), "--crops", str(out / "crops"), "--plot", str(out / "p.png")]
    assert evaluate.main(args) == 0
    printed = capsys.readouterr().out

    report = json.loads((out / "t.json").read_text())
    assert report["protocol"].startswith("PSNR/SSIM on BT.601 Y") and report["dtype"] == "fp32"
    assert report["speed"] == {"input": "16x12", "batch": 1, "warmup": 1, "runs": 2}
    assert report["lpips"]["net"] == "alex" and report["lpips"]["available"] is False
    assert "alexnet" in report["lpips"]["reason"]
    rows = report["rows"]
    assert len(rows) == 2 * 2 * 3  # scales x sets x models, skipped ones included
    assert [(r["scale"], r["data"], r["model"]) for r in rows[:3]] == [
        (2, "setA", "bicubic"),
        (2, "setA", "tied_x2"),
        (2, "setA", "vdsr_x2"),
    ]
    ok = [r for r in rows if r["status"] == "ok"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    # The x2 srvgg file cannot run at x3: skipped with the reason, never run at another scale.
    assert [(r["model"], r["scale"]) for r in skipped] == [("tied_x2", 3), ("tied_x2", 3)]
    assert all("x2" in r["note"] and r["psnr"] is None for r in skipped)
    # VDSR's weights serve every scale: rebuilt at x3, and the row says so.
    vdsr3 = [r for r in ok if r["model"] == "vdsr_x2" and r["scale"] == 3]
    assert len(vdsr3) == 2 and all("rebuilt" in r["note"] for r in vdsr3)
    for row in ok:
        assert row["images"] == len(row["per_image"]) == (3 if row["data"] == "setA" else 1)
        assert 5 < row["psnr"] < 100 and 0 < row["ssim"] <= 1 and row["lpips"] is None
        assert row["fps"] > 0 and row["fps_runs"] == 2 and row["flops"] >= 0 and row["size_mb"] >= 0
        assert (row["params"] == 0) == (row["model"] == "bicubic")

    markdown = (out / "t.md").read_text()
    assert markdown in printed.replace("\r", "")
    table_lines = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table_lines) == 1 + len(ok)  # header + evaluated rows
    assert all("| unavailable |" in line for line in table_lines[1:])
    assert "16x12 input" in markdown and "median of 2 timed runs" in markdown
    assert markdown.count("tied_x2 at x3: skipped") == 1  # one note for both sets

    with (out / "t.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        lines = list(reader)
    assert len(lines) == len(rows)
    assert {line["lpips"] for line in lines if line["status"] == "ok"} == {"unavailable"}
    assert all(line["psnr"] == "" and line["note"] for line in lines if line["status"] == "skipped")
    assert all(float(line["fps"]) > 0 for line in lines if line["status"] == "ok")

    # Crops: per (set, scale) one sheet per image; HR, bicubic, then every model that ran.
    sheets = sorted(p.relative_to(out / "crops").as_posix() for p in (out / "crops").rglob("*.png"))
    assert sheets == [
        f"{s}_x{k}/{name}.png"
        for s, names in (("setA", ["gray", "im0", "im1"]), ("setB", ["im0"]))
        for k in (2, 3)
        for name in names
    ]
    width_x2, height = _valid_png(out / "crops" / "setB_x2" / "im0.png")
    width_x3, _ = _valid_png(out / "crops" / "setB_x3" / "im0.png")
    panel = 42 * 4  # the whole 42 px image is smaller than the 48 px crop; zoom 4
    assert width_x2 == 4 * panel + 3 * 4 and width_x3 == 3 * panel + 2 * 4 and height == panel + 14
    assert _valid_png(out / "p.png") > (200, 200)


def test_lpips_from_a_named_backbone_file(sets, tmp_path) -> None:
    torchvision = pytest.importorskip("torchvision")
    backbone = tmp_path / "squeeze_features.pth"
    import torch

    torch.save(torchvision.models.squeezenet1_1().features.state_dict(), backbone)
    table = evaluate_table(
        ["bicubic"],
        [sets[1]],
        [2],
        speed_runs=1,
        speed_warmup=0,
        speed_size=(8, 8),
        lpips="squeeze",
        lpips_weights=str(backbone),
    )
    (row,) = table.rows
    assert table.lpips_available and row.result is not None
    assert row.result.lpips is not None and 0 <= row.result.lpips < 1
    assert row.result.per_image[0].lpips == pytest.approx(row.result.lpips)
    assert "unavailable" not in table.to_markdown()


def test_a_named_lpips_file_that_is_missing_is_an_error(sets, tmp_path, capsys) -> None:
    missing = tmp_path / "nope.pth"
    args = ["--model", "bicubic", "--data", str(sets[1]), "--scale", "2", "--lpips-weights", str(missing)]
    assert evaluate.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pth" in err


def test_nothing_left_at_the_requested_scale_is_an_error(sets, weights, tmp_path, capsys) -> None:
    out = tmp_path / "t.json"
    args = ["--model", str(weights["tied"]), "--data", str(sets[1]), "--scale", "4", "--json", str(out)]
    assert evaluate.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Nothing to evaluate" in err and "x2" in err
    assert not out.exists()
    # A registered name outside its scales is skipped the same way.
    assert evaluate.main(["--model", "fsrcnn", "--data", str(sets[1]), "--scale", "8"]) == 2
    assert "supports x2, x3, x4 only" in capsys.readouterr().err


def test_bad_table_arguments(sets, weights, capsys) -> None:
    base = ["--data", str(sets[1]), "--scale", "2"]
    assert evaluate.main(["--model", "bicubic,vdsr", "--weights", str(weights["vdsr"]), *base]) == 2
    assert "--weights goes with exactly one" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--model", "bicubic", "--data", str(sets[1]), "--scale", "two"])
    assert exit_info.value.code == 2 and "invalid scale 'two'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main(["--model", "bicubic", *base, "--speed-size", "256"])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
    assert evaluate.main(["--model", "bicubic", *base, "--plot", "p.png", "--speed-runs", "0"]) == 2
    assert "--plot needs frames/s" in capsys.readouterr().err


def test_measure_cost_counts_and_times() -> None:
    net = srlib.create_model("vdsr", scale=2, depth=3, num_feat=8)
    cost = measure_cost(net, input_size=(20, 10), warmup=1, runs=3)
    assert cost.params == sum(p.numel() for p in net.parameters()) and cost.runs == 3 and cost.warmup == 1
    assert cost.input_size == (20, 10) and cost.fps is not None and cost.fps > 0
    # VDSR runs at the HR size: each 3x3 conv costs 2 * 9 * C_in * C_out FLOPs per HR pixel.
    hr_pixels = 40 * 20
    convs = 2 * 9 * hr_pixels * (1 * 8 + 8 * 8 + 8 * 1)
    assert cost.flops >= convs
    assert cost.size_mb == pytest.approx(sum(t.numel() * 4 for t in net.state_dict().values()) / 2**20)
    untimed = measure_cost(net, input_size=(20, 10), runs=0)
    assert untimed.fps is None and untimed.runs == 0
