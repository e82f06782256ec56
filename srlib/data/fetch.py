"""Fetching files over HTTP(S): resumed ``.part`` downloads, checksums and sizes, progress bars."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
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
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED_RANGE = re.compile(r"^bytes\s+\*/(\d+)$")


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"srlib/{__version__} (python urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _stated_total(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The whole file's size as the server states it (Content-Range, else Content-Length), or None."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
    if match and match.group(3) != "*":
        return int(match.group(3))
    length = response.headers.get("Content-Length", "").strip()
    return offset + int(length) if length.isdigit() else None


def _fetch_to_part(url: str, part: Path, *, timeout: float, progress: bool, resume: bool) -> int | None:
    """Stream ``url`` into ``part`` (appending when resuming); raise DownloadError when incomplete.

    Returns:
        The file's full size when the transfer itself proves it complete (a Content-Length or
        Content-Range total that was reached, or a chunked body that ended properly), else ``None``:
        a body that simply stops when the connection closes may have been cut short.
    """
    offset = part.stat().st_size if part.exists() else 0
    if offset and not resume:
        part.unlink()
        offset = 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            # Range not satisfiable: the .part already holds the whole file, or more than the file.
            match = _UNSATISFIED_RANGE.match((exc.headers or {}).get("Content-Range", "").strip())
            total = int(match.group(1)) if match else None
            if total is not None and offset > total:
                log.info("%s: the partial file is longer than the file (%d bytes); starting over", url, total)
                return _fetch_to_part(url, part, timeout=timeout, progress=progress, resume=False)
            log.info("%s: server reports nothing left to fetch beyond %d bytes", url, offset)
            return total
        raise DownloadError(f"Downloading {url} failed: HTTP {exc.code} {exc.reason}.") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"Downloading {url} failed: {reason}.") from exc

    with response:
        status = getattr(response, "status", 200)
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
            if not (match and int(match.group(1)) == offset):
                # Partial content that does not start where the .part ends cannot be appended.
                response.close()
                if not offset:
                    raise DownloadError(
                        f"Downloading {url} failed: the server answered a plain request with partial content "
                        f"({response.headers.get('Content-Range') or 'no Content-Range'})."
                    )
                log.info("%s: server resumed at the wrong byte; starting over", url)
                return _fetch_to_part(url, part, timeout=timeout, progress=progress, resume=False)
            log.info("%s: resuming at byte %d", url, offset)
        elif offset:
            log.info("%s: server did not resume at byte %d; starting over", url, offset)
            offset = 0
        total = _stated_total(response, offset)
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
        # http.client raises IncompleteRead above when a chunked body stops before its last chunk.
        chunked = bool(getattr(response, "chunked", False))
    if total is not None and received < total:
        raise DownloadError(
            f"Downloading {url} failed: the connection closed after {received} of {total} bytes. "
            f"The partial file {part} is kept; calling again resumes it."
        )
    if total is not None and received > total:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"Downloading {url} failed: received {received} bytes, more than the {total} the server "
            "announced. The partial file was deleted; call again to start over."
        )
    if total is None and chunked:
        return received
    return total


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
    """Download (or reuse) ``dest``; return its digests (sha256 always) and size.

    A download is accepted only when something proves it whole: ``checksum``, ``size``, or the
    transfer itself (see :func:`_fetch_to_part`). Otherwise the bytes stay in the ``.part`` file
    and :class:`DownloadError` says how to supply the file.
    """
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
    total = _fetch_to_part(url, part, timeout=timeout, progress=progress, resume=resume)
    nbytes = part.stat().st_size
    if checksum is None and size is None and total is None:
        raise DownloadError(
            f"Downloading {url}: the server did not state the file's size (no Content-Length) and no "
            f"checksum or size is known for it, so the {nbytes} bytes received may be a connection cut "
            f"short. They were not accepted (they stay in {part}). Knowing the file's checksum or size in "
            "bytes lets srlib verify it (checksum=/size= of download_url, or the dataset's catalogue entry)."
        )
    digests = _hash_file(part, algorithms)
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

    A download is accepted only when it is provably whole: it matches ``checksum`` or ``size``, or,
    without either, the server stated its length (``Content-Length``/``Content-Range``, or a chunked
    body that ended properly) and every byte arrived. A body that just stops when the connection
    closes could be a cut-off file, so it is refused (see Raises).

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
        DownloadError: network/HTTP failure, a connection cut, or a length that cannot be verified
            (no checksum, no size and no length from the server); the message names the URL and the
            offline way.
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
