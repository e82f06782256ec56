"""Every CLI turns a failure the user can fix into one ``error:`` line on stderr and exit code 2."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import srlib
import srlib.upscale as upscale_cli
from srlib import _cli, evaluate
from srlib.data import ImageTooLargeError
from srlib.train import compose_recipe
from tests.conftest import REPO, TINY_TRAIN
from tests.io.test_images import _png_declaring


def _writes_anywhere() -> bool:
    """Whether this user ignores folder permissions (root with its usual capabilities)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o500)
        try:
            return os.access(tmp, os.W_OK)
        finally:
            os.chmod(tmp, 0o700)


ROOT = _writes_anywhere()
TINY = [*TINY_TRAIN, "trainer.fast_dev_run=true"]


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A photo, a folder of photos, a file where a folder is wanted, a read-only folder, a huge PNG."""
    root = tmp_path_factory.mktemp("cli")
    (root / "photos").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)).save(root / "photos" / f"p{i}.png")
    (root / "a_file").write_text("not a folder")
    (root / "readonly").mkdir(mode=0o500)
    _png_declaring(root / "huge.png", 10000, 10000)
    return root


def _cases(p: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (``-m`` module and arguments, text the error line must contain)."""
    photo, photos, up, ev, tr = str(p / "photos" / "p0.png"), str(p / "photos"), UP, EV, TR
    scores = ["--model", "bicubic", "--data", photos, "--scale", "2", "--json"]
    return {
        "upscale_out_under_a_file": ([up, photo, str(p / "a_file" / "x.png"), *BICUBIC], str(p / "a_file")),
        # OUT a folder means "into that folder": here the input's own folder, so the input itself.
        "upscale_out_is_a_folder": ([up, photo, photos, *BICUBIC], "is the input file"),
        "upscale_bad_type": (
            [up, photo, str(p / "o.png"), "--model", "bicubic", "--scale", "two"],
            "--scale",
        ),
        "upscale_too_large": (
            [up, str(p / "huge.png"), "o.png", *BICUBIC, "--max-pixels", "1000"],
            "huge.png",
        ),
        "upscale_unwritable": ([up, photo, str(p / "readonly" / "o.png"), *BICUBIC], "readonly"),
        "evaluate_json_under_a_file": ([ev, *scores, str(p / "a_file" / "s.json")], str(p / "a_file")),
        "evaluate_missing_data": ([ev, "--model", "bicubic", "--data", str(p / "no"), "--scale", "2"], "no"),
        "evaluate_unwritable": ([ev, *scores, str(p / "readonly" / "s.json")], "readonly"),
        "train_output_is_a_file": ([tr, *TINY, f"output_dir={p / 'a_file'}"], str(p / "a_file")),
        "train_output_under_a_file": ([tr, *TINY, f"output_dir={p / 'a_file' / 'run'}"], str(p / "a_file")),
        "train_bad_type": ([tr, *TINY, "data.patch_size=abc", f"output_dir={p / 't1'}"], "data.patch_size"),
        "train_missing_key": (
            [tr, *TINY, "data=div2k", "data.root=???", f"output_dir={p / 't2'}"],
            "data.root",
        ),
        "train_unwritable": ([tr, *TINY, f"output_dir={p / 'readonly' / 'run'}"], "readonly"),
    }


UP, EV, TR = "srlib.upscale", "srlib.evaluate", "srlib.train"
BICUBIC = ["--model", "bicubic", "--scale", "2"]
#: Run as real processes (each start imports torch: a few seconds); the other cases run in-process.
SUBPROCESS = ["upscale_out_under_a_file", "evaluate_json_under_a_file", "train_bad_type", "train_missing_key"]
UNWRITABLE = ["train_unwritable"]  # upscale and evaluate: in-process
_not_root = pytest.mark.skipif(ROOT, reason="this user writes anywhere (root)")


