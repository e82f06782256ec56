"""Content-hashed on-disk caches, and the ``.npy`` crop reader that serves training patches from them.

A leaf module (it imports nothing from srlib but :mod:`srlib._fs`), used by the sub-image cache
(:mod:`srlib.data.subimages`) and the video frame-pair cache (:mod:`srlib.data.video.cache`).

Cache layout: one folder per entry, ``<root>/<stem>-<source id>-<key>/``, holding the entry's files and a
``manifest.json``. ``<source id>`` hashes what the entry is made from (a file path, a clip name), ``<key>``
hashes everything its contents depend on (the sources' sizes and modification times, the settings, the
cache format version). An entry is filled in a hidden temporary folder (``.<name>.tmp-<host>-<pid>-*``),
its manifest is written last (recording the format version, the key and every file's size), and only then
is the folder renamed into place. The manifest is the commit point: a folder without a valid manifest (or
whose files do not match it) is incomplete and is rebuilt, never read. Once an entry is written, the other
entries of the same source (made from an older version of it, or with other settings) are deleted.
Concurrent writers of one entry (several DDP ranks) are safe: the first rename wins, the others reuse it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srlib._fs import atomic_write

__all__ = ["MANIFEST", "CacheEntry", "HashedCache", "digest", "file_stamp", "read_npy_crop", "safe_stem"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_TMP_TAG = ".tmp-"
_RESERVED = ("cache_version", "key", "files")


def digest(*parts: object) -> str:
    """SHA-256 hex digest of JSON-serialisable ``parts`` (mapping order does not matter).

    Example:
        >>> digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1}), len(digest("x"))
        (True, 64)
    """
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def file_stamp(path: str | os.PathLike, *, name_only: bool = False) -> list[Any]:
    """``[path, size, mtime_ns]`` of a source file: its resolved path (only its name with ``name_only``)."""
    path = Path(path)
    st = path.stat()
    return [path.name if name_only else str(path.resolve()), st.st_size, st.st_mtime_ns]


def safe_stem(name: str, default: str = "entry") -> str:
    """``name`` reduced to a short file-name-safe stem that never starts with ``.`` (never hidden).

    Example:
        >>> safe_stem("my clip (1)"), safe_stem(".hidden"), safe_stem("")
        ('my_clip__1_', 'hidden', 'entry')
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".")[:60] or default


