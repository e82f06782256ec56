"""File-system helpers: the one atomic writer (umask-respecting, never replacing what is not a file)
and the one folder walker (loop-safe, hidden names skipped).

Every file srlib writes goes through :func:`atomic_write`; every folder it lists, with or without
sub-folders, goes through :func:`walk_files` (``srlib.io.images.list_images``, the upscale and
detect folder inputs).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

__all__ = ["OutputPathError", "atomic_write", "check_output_path", "walk_files", "write_json"]

log = logging.getLogger(__name__)


class OutputPathError(ValueError):
    """An output path that srlib will not replace: a folder, a device, a FIFO, a socket, a bad link."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str | None:
    """What ``mode`` is when it is not a regular file, else ``None``."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _refuse(path: Path, what: str) -> OutputPathError:
    return OutputPathError(
        f"output {path} is {what}; srlib writes each output as a new regular file renamed into place, "
        "so it will not replace it: give the path of a regular file (a new name or an existing file)"
    )


def check_output_path(path: str | os.PathLike) -> Path:
    """The file :func:`atomic_write` would replace for ``path``, or an error saying why it will not.

    * a new name, or an existing regular file: that path;
    * a symbolic link (also a chain of them) to a regular file, or to a new name inside an existing
      folder: the link's resolved target, so the link stays and its target gets the content;
    * a folder, a device (``/dev/null``, ``/dev/full``), a FIFO, a socket, a link to any of those,
      a link loop, or a dangling link into a folder that does not exist: refused.

    Only ``lstat``/``stat`` are used: nothing is opened (a FIFO would block), nothing is created.

    Raises:
        OutputPathError: naming the path, what stands there and the fix (a ``ValueError``).

    Example:
        >>> import tempfile
        >>> check_output_path(tempfile.gettempdir())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        srlib._fs.OutputPathError: output ... is a folder; ...
    """
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    if not stat.S_ISLNK(info.st_mode):
        what = _kind(info.st_mode)
        if what is not None:
            raise _refuse(path, what)
        return path
    target = Path(os.path.realpath(path))
    try:
        info = os.stat(path)  # follows the whole chain
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise _refuse(path, f"a symbolic link to {target}, in a folder that does not exist") from None
        return target
    except OSError as err:  # ELOOP: a link cycle
        raise _refuse(path, f"a symbolic link that cannot be resolved ({err.strerror})") from None
    what = _kind(info.st_mode)
    if what is not None:
        raise _refuse(path, f"a symbolic link to {target}, {what}")
    return target


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Write ``path`` through ``write(file)`` into a hidden temporary sibling, then rename it into place.

    A reader never sees a half-written file, a crash leaves at most a ``.NAME.*.tmp`` file, and the
    result gets the usual ``0o666 & ~umask`` mode (``mkstemp``'s 0600 is not kept).

    What stands at ``path`` is checked first (:func:`check_output_path`), before anything is written:
    a folder, a device, a FIFO or a socket is refused, never replaced by a file. A symbolic link is
    written *through*: the temporary file goes beside the link's resolved target and replaces that,
    so the link stays a link and its target (an existing regular file or a new name in an existing
    folder) gets the new content; a link to anything else, a loop or a dangling link into a missing
    folder is refused. Replacing an existing file gives it a new inode: other hard links to it keep
    the old content. Missing parent folders of a plain path are created.

    Returns:
        ``path`` as given.

    Raises:
        OutputPathError: what stands at ``path`` is not something srlib replaces (a ``ValueError``).
    """
    path = Path(path)
    target = check_output_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _hidden(name: str) -> bool:
    return name.startswith(".")


def walk_files(
    folder: str | os.PathLike, *, recursive: bool = False, suffixes: Iterable[str] | None = None
) -> list[Path]:
    """The files inside ``folder`` (and its sub-folders when ``recursive``), sorted by path.

    Names starting with ``.`` (files and folders) are skipped. Paths are given under ``folder`` as
    written (a file reached through a linked folder keeps the link's name), so they mirror the tree.

    Loop-safe: every folder entered is recorded by ``(st_dev, st_ino)`` and never entered twice. Real
    sub-folders are walked before linked ones, so a folder reached both directly and through a
    symbolic link is listed under its real path; a link to a folder already walked, or to a folder
    above it (``up -> ..``), is skipped and counted (one warning per walk gives the count). A link to a
    folder outside the tree is followed once. Linked files are listed like files.

    Args:
        folder: the folder to list.
        recursive: also list the sub-folders' files.
        suffixes: only names ending in one of these (compared lower-case, e.g. ``(".png", ".jpg")``).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "a").mkdir()
        >>> (root / "a" / "x.png").touch()
        >>> (root / "a" / "loop").symlink_to(root)
        >>> [p.relative_to(root).as_posix() for p in walk_files(root, recursive=True)]
        ['a/x.png']
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"Folder {root} does not exist (or is not a folder).")
    wanted = tuple(s.lower() for s in suffixes) if suffixes is not None else None
    root_info = root.stat()
    visited = {(root_info.st_dev, root_info.st_ino)}
    files: list[Path] = []
    links: list[tuple[Path, os.stat_result]] = []  # linked folders, walked after the real ones
    skipped = 0
    pending = [root]
    while pending or links:
        if not pending:  # every real folder is walked: follow the next linked one not yet seen
            link, info = links.pop(0)
            key = (info.st_dev, info.st_ino)
            if key in visited or _is_above(link, info):
                skipped += 1
                log.debug("%s: a link to a folder already listed (or above it); skipped", link)
                continue
            visited.add(key)
            pending.append(link)
            continue
        current = pending.pop()
        with os.scandir(current) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if _hidden(entry.name):
                    continue
                path = current / entry.name
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if not is_dir:
                    if entry.is_file() and (wanted is None or entry.name.lower().endswith(wanted)):
                        files.append(path)
                    continue
                if not recursive:
                    continue
                try:
                    info = entry.stat()  # follows a link
                except OSError:
                    continue
                if entry.is_symlink():
                    links.append((path, info))
                elif (info.st_dev, info.st_ino) not in visited:
                    visited.add((info.st_dev, info.st_ino))
                    pending.append(path)
    if skipped:
        log.warning(
            "%s: skipped %d symbolic link(s) to folders already listed (loops or duplicates); "
            "each file is listed once",
            root,
            skipped,
        )
    return sorted(files)


def _is_above(link: Path, info: os.stat_result) -> bool:
    """Whether the folder ``info`` describes contains ``link`` itself (a link up the tree)."""
    real = Path(os.path.realpath(link.parent))
    for parent in (real, *real.parents):
        parent_info = os.stat(parent)
        if (parent_info.st_dev, parent_info.st_ino) == (info.st_dev, info.st_ino):
            return True
    return False


def write_json(path: str | os.PathLike, payload: Any, *, sort_keys: bool = False) -> Path:
    """Write ``payload`` as indented JSON (UTF-8, final newline) through :func:`atomic_write`.

    Example:
        >>> import tempfile, json
        >>> json.loads(write_json(Path(tempfile.mkdtemp()) / "m.json", {"psnr": 30.1}).read_text())
        {'psnr': 30.1}
    """
    text = json.dumps(payload, indent=2, sort_keys=sort_keys) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))