@pytest.fixture(scope="module")
def results(place) -> dict[str, subprocess.CompletedProcess]:
    """The subprocess cases, run two at a time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRLIB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    cases = _cases(place)
    names = SUBPROCESS + ([] if ROOT else UNWRITABLE)

    def run(name: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", *cases[name][0]]
        return subprocess.run(cmd, cwd=place, env=env, capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(run, names), strict=True))


def _check_one_line(place: Path, case: str, returncode: int, stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert _cases(place)[case][1] in lines[0]
    assert not any((place / name).exists() for name in ("o.png", "t1", "t2", "readonly/run"))


@pytest.mark.parametrize("case", SUBPROCESS + [pytest.param(c, marks=_not_root) for c in UNWRITABLE])
def test_cli_process_fails_in_one_line_with_exit_code_2(case, place, results) -> None:
    proc = results[case]
    _check_one_line(place, case, proc.returncode, proc.stderr)


@pytest.mark.parametrize(
    "case",
    [
        "upscale_out_is_a_folder",
        "upscale_bad_type",
        "upscale_too_large",
        "evaluate_missing_data",
        "train_output_is_a_file",
        "train_output_under_a_file",
        pytest.param("upscale_unwritable", marks=_not_root),
        pytest.param("evaluate_unwritable", marks=_not_root),
    ],
)
def test_cli_main_fails_in_one_line_with_exit_code_2(case, place, monkeypatch, capsys) -> None:
    from srlib import train

    monkeypatch.chdir(place)
    args = _cases(place)[case][0]
    main = {UP: upscale_cli.main, EV: evaluate.main, TR: train.main}[args[0]]
    try:
        code = main(args[1:])
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    _check_one_line(place, case, code, capsys.readouterr().err)


def test_srlib_debug_adds_the_traceback(place, monkeypatch, capsys) -> None:
    args = [str(place / "photos" / "p0.png"), str(place / "a_file" / "x.png"), *BICUBIC]
    monkeypatch.setenv(_cli.DEBUG_ENV, "1")
    assert upscale_cli.main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")
    monkeypatch.setenv(_cli.DEBUG_ENV, "0")
    assert upscale_cli.main(args) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_disk_full_and_permission_denied_name_the_path(place, tmp_path, monkeypatch, capsys) -> None:
    import srlib.io.pictures as pictures

    def full(path, picture):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "o.png"
    monkeypatch.setattr(pictures, "write_picture", full)
    assert upscale_cli.main([str(place / "photos" / "p0.png"), str(out), *BICUBIC]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "free some space" in err

    def denied(path, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(pictures, "read_picture", denied)
    assert upscale_cli.main([str(place / "photos" / "p1.png"), str(out), *BICUBIC]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "p1.png: Permission denied; check its permissions" in err


def test_evaluate_refuses_an_image_over_the_pixel_limit(place, tmp_path, monkeypatch, capsys) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "huge.png").write_bytes((place / "huge.png").read_bytes())
    monkeypatch.setenv("SRLIB_MAX_IMAGE_PIXELS", "20000000")
    assert evaluate.main(["--model", "bicubic", "--data", str(folder), "--scale", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "huge.png is 10000x10000" in err and "SRLIB_MAX_IMAGE_PIXELS" in err
    monkeypatch.delenv("SRLIB_MAX_IMAGE_PIXELS")
    with pytest.raises(ValueError, match=r"huge\.png is 10000x10000"):
        evaluate.evaluate_folder(srlib.models.resolve_model("bicubic", scale=2), folder, 2, max_pixels=10**6)


def test_upscale_api_applies_the_pixel_limit(place) -> None:
    import srlib

    net = srlib.create_model("bicubic", scale=2)
    with pytest.raises(ImageTooLargeError, match=r"huge\.png"):
        srlib.upscale(place / "huge.png", net, max_pixels=10**6)
    with pytest.raises(ImageTooLargeError, match=r"<PIL image> is 8x6"):
        srlib.upscale(Image.new("RGB", (8, 6)), net, max_pixels=40)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.depth=abc", "model.depth must be an integer, got 'abc'; give one like model.depth="),
        ("optimizer.lr=fast", "optimizer.lr must be a number, got 'fast'"),
        ("trainer.fast_dev_run=yes", "trainer.fast_dev_run must be true or false"),
        (
            "trainer.gradient_clip_val=big",
            "trainer.gradient_clip_val must be a number, got 'big'; give a number",
        ),
        ("loss.terms.pixel.weight=w", "loss.terms.pixel.weight must be a number"),
    ],
)
def test_override_of_the_wrong_type_names_the_key(override, message) -> None:
    with pytest.raises(ValueError) as info:
        compose_recipe([override])
    assert message in str(info.value)


def test_text_where_text_is_valid_is_kept() -> None:
    cfg = compose_recipe(
        ["trainer.devices=auto", "trainer.precision=bf16-mixed", "data=div2k", "data.memory_budget=8GiB"]
    )
    assert cfg.trainer.devices == "auto" and cfg.data.memory_budget == "8GiB"


def test_error_lines() -> None:
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    line = _cli.error_line(FileExistsError(errno.EEXIST, "File exists", "/x/out"))
    assert line is not None and line.startswith(
        "/x/out: File exists; a file stands where srlib needs a folder"
    )
    assert _cli.error_line(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/f")).startswith("/x/f:")
    assert (
        _cli.error_line(FileNotFoundError("Image file a.png does not exist."))
        == "Image file a.png does not exist."
    )
    assert _cli.error_line(ValueError("2 problem file(s):\n  a.png: bad\n  b.png: bad\nFix them.")) == (
        "2 problem file(s): a.png: bad; b.png: bad; Fix them."
    )
    with pytest.raises(MissingMandatoryValue) as info:
        OmegaConf.create({"data": {"root": "???"}}).data.root  # noqa: B018
    assert (
        _cli.error_line(info.value)
        == "data.root is required (it is ??? in the recipe); add data.root=... to the command."
    )
    assert _cli.error_line(RuntimeError("a bug")) is None  # bugs keep their traceback
    with pytest.raises(RuntimeError):
        _cli.run_cli(lambda: (_ for _ in ()).throw(RuntimeError("a bug")))


def test_check_writable(tmp_path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(IsADirectoryError):
        _cli.check_writable(tmp_path)
    with pytest.raises(FileExistsError):
        _cli.check_writable(tmp_path / "f", folder=True)
    with pytest.raises(NotADirectoryError, match="f"):
        _cli.check_writable(tmp_path / "f" / "a" / "b.json")
    _cli.check_writable(tmp_path / "new" / "deeper" / "x.png")
    _cli.check_writable(tmp_path / "run", folder=True)
    assert not (tmp_path / "new").exists()
