"""Trainer.predict over a file list: ranks share the files, nothing is done twice, records gathered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import srlib
from srlib.inference.batch import upscale_files

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import srlib
    from srlib.inference.batch import upscale_files

    def process(src, dst, model):
        with open(Path(dst).parent / "log.txt", "a") as log:  # one line per call, any rank
            log.write(f"{os.environ.get('LOCAL_RANK', '0')} {dst}\\n")
        if "bad" in src:
            raise ValueError(f"{src} is not an image")
        Path(dst).write_text("ok")

    if __name__ == "__main__":
        out = Path(sys.argv[1])
        pairs = [(f"in{i}{'-bad' if i == 3 else ''}", str(out / f"o{i}")) for i in range(7)]
        records = upscale_files(pairs, srlib.create_model("bicubic", scale=2), process,
                                accelerator="cpu", devices=2, strategy="ddp")
        rank = os.environ.get("LOCAL_RANK", "0")
        (out / f"records{rank}.json").write_text(json.dumps([r.__dict__ for r in records]))
    """
)


def _process(src: str, dst: str, model) -> None:
    if "bad" in src:
        raise ValueError(f"{src} is not an image")
    Path(dst).write_text(src)


def test_one_process_keeps_going_past_a_bad_file(tmp_path) -> None:
    pairs = [(f"a{i}{'-bad' if i == 1 else ''}", tmp_path / f"o{i}") for i in range(3)]
    records = upscale_files(pairs, srlib.create_model("bicubic"), _process, accelerator="cpu")
    assert [r.status for r in records] == ["written", "failed", "written"]
    assert "not an image" in records[1].error and (tmp_path / "o2").read_text() == "a2"
    assert upscale_files([], srlib.create_model("bicubic"), _process) == []


@pytest.mark.slow
def test_two_cpu_processes_split_the_files_and_write_each_once(tmp_path) -> None:
    (tmp_path / "run.py").write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "run.py", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    calls = (out / "log.txt").read_text().split("\n")[:-1]
    assert sorted(c.split()[1] for c in calls) == sorted(str(out / f"o{i}") for i in range(7))  # each once
    assert {c.split()[0] for c in calls} == {"0", "1"}  # both ranks worked
    for rank in (0, 1):
        records = json.loads((out / f"records{rank}.json").read_text())
        assert [r["status"] for r in records] == ["written"] * 3 + ["failed"] + ["written"] * 3
