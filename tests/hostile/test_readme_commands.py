"""The README's fine-tune, resume, video-pair and pair-scoring commands as written (tiny settings added)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from srlib.evaluate import main as evaluate
from srlib.train import main as train
from tests.conftest import REPO
from tests.hostile.test_training import QUICK, _lr_folder, _photos


def _readme_commands(*needles: str) -> list[list[str]]:
    """The README's command lines (comments dropped) that contain every one of ``needles``."""
    lines = []
    for line in (REPO / "README.md").read_text().splitlines():
        command = line.split("  #", 1)[0].strip()
        if command.startswith("python -m srlib.") and all(n in command for n in needles):
            lines.append(shlex.split(command)[3:])  # after "python -m srlib.X"
    assert lines, f"the README has no command with {needles}"
    return lines


def _substitute(args: list[str], mapping: dict[str, str]) -> list[str]:
    out = []
    for arg in args:
        for placeholder, value in mapping.items():
            arg = arg.replace(placeholder, value)
        out.append(arg)
    return out


@pytest.fixture
def user_data(tmp_path) -> dict[str, str]:
    photos = _photos(tmp_path / "my_photos", 6, size=48)
    hr = _photos(tmp_path / "hr", 6, size=48, seed=2)
    lr = _lr_folder(hr, tmp_path / "lr", 4)
    return {"my_photos/": f"{photos}/", "hr/": f"{hr}/", "lr/": f"{lr}/"}


def test_readme_finetune_resume_and_pairs_commands_run_as_written(tmp_path, user_data) -> None:
    import srlib

    weights = srlib.save_model(
        srlib.create_model("fsrcnn", scale=4, pretrained=True), tmp_path / "best.safetensors"
    )
    mapping = {**user_data, "best.safetensors": str(weights)}
    finetunes = [c for c in _readme_commands("recipe=finetune") if "data=video_pairs" not in c]
    assert len(finetunes) >= 2
    runs = []
    for i, command in enumerate(finetunes):
        run = tmp_path / f"run{i}"
        assert train([*_substitute(command, mapping), *QUICK, f"output_dir={run}"]) == 0, command
        assert {"before", "model", "bicubic"} <= set(json.loads((run / "metrics.json").read_text()))
        runs.append(run)
    (resume,) = _readme_commands("resume=true")
    # The README's resume continues a run that has more steps to go: the first fine-tune, one epoch more.
    resumed = _substitute(resume, {"outputs/finetune/20261128-101500": str(runs[0])})
    first = finetunes[0]
    assert train([*_substitute(first, mapping), *resumed, *QUICK[:-2], "trainer.max_epochs=2",
                  "trainer.precision=32-true"]) == 0  # fmt: skip
    log = (runs[0] / "logs" / "metrics.csv").read_text().splitlines()
    assert len(log) > 2
    (pairs,) = _readme_commands("srlib.evaluate", "--pairs")
    out = tmp_path / "pairs.json"
    args = _substitute(pairs, mapping)
    assert evaluate([*args, "--json", str(out), "--speed-runs", "0", "--lpips", "none"]) == 0
    assert [row["status"] for row in json.loads(out.read_text())["rows"]] == ["ok", "ok"]


def test_readme_video_pair_finetune_runs_as_written(tmp_path) -> None:
    from tests.data.test_video import SOURCE, write_clip

    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} is absent (../shared/data/Set14 next to the repo)")
    from srlib.io.images import read_image

    source = read_image(SOURCE).float() / 255.0
    clips = tmp_path / "clips"
    write_clip(clips / "hr" / "a.mp4", source, size=(72, 96), fps=25, frames=12)
    write_clip(clips / "lr" / "a.mp4", source, size=(24, 32), fps=25, frames=12)
    (command,) = _readme_commands("recipe=finetune", "data=video_pairs")
    run = tmp_path / "run"
    args = [
        *_substitute(command, {"clips/": f"{clips}/"}),
        "data.sampling.every_n=3",
        *QUICK,
        f"output_dir={run}",
    ]
    assert train(args) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["lr"] == "the validation set's own LR" and "before" in metrics
    assert Path(run / "best.safetensors").is_file()
