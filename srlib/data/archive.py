"""Safe archive extraction: every member checked first, a temporary folder renamed into place."""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

__all__ = ["UnsafeArchiveError", "extract_archive"]

log = logging.getLogger(__name__)

_EXTRACT_TAG = ".extract-"
# tarfile's extraction filters exist from Python 3.10.12 / 3.11.4; ``except ()`` catches nothing.
_TAR_FILTER_ERROR: type[Exception] | tuple = getattr(tarfile, "FilterError", ())


class UnsafeArchiveError(ValueError):
    """An archive holds a member that would land outside the target folder, or cannot be read."""


# ----------------------------------------------------------------------------- extraction
def _archive_type(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise UnsafeArchiveError(f"{path} is neither a zip nor a tar archive.")


def _member_path(archive: Path, name: str) -> PurePosixPath | None:
    """The member's relative path, or None for the archive root entry; refuse escaping names."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeArchiveError(f"Refusing to extract {archive}: member {name!r} has an absolute path.")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"Refusing to extract {archive}: member {name!r} contains '..' and would land outside the "
            "target folder."
        )
    return PurePosixPath(*parts) if parts else None


def _check_link(archive: Path, name: str, target: str, kind: str) -> None:
    norm = target.replace("\\", "/")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in parts or not parts:
        raise UnsafeArchiveError(
            f"Refusing to extract {archive}: member {name!r} is a {kind} to {target!r}, which points "
            "outside the target folder (links may only point downwards)."
        )


def _safe_tar_members(archive: Path, tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for m in tf.getmembers():
        rel = _member_path(archive, m.name)
        if m.issym():
            _check_link(archive, m.name, m.linkname, "symlink")
        elif m.islnk():
            _check_link(archive, m.name, m.linkname, "hard link")
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"Refusing to extract {archive}: member {m.name!r} is a device or FIFO.")
        if rel is not None:
            members.append(m)
    return members


def _zip_is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _extract_zip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        links = {}
        for info in infos:  # check everything before writing anything
            _member_path(archive, info.filename)
            if _zip_is_symlink(info):
                target = zf.read(info).decode("utf-8", "replace")
                _check_link(archive, info.filename, target, "symlink")
                links[info.filename] = target
        for info in infos:
            rel = _member_path(archive, info.filename)
            if rel is None:
                continue
            if info.filename in links:
                dest = into / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(links[info.filename], dest)
            else:
                zf.extract(info, into)


def _extract_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tf:
        members = _safe_tar_members(archive, tf)
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        try:
            tf.extractall(into, members=members, **kwargs)
        except _TAR_FILTER_ERROR as exc:  # our checks are stricter; kept as a second line
            name = getattr(getattr(exc, "tarinfo", None), "name", "?")
            raise UnsafeArchiveError(f"Refusing to extract {archive}: member {name!r}: {exc}.") from exc


def _merge_into(src: Path, dst: Path) -> None:
    """Move the contents of ``src`` into ``dst``, renaming whole folders where ``dst`` lacks them."""
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if target.is_symlink():
            target.unlink()
        if not target.exists():
            os.replace(entry, target)
        elif entry.is_dir() and not entry.is_symlink() and target.is_dir():
            _merge_into(entry, target)
        else:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a zip/tar(.gz) into ``target`` safely: checked members, temp folder, rename into place.

    Every member is checked first (no absolute paths, no ``..``, no links pointing outside, no device
    files); the archive is extracted into a temporary folder beside ``target``, which is then renamed
    to ``target`` (or merged into it folder by folder when ``target`` exists). On any failure the
    temporary folder is removed and ``target`` is left as it was.

    Args:
        archive: the archive file.
        target: the folder to extract into (created).

    Returns:
        ``target``.

    Raises:
        UnsafeArchiveError: an unsafe member (named in the message) or an unreadable archive.
    """
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_EXTRACT_TAG}", dir=target.parent))
    try:
        kind = _archive_type(archive)
        try:
            if kind == "zip":
                _extract_zip(archive, tmp)
            else:
                _extract_tar(archive, tmp)
        except (
            zipfile.BadZipFile,
            tarfile.ReadError,
            tarfile.CompressionError,
            EOFError,
            zlib.error,
            gzip.BadGzipFile,
        ) as exc:
            raise UnsafeArchiveError(
                f"Cannot read archive {archive} ({type(exc).__name__}: {exc}); it may be truncated or not "
                "an archive at all (an HTML error page, say)."
            ) from exc
        if not target.exists():
            os.replace(tmp, target)
        else:
            _merge_into(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _clean_stale(parent: Path, folder: str) -> None:
    """Remove temporary extraction folders left by a killed run."""
    if not parent.is_dir():
        return
    for p in parent.glob(f".{folder}{_EXTRACT_TAG}*"):
        log.info("Removing stale temporary folder %s (left by an interrupted run)", p)
        shutil.rmtree(p, ignore_errors=True)
