"""The server's work folder: one lock, files tagged as ours, and the one place where the server writes.

Layout (see docs/serve.md)::

    .srlib-serve.lock            held (``fcntl.flock``) by the server for its whole life
    jobs/<id>/.srlib-job         the marker of a job folder this server made
    jobs/<id>/input.<ext>        the accepted upload (removed when the job ends)
    jobs/<id>/result.<ext>       the finished video (written as ``.result.<ext>.*.tmp``, then renamed)
    state/<id>.json              a job's state; its JSON starts with ``{"srlib_serve": 1``
    state/<id>.cancel            a cancellation request between worker processes (tagged content)
    uploads/<pid>/.srlib-uploads the marker of one worker process's folder of uploads in progress
    uploads/<pid>/video.<x>.<ext> a video being received (moved into its job folder once accepted)
    uploads/<pid>/.upload.*.img  an image being decoded (removed at once)

**Only files the server made are ever deleted.** Each kind above is recognised by its name *and* its
marker (or tagged content); anything else in the folder (a user's own ``jobs/`` folder, a file dropped
into a job folder) is left alone and counted in the log. At start-up the server takes the lock (a
second server on the same folder refuses to start, naming the folder and the fix) and then sweeps what
an earlier run of the server left (a ``SIGKILL`` cannot clean up): those files are ours, and no other
server can be using them while we hold the lock.

Without ``--work-dir`` the server works in a fresh ``run-*`` folder under one known parent,
``$TMPDIR/srlib-serve-<uid>/`` (mode 0700), and removes it on exit; at start-up it also removes the
``run-*`` folders of earlier runs whose lock nobody holds (servers killed with ``SIGKILL``).

Every write of the server goes through :meth:`WorkDir.write_state`, :meth:`WorkDir.write_chunk`,
:meth:`WorkDir.new_job_folder` and :meth:`WorkDir.request_cancel`: that is where a full disk
(``ENOSPC``, ``EDQUOT``) surfaces, and where the tests inject one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import stat
import tempfile
import uuid
from pathlib import Path
from typing import IO

from srlib._fs import atomic_write

try:
    import fcntl
except ImportError:  # Windows: no flock; the folder is not locked there
    fcntl = None  # type: ignore[assignment]

__all__ = ["DISK_FULL", "WorkDir", "WorkDirBusyError", "disk_full", "valid_job_id"]

log = logging.getLogger(__name__)

#: ``errno`` values that mean "no room to write": answered 507.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

LOCK_NAME = ".srlib-serve.lock"
JOB_MARKER = ".srlib-job"
UPLOADS_MARKER = ".srlib-uploads"
RUN_MARKER = ".srlib-serve-run"
_JOB_TAG = b"srlib-serve job folder\n"
_UPLOADS_TAG = b"srlib-serve uploads\n"
_RUN_TAG = b"srlib-serve run folder\n"
_CANCEL_TAG = b"srlib-serve cancel\n"
#: Every state file starts with these bytes (``json.dumps`` keeps the key order).
STATE_TAG = b'{"srlib_serve": 1'
_ID = r"[0-9a-f]{32}"
_JOB_FILES = re.compile(r"(input\.[A-Za-z0-9]+|result\.[A-Za-z0-9]+|\.result\.[A-Za-z0-9]+\.[^/]+\.tmp)")
_STATE_FILES = re.compile(rf"({_ID})\.json|\.({_ID})\.json\.[^/]+\.tmp")
_UPLOAD_FILES = re.compile(r"\.upload\.[^/]+\.img|video\.[0-9a-f]{32}\.[a-z0-9]{1,8}")


class WorkDirBusyError(ValueError):
    """Another server holds the work folder's lock."""


def valid_job_id(job_id: str) -> bool:
    """Whether ``job_id`` has the shape of the ids this server makes (32 lowercase hex digits).

    Example:
        >>> valid_job_id("0123456789abcdef0123456789abcdef"), valid_job_id("../etc")
        (True, False)
    """
    return re.fullmatch(_ID, job_id) is not None


