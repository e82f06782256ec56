"""``python -m srlib.detect``: table, JSON, CSV, bad files, empty folder, exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from srlib.detect.__main__ import main


def test_table_json_csv_and_bad_files(bad_folder, tmp_path, capsys):
    out_json, out_csv = tmp_path / "out.json", tmp_path / "out.csv"
    code = main([str(bad_folder), "--model", "block_period", "--json", str(out_json), "--csv", str(out_csv)])
    captured = capsys.readouterr()
    assert code == 2
    assert "error: 2 of 7 files got no verdict" in captured.err
    table = captured.out
    assert "probability" in table and "verdict" in table
    assert "tiny.png" in table and "too small to judge" in table
    assert "corrupt.png" in table and "Could not decode" in table
    records = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(out_json.read_text())["images"]}
    assert len(records) == 7
    assert records["pixelated.png"]["pixelated"] is True and records["clean.png"]["pixelated"] is False
    assert records["rgba.png"]["pixelated"] is True and records["gray16.png"]["pixelated"] is True
    assert records["gray.png"]["pixelated"] is False
    assert records["tiny.png"]["probability"] is None and records["tiny.png"]["error"]
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["path"] for r in rows] == [r["path"] for r in json.loads(out_json.read_text())["images"]]
    assert {r["pixelated"] for r in rows} == {"True", "False", ""}


def test_good_files_exit_zero_and_threshold(image_folder, capsys):
    files = [str(image_folder / "clean.png"), str(image_folder / "pixelated.png")]
    assert main([*files, "--model", "block_period"]) == 0
    assert "1 pixelated, 1 clean, 0 without verdict" in capsys.readouterr().out
    assert main([*files, "--model", "block_period", "--threshold", "0.999999"]) == 0
    assert "0 pixelated, 2 clean" in capsys.readouterr().out
    assert main([*files, "--threshold", "2"]) == 2
    assert "--threshold must be a probability" in capsys.readouterr().err


def test_empty_folder_and_missing_path(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "holds no images" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.png")]) == 2
    assert "nope.png" in capsys.readouterr().err
    assert main([str(tmp_path / "empty"), "--model", "resnet"]) == 2


def test_bad_weight_file_is_one_line(tmp_path):
    bad = tmp_path / "det.safetensors"
    bad.write_bytes(b"junk")
    (tmp_path / "a.png").write_bytes(b"")
    run = subprocess.run(
        [sys.executable, "-m", "srlib.detect", str(tmp_path / "a.png"), "--model", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error:") and "not a readable safetensors file" in run.stderr
    assert "Traceback" not in run.stderr
