"""Fetching files over HTTP(S): resumed ``.part`` downloads, checksums and sizes, progress bars."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from srlib._version import __version__
from srlib.data.catalogue import Checksum

__all__ = ["DEFAULT_TIMEOUT", "ChecksumError", "DownloadError", "download_url"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds, per socket operation (connect, each read)
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download failed (network error, HTTP error, connection cut); the message names the URL."""


class ChecksumError(ValueError):
    """A downloaded or supplied file does not match its expected checksum or size."""


def _hash_file(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    hashers = {a: hashlib.new(a) for a in {"sha256", *algorithms}}
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


@contextlib.contextmanager
def _progress_bar(description: str, total: int | None, completed: int, enabled: bool) -> Iterator[Callable]:
    """Yield ``advance(n)``; a rich bar on stderr when ``enabled``, a no-op otherwise."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, completed=completed)
        yield lambda n: bar.advance(task, n)


# ----------------------------------------------------------------------------- downloading
def _fetch_to_part(url: str, part: Path, *, timeout: float, progress: bool, resume: bool) -> None:
    """Stream ``url`` into ``part`` (appending when resuming); raise DownloadError when incomplete."""
    offset = part.stat().st_size if part.exists() else 0
    if offset and not resume:
        part.unlink()
        offset = 0
    headers = {"User-Agent": f"srlib/{__version__} (python urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            # Range not satisfiable: the .part already holds the whole file (or more); the checksum decides.
            log.info("%s: server reports nothing left to fetch beyond %d bytes", url, offset)
            return
        raise DownloadError(f"Downloading {url} failed: HTTP {exc.code} {exc.reason}.") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"Downloading {url} failed: {reason}.") from exc

    with response:
        status = getattr(response, "status", 200)
        content_range = response.headers.get("Content-Range", "")
        if offset and not (status == 206 and content_range.startswith(f"bytes {offset}-")):
            log.info("%s: server did not resume at byte %d; starting over", url, offset)
            offset = 0
        elif offset:
            log.info("%s: resuming at byte %d", url, offset)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        received = offset
        with (
            part.open("ab" if offset else "wb") as f,
            _progress_bar(part.name.removesuffix(".part"), total, offset, progress) as advance,
        ):
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    f.flush()
                    raise DownloadError(
                        f"Downloading {url} failed after {received} bytes: {exc}. The partial file "
                        f"{part} is kept; calling again resumes it."
                    ) from exc
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                advance(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    if total is not None and received < total:
        raise DownloadError(
            f"Downloading {url} failed: the connection closed after {received} of {total} bytes. "
            f"The partial file {part} is kept; calling again resumes it."
        )


def _download(
    url: str,
    dest: Path,
    checksum: Checksum | None,
    *,
    size: int | None,
    progress: bool,
    timeout: float,
    resume: bool,
) -> tuple[dict[str, str], int]:
    """Download (or reuse) ``dest``; return its digests (sha256 always) and size."""
    algorithms = [checksum.algorithm] if checksum else []
    if dest.is_dir():
        raise ValueError(f"Download destination {dest} is a folder; give a file path.")
    if dest.exists():
        digests = _hash_file(dest, algorithms)
        nbytes = dest.stat().st_size
        _verify(dest, url, checksum, digests, size, nbytes, remove=False)
        log.info("Using %s already on disk (no download)", dest)
        return digests, nbytes
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log.info("Downloading %s -> %s", url, dest)
    _fetch_to_part(url, part, timeout=timeout, progress=progress, resume=resume)
    digests = _hash_file(part, algorithms)
    nbytes = part.stat().st_size
    _verify(part, url, checksum, digests, size, nbytes, remove=True)
    os.replace(part, dest)
    return digests, nbytes


def _verify(
    path: Path,
    url: str,
    checksum: Checksum | None,
    digests: dict[str, str],
    size: int | None,
    nbytes: int,
    *,
    remove: bool,
) -> None:
    problem = ""
    if size is not None and nbytes != size:
        problem = f"size is {nbytes} bytes, expected {size}"
    elif checksum is not None and digests[checksum.algorithm] != checksum.value:
        problem = f"{checksum.algorithm} is {digests[checksum.algorithm]}, expected {checksum.value}"
    if not problem:
        return
    if remove:
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"The file downloaded from {url} is corrupt or has changed: its {problem}. "
            "It was deleted; call again to download it from scratch, or report it if it persists."
        )
    raise ChecksumError(
        f"{path} (for {url}) does not match: its {problem}. Delete it (or replace it with the right "
        "file) and call again."
    )


def download_url(
    url: str,
    dest: str | os.PathLike,
    checksum: Checksum | str | None = None,
    *,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    resume: bool = True,
    size: int | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``checksum`` (``"sha256:<hex>"`` or a Checksum).

    The bytes go to ``dest + ".part"``; only a complete, verified file is renamed to ``dest``. An
    interrupted ``.part`` is resumed on the next call (``resume=False`` starts over). When ``dest``
    already exists it is verified and returned without any request (with ``checksum=None`` it is
    returned as is).

    Args:
        url: ``http(s)://`` address (``file://`` works too).
        dest: the file to create.
        checksum: expected digest, or ``None`` to skip verification.
        progress: show a rich progress bar on stderr.
        timeout: seconds allowed for the connection and for each read.
        resume: resume a ``.part`` left by an earlier attempt.
        size: expected size in bytes, checked when given.

    Returns:
        ``dest`` as a Path.

    Raises:
        DownloadError: network/HTTP failure or a connection cut (names the URL and the offline way).
        ChecksumError: the file does not match ``checksum`` or ``size``.

    Example:
        >>> import pathlib, tempfile
        >>> src = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> _ = src.write_bytes(b"abc")
        >>> out = download_url(src.as_uri(), src.with_name("b.bin"), progress=False,
        ...     checksum="sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        >>> out.read_bytes()
        b'abc'
    """
    dest = Path(dest)
    parsed = Checksum.parse(checksum) if checksum is not None else None
    try:
        _download(url, dest, parsed, size=size, progress=progress, timeout=timeout, resume=resume)
    except DownloadError as exc:
        raise DownloadError(
            f"{exc} To work offline, fetch {url} by other means and save it as {dest}: it is then "
            "verified and used without network access."
        ) from exc
    return dest