def disk_full(err: BaseException) -> bool:
    """Whether ``err`` is an ``OSError`` saying the disk (or the quota) is full."""
    return isinstance(err, OSError) and err.errno in DISK_FULL


def _has_tag(path: Path, tag: bytes, *, empty_ok: bool = False) -> bool:
    """Whether the regular file ``path`` (not a link) starts with ``tag`` (or is empty, if allowed)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with path.open("rb") as f:
            head = f.read(len(tag))
    except OSError:
        return False
    return head == tag or (empty_ok and head == b"")


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


class WorkDir:
    """The work folder of one server (or one worker process of it).

    Build it with :meth:`open` (the server's main process: lock, then sweep) or :meth:`attach` (a
    worker process of a server whose main process holds the lock).

    Args:
        root: the folder.
        temporary: the folder is this run's own ``run-*`` folder, removed entirely on :meth:`close`.
    """

    def __init__(self, root: Path, *, temporary: bool = False) -> None:
        self.root = root
        self.temporary = temporary
        self.jobs = root / "jobs"
        self.state = root / "state"
        self.uploads = root / "uploads"
        self._lock_fd: int | None = None
        self._made_lock = False
        self._made_dirs: list[Path] = []

    # -- opening and closing --------------------------------------------------------------------------
    @classmethod
    def open(cls, given: str | os.PathLike | None) -> WorkDir:
        """Lock the folder ``given`` (default: a fresh run folder under the known parent) and sweep it.

        Raises:
            WorkDirBusyError: another server holds the folder's lock (the message names the fix).
            OSError: the folder cannot be made or is not a folder.
        """
        if given is None:
            parent = _runs_parent()
            if parent is not None:
                _sweep_dead_runs(parent)
                root = Path(tempfile.mkdtemp(prefix="run-", dir=parent))
            else:
                root = Path(tempfile.mkdtemp(prefix="srlib-serve-"))
            work = cls(root, temporary=True)
            work._lock()  # before the marker: a folder with a marker and no holder is a dead run's
            (root / RUN_MARKER).write_bytes(_RUN_TAG)
            work._make_dirs()
            return work
        else:
            root = Path(given).expanduser().absolute()
            if root.exists() and not root.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, "is not a folder; give --work-dir a folder", str(root)
                )
            root.mkdir(parents=True, exist_ok=True)
            work = cls(root)
        work._lock()
        work.sweep()
        work._make_dirs()
        return work

    @classmethod
    def attach(cls, root: str | os.PathLike) -> WorkDir:
        """The folder of a server whose main process holds the lock (a ``--workers N`` process)."""
        work = cls(Path(root))
        work._make_dirs()
        return work

    def _make_dirs(self) -> None:
        for d in (self.jobs, self.state, self.uploads):
            if not d.exists():
                d.mkdir(parents=True, exist_ok=True)
                self._made_dirs.append(d)
            elif not _is_real_dir(d):
                raise NotADirectoryError(
                    errno.ENOTDIR,
                    f"is not a folder, and the server needs {d.name}/ there; give another --work-dir",
                    str(d),
                )

    def _lock(self) -> None:
        if fcntl is None:
            log.warning("this system has no fcntl.flock: %s is not locked against a second server", self.root)
            return
        path = self.root / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            self._made_lock = True
        except FileExistsError:
            fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise WorkDirBusyError(
                f"Another srlib server is using the work folder {self.root} (it holds {path}); give this "
                "server its own --work-dir, or stop the other server first."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def close(self) -> None:
        """Remove what this run made (all of a temporary run folder; the empty folders it created), then
        release the lock."""
        if self.temporary:
            self.sweep()
            for d in (self.jobs, self.state, self.uploads):
                _rmdir_quiet(d)
            _unlink(self.root / RUN_MARKER)
        else:
            for d in reversed(self._made_dirs):
                _rmdir_quiet(d)
        if self._lock_fd is not None:
            if self._made_lock or self.temporary:  # unlinked while still held: no second server slips in
                _unlink(self.root / LOCK_NAME)
            os.close(self._lock_fd)
            self._lock_fd = None
        if self.temporary:
            _rmdir_quiet(self.root)

    # -- the sweep ------------------------------------------------------------------------------------
    def sweep(self) -> int:
        """Remove every file an earlier run of the server left here (ours by name and marker); returns
        how many were removed. Files that are not ours are left and counted in the log."""
        removed, foreign = 0, 0
        if _is_real_dir(self.jobs):
            for entry in self.jobs.iterdir():
                if valid_job_id(entry.name) and self.owns_job_folder(entry):
                    n, kept = self.remove_job_folder(entry)
                    removed, foreign = removed + n, foreign + kept
                else:
                    foreign += 1
        if _is_real_dir(self.state):
            for entry in self.state.iterdir():
                if self._owns_state_file(entry):
                    removed += _unlink(entry)
                else:
                    foreign += 1
        if _is_real_dir(self.uploads):
            for entry in self.uploads.iterdir():
                if _is_real_dir(entry) and _has_tag(entry / UPLOADS_MARKER, _UPLOADS_TAG):
                    n, kept = self.remove_uploads(entry)
                    removed, foreign = removed + n, foreign + kept
                else:
                    foreign += 1
        if removed:
            log.info("removed %d file(s) an earlier run of the server left in %s", removed, self.root)
        if foreign:
            log.info("left %d entr(ies) in %s that this server did not make", foreign, self.root)
        return removed

    def _owns_state_file(self, path: Path) -> bool:
        m = _STATE_FILES.fullmatch(path.name)
        if m is not None:
            return _has_tag(path, STATE_TAG, empty_ok=m.group(2) is not None)
        if path.suffix == ".cancel" and valid_job_id(path.stem):
            return _has_tag(path, _CANCEL_TAG)
        return False

    # -- job folders ----------------------------------------------------------------------------------
    def new_job_folder(self) -> tuple[str, Path]:
        """A new job id and its folder, tagged as ours."""
        job_id = uuid.uuid4().hex
        folder = self.jobs / job_id
        folder.mkdir()
        try:
            (folder / JOB_MARKER).write_bytes(_JOB_TAG)
        except BaseException:
            _rmdir_quiet(folder)
            raise
        return job_id, folder

    def owns_job_folder(self, folder: Path) -> bool:
        return _is_real_dir(folder) and _has_tag(folder / JOB_MARKER, _JOB_TAG)

    def remove_job_folder(self, folder: Path) -> tuple[int, int]:
        """Remove the files of ours in a job folder (upload, result, its temporary name, the marker),
        and the folder when nothing else is in it; returns (removed, left)."""
        removed, left = _remove_tagged(folder, JOB_MARKER, _JOB_TAG, _JOB_FILES)
        if left:
            log.warning("%s holds %d file(s) this server did not make: the folder is kept", folder, left)
        return removed, left

    # -- state files ----------------------------------------------------------------------------------
    def state_file(self, job_id: str) -> Path:
        return self.state / f"{job_id}.json"

    def write_state(self, job_id: str, status: dict) -> None:
        """Write a job's state atomically (tagged as ours).

        Raises:
            OSError: the write failed (``ENOSPC``/``EDQUOT`` when the disk is full).
        """
        data = json.dumps({"srlib_serve": 1, **status}).encode()
        atomic_write(self.state_file(job_id), lambda f: f.write(data))

    def read_state(self, job_id: str) -> dict | None:
        """A job's state as last written, or ``None`` (unknown id, deleted, or not a file of ours)."""
        if not valid_job_id(job_id):
            return None
        try:
            raw = self.state_file(job_id).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        if not raw.startswith(STATE_TAG):
            return None
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        data.pop("srlib_serve", None)
        return data

    def remove_state(self, job_id: str) -> bool:
        """Remove a job's state file (``True`` if this call removed it: one caller wins a race)."""
        path = self.state_file(job_id)
        return _has_tag(path, STATE_TAG) and _unlink(path)

    # -- cancellation markers -------------------------------------------------------------------------
    def cancel_file(self, job_id: str) -> Path:
        return self.state / f"{job_id}.cancel"

    def request_cancel(self, job_id: str) -> None:
        """Leave a cancellation request for the worker process that owns the job."""
        self.cancel_file(job_id).write_bytes(_CANCEL_TAG)

    def cancel_requested(self, job_id: str) -> bool:
        return self.cancel_file(job_id).exists()

    def remove_cancel(self, job_id: str) -> None:
        path = self.cancel_file(job_id)
        if _has_tag(path, _CANCEL_TAG):
            _unlink(path)

    # -- uploads --------------------------------------------------------------------------------------
    def worker_uploads(self) -> Path:
        """This worker process's folder of uploads in progress (``uploads/<pid>``), tagged as ours."""
        folder = self.uploads / str(os.getpid())
        folder.mkdir(parents=True, exist_ok=True)
        (folder / UPLOADS_MARKER).write_bytes(_UPLOADS_TAG)
        return folder

    def remove_uploads(self, folder: Path) -> tuple[int, int]:
        """Remove the uploads of ours in ``folder`` and the folder itself when nothing else is in it."""
        return _remove_tagged(folder, UPLOADS_MARKER, _UPLOADS_TAG, _UPLOAD_FILES)

    def new_upload(self, folder: Path, suffix: str = ".bin") -> Path:
        """A fresh name for a video upload in ``folder`` (a worker's uploads folder), ending ``suffix``."""
        if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) is None:
            suffix = ".bin"
        return folder / f"video.{uuid.uuid4().hex}{suffix}"

    def write_chunk(self, f: IO[bytes], chunk: bytes) -> None:
        """Write a piece of an upload (every uploaded byte the server stores passes here).

        Raises:
            OSError: the write failed (``ENOSPC``/``EDQUOT`` when the disk is full).
        """
        f.write(chunk)