def _host_id() -> str:
    """A short id of this machine, so a cache on a shared disk is cleaned only by the host that wrote it."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@dataclass(frozen=True)
class CacheEntry:
    """Where one entry lives and the key its manifest must carry.

    Attributes:
        directory: the entry's final folder.
        key: hash of everything the contents depend on (part of the folder name).
        source_id: hash of the entry's source identity; entries sharing it replace each other.
    """

    directory: Path
    key: str
    source_id: str


class HashedCache:
    """A folder of content-hashed entries, each committed by a manifest written last.

    Args:
        root: the cache folder (created when the first entry is written).
        version: the format version of the entries; a new version invalidates every older entry.

    Example:
        >>> import tempfile
        >>> cache = HashedCache(tempfile.mkdtemp(), version=1)
        >>> entry = cache.entry("photo", source="/data/photo.png", content={"size": 10, "crop": 96})
        >>> cache.load(entry) is None
        True
        >>> manifest = cache.build(entry, lambda folder: {"note": (folder / "a.bin").write_bytes(b"x")})
        >>> cache.load(entry)["files"]
        {'a.bin': 1}
    """

    def __init__(self, root: str | os.PathLike, *, version: int) -> None:
        self.root = Path(root).expanduser()
        self.version = int(version)

    def entry(self, stem: str, *, source: object, content: object) -> CacheEntry:
        """The entry of ``source`` (its identity, e.g. a path) whose contents depend on ``content``
        (sizes, modification times, settings; anything JSON-serialisable)."""
        source_id = digest(source)[:10]
        key = digest(self.version, source, content)[:16]
        return CacheEntry(self.root / f"{safe_stem(stem)}-{source_id}-{key}", key, source_id)

    def load(self, entry: CacheEntry) -> dict[str, Any] | None:
        """The manifest of ``entry`` if the entry is complete (right version and key, every file present
        with its recorded size), else ``None``."""
        try:
            manifest = json.loads((entry.directory / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(manifest, dict):
            return None
        if manifest.get("cache_version") != self.version or manifest.get("key") != entry.key:
            return None
        files = manifest.get("files")
        if not isinstance(files, dict):
            return None
        for name, size in files.items():
            try:
                if (entry.directory / name).stat().st_size != size:
                    return None
            except OSError:
                return None
        return manifest

    def build(self, entry: CacheEntry, fill: Callable[[Path], Mapping[str, Any]]) -> dict[str, Any]:
        """Write ``entry``: ``fill(folder)`` writes its files into an empty hidden folder and returns the
        manifest's contents; the manifest (with the version, key and file sizes added) is written last and
        the folder renamed into place. Other entries of the same source are deleted afterwards.

        Returns:
            The manifest (another process's, if it committed the same entry first).

        Raises:
            ValueError: ``fill`` returned a reserved manifest field (``cache_version``, ``key``, ``files``).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        prefix = f".{entry.directory.name}{_TMP_TAG}{_host_id()}-{os.getpid()}-"
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))
        try:
            payload = dict(fill(tmp))
            clash = [k for k in _RESERVED if k in payload]
            if clash:
                raise ValueError(f"Cache manifest fields {clash} are reserved; rename them.")
            files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
            manifest = {**payload, "cache_version": self.version, "key": entry.key, "files": files}
            text = json.dumps(manifest, indent=1) + "\n"
            atomic_write(tmp / MANIFEST, lambda f: f.write(text.encode("utf-8")))
            if entry.directory.exists() and self.load(entry) is None:
                shutil.rmtree(entry.directory, ignore_errors=True)  # an incomplete folder: replace it
            try:
                os.replace(tmp, entry.directory)
            except OSError:
                theirs = self.load(entry)
                if theirs is None:
                    raise
                log.debug("%s was written by another process meanwhile; keeping that copy", entry.directory)
                manifest = theirs
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self.remove_stale(entry)
        return manifest

    def remove_stale(self, entry: CacheEntry) -> None:
        """Delete the other entries of ``entry``'s source (older versions of it, other settings)."""
        stem = entry.directory.name[: -len(entry.key) - 1]
        for old in self.root.glob(f"{_glob_escape(stem)}-*"):
            if old != entry.directory and old.is_dir() and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)

    def clean_interrupted(self) -> None:
        """Remove temporary folders left by killed runs on this host (their process is gone)."""
        if not self.root.is_dir():
            return
        pattern = re.compile(re.escape(_TMP_TAG) + r"([0-9a-f]{8})-(\d+)-")
        for tmp in self.root.glob(f".*{_TMP_TAG}*"):
            match = pattern.search(tmp.name)
            if match and match.group(1) == _host_id() and not _pid_alive(int(match.group(2))):
                log.info("Removing %s, left by an interrupted cache write", tmp)
                shutil.rmtree(tmp, ignore_errors=True)


