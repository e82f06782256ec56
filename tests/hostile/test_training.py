"""Issue 17, fine-tuning and resume: each case a user hit, as a test (tiny settings, seconds each)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import srlib
from srlib.train import compose_recipe, main, train
from tests.conftest import REPO, TINY_TRAIN

#: A fine-tune that takes seconds: a few steps of small patches.
QUICK = ["data.batch_size=2", "data.samples_per_epoch=8", "trainer.max_epochs=1", "trainer.precision=32-true"]


def _photos(folder: Path, n: int, size: int = 40, seed: int = 0) -> Path:
    """``n`` smooth random photos (a blurred noise field: something an SR model can learn)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for i in range(n):
        low = torch.rand(3, size // 4, size // 4, generator=gen)
        image = torch.nn.functional.interpolate(low[None], size=(size, size), mode="bicubic")[0]
        array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(array).save(folder / f"p{i:02d}.png")
    return folder


def _lr_folder(hr: Path, lr: Path, scale: int) -> Path:
    """JPEG-degraded LR copies of ``hr`` (a task other than clean bicubic), named like the HR files."""
    from PIL import Image

    lr.mkdir(parents=True, exist_ok=True)
    for path in sorted(hr.glob("*.png")):
        image = Image.open(path)
        small = image.resize((image.width // scale, image.height // scale), Image.BICUBIC)
        small.save(lr / f"{path.stem}.jpg", quality=30)
        Image.open(lr / f"{path.stem}.jpg").save(lr / path.name)
        (lr / f"{path.stem}.jpg").unlink()
    return lr


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


# -- fine-tuning ----------------------------------------------------------------------------------
def test_init_weights_by_shipped_name_fine_tunes_and_reports_before_after_bicubic(tmp_path, capsys) -> None:
    photos = _photos(tmp_path / "photos", 10, size=48)
    run = tmp_path / "run"
    code = main(
        [
            "recipe=finetune",
            "init_weights=fsrcnn",
            f"data.train_dir={photos}",
            "scale=4",
            f"output_dir={run}",
            *QUICK,
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "before (init weights) PSNR" in out and "after  PSNR" in out and "bicubic PSNR" in out
    metrics = _metrics(run)
    assert {"before", "model", "bicubic", "psnr_gain_over_before"} <= set(metrics)
    shipped = srlib.create_model("fsrcnn", scale=4, pretrained=True)
    assert type(srlib.load_model(run / "best.safetensors")) is type(shipped)


def test_init_weights_with_a_tag_and_an_unknown_name_is_one_clear_line(tmp_path, capsys) -> None:
    photos = _photos(tmp_path / "photos", 4)
    code = main(
        [
            "recipe=finetune",
            "init_weights=no_such_model",
            f"data.train_dir={photos}",
            f"output_dir={tmp_path / 'o'}",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: init_weights=no_such_model") and err.count("\n") == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_finetune_patch_fits_scale_3_and_keeps_small_photos(tmp_path, caplog) -> None:
    photos = _photos(tmp_path / "photos", 6, size=60)  # smaller than the old 128 px patch
    cfg = compose_recipe(
        [
            "recipe=finetune",
            "init_weights=fsrcnn",
            f"data.train_dir={photos}",
            "scale=3",
            f"output_dir={tmp_path / 'r'}",
            *QUICK,
        ]
    )
    result = train(cfg)
    assert cfg.data.patch_size == 60 and cfg.data.patch_size % 3 == 0
    assert result["global_steps"] == 4 and "psnr" in result


def test_finetune_scores_the_users_paired_validation_lr(tmp_path) -> None:
    hr = _photos(tmp_path / "hr", 6, size=48)
    lr = _lr_folder(hr, tmp_path / "lr", 4)
    val_hr = _photos(tmp_path / "val_hr", 2, size=48, seed=1)
    val_lr = _lr_folder(val_hr, tmp_path / "val_lr", 4)
    run = tmp_path / "run"
    cfg = compose_recipe(
        [
            "recipe=finetune",
            "init_weights=fsrcnn",
            f"data.train_dir={hr}",
            f"data.lr_dir={lr}",
            f"data.val_dir={val_hr}",
            f"data.val_lr_dir={val_lr}",
            "scale=4",
            f"output_dir={run}",
            *QUICK,
        ]
    )
    result = train(cfg)
    metrics = _metrics(run)
    assert metrics["data"]["lr"] == "the validation set's own LR" and metrics["data"]["images"] == 2
    # The same numbers as scoring those pairs directly with srlib.evaluate.
    from srlib.evaluation import evaluate_table

    table = evaluate_table(
        [str(run / "best.safetensors")], [], [4], pairs=[(val_hr, val_lr)], speed_runs=0, lpips=None
    )
    assert table.evaluated[0].result.psnr == pytest.approx(result["psnr"], abs=1e-3)


def test_short_run_validates_by_steps_and_best_means_best_validated(tmp_path) -> None:
    run = tmp_path / "run"
    # 8 steps in one "epoch": per-epoch validation would score once, at the very end.
    result = train(compose_recipe([*TINY_TRAIN, "data.samples_per_epoch=16", f"output_dir={run}"]))
    rows = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    validations = [r for r in rows if r.get("val/psnr")]
    assert len(validations) >= 5
    assert result["best_validated"] and _metrics(run)["best_validated"] is True


# -- video pairs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video_root(tmp_path_factory) -> Path:
    from tests.data.test_video import SOURCE, write_clip

    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} is absent (../shared/data/Set14 next to the repo)")
    from srlib.io.images import read_image

    source = read_image(SOURCE).float() / 255.0
    root = tmp_path_factory.mktemp("clips")
    for name in ("a", "b"):
        write_clip(root / "hr" / f"{name}.mp4", source, size=(72, 96), fps=25, frames=20)
        write_clip(root / "lr" / f"{name}.mp4", source, size=(24, 32), fps=25, frames=20)
    return root


def test_video_pair_finetune_runs_end_to_end_from_the_cli(video_root, tmp_path) -> None:
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "srlib.train", "recipe=finetune", "data=video_pairs", f"data.root={video_root}",
        "data.sampling.every_n=4", "init_weights=fsrcnn", "scale=3", f"output_dir={run}", *QUICK,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = _metrics(run)
    assert metrics["data"]["lr"] == "the validation set's own LR" and "before" in metrics
    assert "Traceback" not in done.stderr


def test_evaluate_pairs_and_video_pairs_score_a_users_own_data(video_root, tmp_path) -> None:
    from srlib.evaluate import main as evaluate

    hr = _photos(tmp_path / "hr", 3, size=48)
    lr = _lr_folder(hr, tmp_path / "lr", 3)
    out = tmp_path / "t.json"
    code = evaluate(
        ["--model", "bicubic", "--pairs", str(hr), str(lr), "--video-pairs", str(video_root), "--scale", "3",
         "--json", str(out), "--speed-runs", "0", "--lpips", "none"]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert [r["data"] for r in report["rows"]] == ["hr (pairs)"]
    assert report["rows"][0]["psnr"] > 15
    (video,) = report["video"]  # every frame of the clips, with the flicker measure
    bicubic = video["models"]["bicubic"]
    assert video["scale"] == 3 and bicubic["status"] == "ok" and bicubic["frames"] == 40
    assert bicubic["psnr"] > 15 and bicubic["tdiff_psnr"] > 15


# -- resume ---------------------------------------------------------------------------------------
def _resume_overrides(run: Path) -> list[str]:
    """Tiny steps, no validation (it is not what these tests are about), a checkpoint every 2 steps."""
    return [
        *TINY_TRAIN,
        "trainer.max_epochs=6",
        "+trainer.limit_val_batches=0",
        "callbacks.checkpoint_every_n_steps=2",
        f"output_dir={run}",
    ]


@pytest.mark.slow
def test_resume_after_max_time_reaches_the_planned_steps_and_keeps_the_log(tmp_path) -> None:
    run = tmp_path / "run"
    first = train(compose_recipe([*_resume_overrides(run), "trainer.max_time=00:00:00:01",
                                  "trainer.max_epochs=2000"]))  # fmt: skip
    assert (
        first["stopped"] == "max_time"
        and "the resumed run gets trainer.max_time afresh" in first["stop_detail"]
    )
    rows_before = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    resumed = train(compose_recipe([*_resume_overrides(run), "trainer.max_time=00:00:00:01",
                                    "trainer.max_epochs=2000", "resume=true"]))  # fmt: skip
    assert resumed["global_steps"] > first["global_steps"]  # the cap starts afresh: progress is made
    rows_after = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    assert (
        len(rows_after) > len(rows_before)
        and rows_after[: len(rows_before) - 1] == rows_before[:-1][: len(rows_before) - 1]
    )


def _start(run: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "srlib.train", *_resume_overrides(run), "trainer.max_epochs=30",
               "trainer.max_time=null"]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_checkpoint(proc: subprocess.Popen, ckpt: Path, *, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpt.is_file():
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
            if state["global_step"] >= 6:
                return
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no checkpoint at step >= 6 within {seconds} s (exit {proc.poll()})")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "ctrl_c"])
def test_resume_after_a_kill_or_ctrl_c_reaches_the_planned_steps(tmp_path, how) -> None:
    run = tmp_path / "run"
    proc = _start(run)
    try:
        _wait_for_checkpoint(proc, run / "checkpoints" / "last.ckpt")
        proc.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode != 0
    rows_before = (
        list(csv.DictReader((run / "logs" / "metrics.csv").open()))
        if (run / "logs" / "metrics.csv").is_file()
        else []
    )
    resumed = train(
        compose_recipe(
            [*_resume_overrides(run), "trainer.max_epochs=30", "trainer.max_time=null", "resume=true"]
        )
    )
    assert resumed["global_steps"] == resumed["planned_steps"] == 120 and "stopped" not in resumed
    rows_after = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    assert len(rows_after) >= len(rows_before) > 0 or not rows_before


def test_corrupt_or_pickled_resume_checkpoint_is_one_error_line(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    assert main([*TINY_TRAIN, f"output_dir={run}", "resume=true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "last.ckpt" in err

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"global_step": 1, "x": Evil()}, run / "checkpoints" / "last.ckpt")
    assert main([*TINY_TRAIN, f"output_dir={run}", "resume=true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "pwned").exists()


# -- non-finite weights ---------------------------------------------------------------------------
def test_diverged_first_step_writes_no_weights_and_says_so(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    code = main([*TINY_TRAIN, "optimizer.lr=inf", f"output_dir={run}"])
    assert code == 1
    out = capsys.readouterr().out
    assert "none written" in out
    assert not (run / "best.safetensors").exists() and not (run / "last.safetensors").exists()
    assert not (run / "checkpoints" / "last.ckpt").exists()


def test_diverged_later_step_never_reaches_exported_weights(tmp_path) -> None:
    run = tmp_path / "run"
    result = train(
        compose_recipe([*TINY_TRAIN, "optimizer.lr=1e30", "trainer.max_epochs=3", f"output_dir={run}"])
    )
    assert result["stopped"] == "non-finite loss"
    for name in ("best.safetensors", "last.safetensors"):
        if (run / name).exists():
            net = srlib.load_model(run / name)
            assert all(torch.isfinite(v).all() for v in net.state_dict().values())
