"""Shared failure handling of srlib's command lines (``train``, ``evaluate``, ``upscale``).

A failure the user can fix (an OS error such as permission denied, not a folder or disk full; a bad
override type; a missing mandatory key; srlib's own ``ValueError`` for bad input) becomes one line on
stderr that names the path or key and the fix, and exit code 2. Set ``SRLIB_DEBUG=1`` to print the
traceback above that line. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

__all__ = [
    "DEBUG_ENV",
    "EXIT_USER_ERROR",
    "ArgumentParser",
    "check_writable",
    "error_line",
    "one_line",
    "run_cli",
]

#: Environment variable that prints the traceback above the one-line error (``SRLIB_DEBUG=1``).
DEBUG_ENV = "SRLIB_DEBUG"
#: Exit code of a failure the user can fix.
EXIT_USER_ERROR = 2

_OS_FIXES = {
    errno.EACCES: "check its permissions, or choose a path you may read and write",
    errno.EPERM: "check its permissions, or choose a path you may read and write",
    errno.ENOTDIR: "a file stands where srlib needs a folder: choose another path or move that file away",
    errno.EEXIST: "a file stands where srlib needs a folder: choose another path or move that file away",
    errno.EISDIR: "it is a folder where srlib needs a file: give a file path",
    errno.ENOENT: "check the path",
    errno.ENOSPC: "the disk is full: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
    errno.EFBIG: "the file is too large for this file system: write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter path",
}
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def debug_enabled() -> bool:
    """Whether ``SRLIB_DEBUG`` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def one_line(message: str) -> str:
    """A multi-line message (a list of problem files) folded into one line: ``head item; item; ...``."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] if len(lines) == 1 else f"{lines[0]} {'; '.join(lines[1:])}"


def _os_error_line(err: OSError, outputs: Iterable[str | os.PathLike]) -> str:
    if err.filename is None:
        if err.errno in _WRITE_ERRNOS and outputs:
            where = ", ".join(str(p) for p in outputs)
            return f"{err.strerror} while writing {where}; {_OS_FIXES[err.errno]}."
        return one_line(str(err))  # srlib's own messages name the file already
    where = str(err.filename) + (f" -> {err.filename2}" if err.filename2 is not None else "")
    fix = _OS_FIXES.get(err.errno, "check the path")
    return f"{where}: {err.strerror or err}; {fix}."


def _omegaconf_line(err: Exception) -> str | None:
    errors = sys.modules.get("omegaconf.errors")  # not imported: the error cannot come from it
    if errors is None or not isinstance(err, errors.OmegaConfBaseException):
        return None
    key = getattr(err, "full_key", None) or getattr(err, "key", None)
    if isinstance(err, errors.MissingMandatoryValue):
        if key:
            return f"{key} is required (it is ??? in the recipe); add {key}=... to the command."
        return f"{one_line(str(err))}; add the missing key=... to the command."
    message = getattr(err, "msg", None) or str(err)
    if key:
        return f"{key}: {one_line(message)}; give it a value of the right type (key=value on the command)."
    return f"{one_line(message)}; check the override's value and type."


def error_line(err: BaseException, *, outputs: Iterable[str | os.PathLike] = ()) -> str | None:
    """The one-line message for a failure the user can fix, or ``None`` for a bug.

    Args:
        err: the exception.
        outputs: the paths the command writes, named when a write fails without a file name (disk full).
    """
    if not isinstance(err, Exception):
        return None
    line = _omegaconf_line(err)
    if line is not None:
        return line
    if isinstance(err, OSError):
        return _os_error_line(err, list(outputs))
    hydra = sys.modules.get("hydra.errors")
    if hydra is not None and isinstance(err, hydra.HydraException):
        return f"{one_line(str(err))} (check the override's key and value)"
    if isinstance(err, ValueError):
        return one_line(str(err))
    if isinstance(err, ImportError) and "pip install" in str(err):  # a missing optional extra
        return one_line(str(err))
    return None


def run_cli(body: Callable[[], int], *, outputs: Iterable[str | os.PathLike | None] = ()) -> int:
    """Run a command's body; a failure the user can fix prints one ``error: ...`` line and gives 2.

    Args:
        body: the command after its arguments are parsed; returns the exit code.
        outputs: the paths the command writes (``None`` entries are ignored).
    """
    try:
        return body()
    except Exception as err:
        line = error_line(err, outputs=[p for p in outputs if p is not None])
        if line is None:
            raise
        if debug_enabled():
            traceback.print_exc(file=sys.stderr)
        print(f"error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Fail at once, before long work, when ``path`` (a file, or a folder) cannot be created there.

    Raises:
        IsADirectoryError: a file is wanted and ``path`` is a folder.
        FileExistsError: a folder is wanted and ``path`` is a file.
        NotADirectoryError: a part of the path above it is a file.
        PermissionError: the nearest existing folder above it (or the folder itself) is not writable.
        srlib._fs.OutputPathError: a file is wanted and a device, a FIFO, a socket or a bad symbolic
            link stands there (what the atomic writer would refuse at the end; a ``ValueError``).
    """
    from srlib._fs import check_output_path

    path = Path(path).expanduser().absolute()
    if path.is_dir() and not folder:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not folder:
        path = check_output_path(path).absolute()  # a link is written through: check its target's folder
    if path.exists() and not path.is_dir() and folder:
        raise FileExistsError(errno.EEXIST, "Exists and is not a folder", str(path))
    existing = path if path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(existing))


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose usage errors are one line (with where to find help) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} (see {self.prog} --help)\n")