def _rmdir_quiet(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (something that is not ours), or already gone
        path.rmdir()


def _runs_parent() -> Path | None:
    """``$TMPDIR/srlib-serve-<uid>``, made 0700; ``None`` if it exists but is not safely ours."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    parent = Path(tempfile.gettempdir()) / f"srlib-serve-{uid}"
    try:
        parent.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(parent)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != uid):
        log.warning("%s is not a folder of this user: using a fresh temporary folder instead", parent)
        return None
    return parent


def _sweep_dead_runs(parent: Path) -> None:
    """Remove the run folders of earlier servers under ``parent`` that nobody holds (killed runs)."""
    for entry in parent.glob("run-*"):
        if not (_is_real_dir(entry) and _has_tag(entry / RUN_MARKER, _RUN_TAG)):
            continue
        old = WorkDir(entry, temporary=True)
        try:
            old._lock()
        except (WorkDirBusyError, OSError):
            continue  # a live server's folder
        log.info("removing %s, left by a server that was killed", entry)
        old.close()


def _remove_tagged(folder: Path, marker: str, tag: bytes, ours: re.Pattern[str]) -> tuple[int, int]:
    """Remove the files named like ``ours`` in a folder tagged by ``marker``; then the marker and the
    folder when nothing else is left. Returns (removed, left); an untagged folder is not touched."""
    if not (_is_real_dir(folder) and _has_tag(folder / marker, tag)):
        return 0, 0
    removed, left = 0, 0
    for entry in list(folder.iterdir()):
        if ours.fullmatch(entry.name) and not _is_real_dir(entry):
            removed += _unlink(entry)
        elif entry.name != marker:
            left += 1
    if left:
        return removed, left
    removed += _unlink(folder / marker)
    _rmdir_quiet(folder)
    return removed, 0