def _glob_escape(text: str) -> str:
    """``text`` with the glob wildcards ``*?[`` escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


# ----------------------------------------------------------------------------------------------------
# Reading crops of cached .npy arrays
# ----------------------------------------------------------------------------------------------------

_HEADERS: dict[tuple[str, int, int], tuple[int, tuple[int, int, int]]] = {}
_MAX_HEADERS = 200_000


def _damaged(path: Path, problem: str, folder: Path | None) -> str:
    where = folder if folder is not None else path.parent
    return f"Cache file {path} {problem}; delete the cache folder {where} (it is rebuilt at the next run)."


def _layout(fd: int, path: Path, st: os.stat_result, folder: Path | None) -> tuple[int, tuple[int, int, int]]:
    """Data offset and ``(C, H, W)`` shape of an open ``.npy`` file (parsed once per file version)."""
    cache_key = (str(path), st.st_size, st.st_mtime_ns)
    layout = _HEADERS.get(cache_key)
    if layout is not None:
        return layout
    head = os.pread(fd, 4096, 0) if hasattr(os, "pread") else _read_head(path)
    try:
        stream = io.BytesIO(head)
        version = np.lib.format.read_magic(stream)
        fmt = np.lib.format
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(stream)
    except (ValueError, EOFError) as err:
        raise ValueError(_damaged(path, f"is not a readable .npy array ({err})", folder)) from err
    if dtype != np.uint8 or fortran or len(shape) != 3:
        raise ValueError(
            _damaged(path, f"holds a {dtype} array of shape {shape}, not a (C, H, W) uint8 array", folder)
        )
    offset = stream.tell()
    if offset + int(np.prod(shape)) > st.st_size:
        raise ValueError(_damaged(path, "is truncated", folder))
    if len(_HEADERS) >= _MAX_HEADERS:
        _HEADERS.clear()
    _HEADERS[cache_key] = layout = (offset, (int(shape[0]), int(shape[1]), int(shape[2])))
    return layout


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(4096)


def read_npy_crop(
    path: str | os.PathLike,
    top: int = 0,
    left: int = 0,
    height: int | None = None,
    width: int | None = None,
    *,
    cache_folder: str | os.PathLike | None = None,
) -> np.ndarray:
    """Read a crop of a ``(C, H, W)`` uint8 ``.npy`` file without loading the rest of the array.

    Only the ``height`` rows of the crop are read, one positioned read (``os.preadv``/``os.pread``) per
    channel; where those do not exist (Windows), a memory map reads the same rows. The header is parsed
    once per file (and size and modification time) and process. A 96-pixel crop of a 480p frame costs
    tens of microseconds.

    Args:
        path: the ``.npy`` file (C order, as ``np.save`` writes a contiguous array).
        top, left: the crop's top-left corner.
        height, width: the crop's size (default: to the bottom / right edge; all defaults: the whole array).
        cache_folder: the folder named in error messages as the one to delete (default ``path``'s folder).

    Returns:
        A contiguous ``(C, height, width)`` uint8 array.

    Raises:
        FileNotFoundError: the file is missing (the message says which cache folder to delete).
        ValueError: the file is not a ``(C, H, W)`` uint8 array, is truncated, or the crop lies outside it.

    Shape:
        - output: ``(C, height, width)``.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "frame.npy"
        >>> array = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
        >>> np.save(path, array)
        >>> crop = read_npy_crop(path, 1, 2, 2, 3)
        >>> crop.shape, bool((crop == array[:, 1:3, 2:5]).all())
        ((3, 2, 3), True)
    """
    path = Path(path)
    folder = Path(cache_folder) if cache_folder is not None else None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as err:
        raise FileNotFoundError(_damaged(path, "is missing", folder)) from err
    except OSError as err:
        raise ValueError(_damaged(path, f"cannot be opened ({err.strerror or err})", folder)) from err
    try:
        offset, (c, h, w) = _layout(fd, path, os.fstat(fd), folder)
        rows = h - top if height is None else int(height)
        cols = w - left if width is None else int(width)
        if top < 0 or left < 0 or rows < 0 or cols < 0 or top + rows > h or left + cols > w:
            raise ValueError(
                f"The crop at ({top}, {left}) of {rows}x{cols} pixels lies outside the {w}x{h} array "
                f"in {path}."
            )
        out = np.empty((c, rows, w), dtype=np.uint8)
        if hasattr(os, "preadv"):
            for k in range(c):
                got = os.preadv(fd, [memoryview(out[k]).cast("B")], offset + (k * h + top) * w)
                if got != rows * w:
                    raise ValueError(_damaged(path, "is truncated", folder))
        elif hasattr(os, "pread"):
            for k in range(c):
                chunk = os.pread(fd, rows * w, offset + (k * h + top) * w)
                if len(chunk) != rows * w:
                    raise ValueError(_damaged(path, "is truncated", folder))
                out[k] = np.frombuffer(chunk, dtype=np.uint8).reshape(rows, w)
        else:  # pragma: no cover - Windows
            mapped = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(c, h, w))
            out[...] = mapped[:, top : top + rows]
    finally:
        os.close(fd)
    if cols != w:
        out = np.ascontiguousarray(out[:, :, left : left + cols])
    return out
