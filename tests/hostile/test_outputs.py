"""Hostile outputs and folder inputs (issue 17): the one atomic writer and the one folder walker.

The writer never turns a link, a device, a FIFO or a folder into a regular file; the walker never
enters a folder twice, whatever symbolic links point where.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srlib._cli import check_writable, error_line
from srlib._fs import OutputPathError, atomic_write, check_output_path, walk_files
from srlib.detect.__main__ import main as detect_main
from srlib.detect.predict import expand_inputs
from srlib.inference.upscale import folder_pairs
from srlib.io.images import list_images


def _write(path: Path, data: bytes = b"new") -> Path:
    return atomic_write(path, lambda f: f.write(data))


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


# --- the writer --------------------------------------------------------------------------------------


def test_json_to_a_symlink_writes_through_to_its_target_and_keeps_the_link(tmp_path) -> None:
    target = tmp_path / "real" / "report.json"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    assert _write(link, b"new") == link
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link stays a link
    assert target.read_bytes() == b"new"  # its target got the content
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]  # no temporary left
    # A link (through a chain) to a new name in an existing folder creates that file.
    fresh = tmp_path / "real" / "fresh.json"
    (tmp_path / "hop").symlink_to(fresh)
    (tmp_path / "chain.json").symlink_to(tmp_path / "hop")
    _write(tmp_path / "chain.json", b"made")
    assert fresh.read_bytes() == b"made" and (tmp_path / "chain.json").is_symlink()


def test_a_dangling_link_into_a_missing_folder_or_a_link_loop_is_refused(tmp_path) -> None:
    dangling = tmp_path / "out.json"
    dangling.symlink_to(tmp_path / "nowhere" / "out.json")
    with pytest.raises(OutputPathError, match=r"out.json is a symbolic link to .*nowhere.*does not exist"):
        _write(dangling)
    assert not (tmp_path / "nowhere").exists()  # not created behind the link
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OutputPathError, match="cannot be resolved"):
        _write(tmp_path / "a")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def test_a_fifo_output_is_refused_and_stays_a_fifo(tmp_path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(OutputPathError, match=r"pipe.csv is a FIFO .*give the path of a regular file"):
        _write(fifo)  # refused from lstat alone: opening a FIFO would block
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe.csv"]
    link = tmp_path / "to-pipe.csv"
    link.symlink_to(fifo)
    with pytest.raises(OutputPathError, match=r"to-pipe.csv is a symbolic link to .*pipe.csv, a FIFO"):
        _write(link)
    assert link.is_symlink()


def test_a_folder_output_is_refused(tmp_path) -> None:
    folder = tmp_path / "out.png"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(OutputPathError, match=r"out.png is a folder"):
        _write(folder)
    assert (folder / "keep.txt").read_text() == "mine" and sorted(os.listdir(folder)) == ["keep.txt"]


def test_a_socket_output_is_refused(tmp_path) -> None:
    import socket

    path = tmp_path / "s.json"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        with pytest.raises(OutputPathError, match="is a socket"):
            _write(path)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        server.close()


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_a_device_output_is_never_replaced_by_a_file(device: str, tmp_path) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} is absent on this machine")
    before = os.lstat(device)
    assert stat.S_ISCHR(before.st_mode)
    with pytest.raises(OutputPathError, match=rf"{device} is a character device"):
        # The check comes first: the write callback (and the temporary file) is never reached.
        atomic_write(device, lambda f: pytest.fail("the writer opened a temporary file for a device"))
    after = os.lstat(device)
    assert stat.S_ISCHR(after.st_mode) and os.path.samestat(before, after)
    assert not [n for n in os.listdir("/dev") if n.startswith(f".{Path(device).name}.")]
    link = tmp_path / "out.csv"
    link.symlink_to(device)
    with pytest.raises(OutputPathError, match="a character device"):
        _write(link)
    assert os.path.samestat(before, os.lstat(device)) and link.is_symlink()


def test_a_regular_file_and_a_new_name_are_written(tmp_path) -> None:
    assert check_output_path(tmp_path / "new" / "a.json") == tmp_path / "new" / "a.json"
    _write(tmp_path / "new" / "a.json", b"1")
    _write(tmp_path / "new" / "a.json", b"2")
    assert (tmp_path / "new" / "a.json").read_bytes() == b"2"


def test_cli_json_or_csv_to_a_fifo_or_device_is_one_error_line_exit_2(tmp_path, capsys) -> None:
    image = _png(tmp_path / "in" / "a.png")
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    assert detect_main([str(image), "--json", str(fifo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: output ") and "is a FIFO" in err[0], err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    if os.path.exists("/dev/full"):
        before = os.lstat("/dev/full")
        assert detect_main([str(image), "--csv", "/dev/full"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "/dev/full is a character device" in err[0], err
        assert os.path.samestat(before, os.lstat("/dev/full"))


def test_check_writable_refuses_what_the_writer_would_refuse(tmp_path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(OutputPathError) as info:
        check_writable(fifo)
    line = error_line(info.value)
    assert line is not None and "\n" not in line and str(fifo) in line
    link = tmp_path / "ok.json"
    link.symlink_to(tmp_path / "target.json")
    check_writable(link)  # a link to a new name in an existing folder is fine
    assert not (tmp_path / "target.json").exists()


# --- the folder walker -------------------------------------------------------------------------------


def _tree_with_loops(root: Path, loops: int) -> list[Path]:
    """``root/a/x.png``, ``root/a/b/y.png``, ``root/z.png`` and ``loops`` links back up the tree."""
    files = [_png(root / "a" / "x.png"), _png(root / "a" / "b" / "y.png"), _png(root / "z.png")]
    (root / "a" / "b" / "loop").symlink_to(root)  # one loop: b -> root
    if loops > 1:
        (root / "a" / "up").symlink_to(root / "a")  # a second: a -> a
    if loops > 2:
        (root / "a" / "b" / "parent").symlink_to("..")  # relative, pointing up
    return files


def test_recursive_walk_with_one_symlink_loop_lists_each_file_once(tmp_path, caplog) -> None:
    files = _tree_with_loops(tmp_path, loops=1)
    with caplog.at_level(logging.WARNING, logger="srlib"):
        assert list_images(tmp_path, recursive=True) == sorted(files)
    assert "skipped 1 symbolic link(s) to folders already listed" in caplog.text
    assert len(expand_inputs([tmp_path], recursive=True)) == 3


def test_recursive_walk_with_two_symlink_loops_finishes_fast_with_each_file_once(
    tmp_path, monkeypatch, caplog
) -> None:
    """Folder reads are counted and cut off: before the fix this never ended and grew without bound."""
    files = _tree_with_loops(tmp_path / "in", loops=3)
    reads = {"count": 0}
    real_scandir, real_iterdir = os.scandir, Path.iterdir

    def counted(read):
        def wrapper(*args, **kwargs):
            reads["count"] += 1
            if reads["count"] > 200:  # the tree has 3 folders: 200 reads means the walk is looping
                raise RuntimeError("the walk read more than 200 folders: it follows a symlink loop")
            return read(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "scandir", counted(real_scandir))  # what os.walk, rglob and the walker use
    monkeypatch.setattr(Path, "iterdir", counted(real_iterdir))
    expected = sorted(files)
    with caplog.at_level(logging.WARNING, logger="srlib"):
        assert list_images(tmp_path / "in", recursive=True) == expected
        assert expand_inputs([tmp_path / "in"], recursive=True) == expected
        pairs = folder_pairs(tmp_path / "in", tmp_path / "out", recursive=True)
    assert [src for src, _ in pairs] == expected
    assert [dst for _, dst in pairs] == [tmp_path / "out" / p.relative_to(tmp_path / "in") for p in expected]
    assert reads["count"] <= 3 * 3  # each of the 3 folders read once per walk
    assert caplog.text.count("skipped 3 symbolic link(s)") == 3


def test_a_folder_reached_directly_and_through_a_link_is_listed_once_under_its_real_path(tmp_path) -> None:
    real = _png(tmp_path / "photos" / "p.png")
    (tmp_path / "0-alias").symlink_to(tmp_path / "photos")  # sorts first, still loses to the real path
    outside = _png(tmp_path.parent / f"{tmp_path.name}-elsewhere" / "q.png")
    (tmp_path / "linked").symlink_to(outside.parent)  # a folder outside the tree: followed once
    (tmp_path / "linked-again").symlink_to(outside.parent)
    assert walk_files(tmp_path, recursive=True) == [tmp_path / "linked" / "q.png", real]
    assert walk_files(tmp_path) == []  # not recursive: only the files directly inside
    (tmp_path / "top.png").symlink_to(real)  # a linked file is listed like a file
    assert list_images(tmp_path) == [tmp_path / "top.png"]
    assert expand_inputs([tmp_path, real], recursive=True) == [tmp_path / "linked" / "q.png", real]


def test_folder_pairs_uses_the_one_walker_and_keeps_hidden_names_out(tmp_path) -> None:
    src = tmp_path / "in"
    _png(src / "a.png")
    (src / "clips").mkdir()
    (src / "clips" / "c.mp4").write_bytes(b"not decoded here")
    (src / ".hidden").mkdir()
    (src / ".hidden" / "h.mp4").write_bytes(b"x")
    (src / "clips" / "back").symlink_to(src)
    pairs = folder_pairs(src, tmp_path / "out", suffix="png", recursive=True)
    assert pairs == [
        (src / "a.png", tmp_path / "out" / "a.png"),
        (src / "clips" / "c.mp4", tmp_path / "out" / "clips" / "c.mp4"),
    ]
    only_videos = tmp_path / "videos"
    only_videos.mkdir()
    (only_videos / "v.mkv").write_bytes(b"x")
    assert folder_pairs(only_videos, tmp_path / "out2") == [
        (only_videos / "v.mkv", tmp_path / "out2" / "v.mkv")
    ]
