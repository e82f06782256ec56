"""Safe, idempotent dataset downloads: verified archives, atomic extraction, clear offline errors.

:mod:`srlib.data.fetch` downloads and verifies files and :mod:`srlib.data.archive` extracts them
(their public names are re-exported here); this module prepares catalogue datasets with them.

What happens in :func:`prepare_dataset` for each archive of a catalogue entry
(:mod:`srlib.data.catalogue`):

1. **Download** to ``<data_dir>/downloads/<file>.part`` with ``urllib`` (a timeout on every socket
   operation, a rich progress bar), then rename to ``<file>`` once complete and verified. A ``.part``
   left by a failure or a kill is **resumed** on the next call with an HTTP ``Range`` request (started
   over when the server ignores ranges); if the finished file fails its checksum the ``.part`` is
   deleted, so the next call starts from scratch. A file that looks complete is therefore always a
   verified one. An archive already at ``<data_dir>/downloads/<file>`` (for instance copied there
   by hand on an offline machine) is verified and used without any network access.
2. **Verify** the published checksum (and the size when published). When a resource has no published
   checksum (``checksum=None`` in the catalogue) it is used with a logged warning, and its size and
   SHA-256 are recorded in ``<data_dir>/recorded-checksums.json`` on first success (trust on first
   use); a later download of the same URL must match the recorded value or it is refused. Such a
   download must still prove itself whole: by the catalogue's ``size``, or by the length the server
   states (``Content-Length``); a body that just ends when the connection closes is refused with a
   message saying where to put the file by hand.
3. **Check every member** before extracting anything: absolute paths, ``..`` components, device files
   and links whose target is absolute or contains ``..`` (links may only point downwards, so no chain
   of links can leave the folder) are refused with :class:`UnsafeArchiveError` naming the member; the
   archive is then deleted.
4. **Extract** into a temporary folder next to the dataset folder, then rename it into place (the
   whole folder when it is new; folder by folder when another archive of the same dataset is already
   there). A marker ``<dataset>/.srlib/<file>.json`` is written last: a folder without its marker is
   never treated as complete, so a failure or a kill never leaves a half-extracted dataset that
   counts. Stale temporary folders are removed by the next call.
5. **Idempotent**: an archive whose marker exists (and whose folders are present) is skipped without
   any network request. The archive is deleted after extraction unless ``keep_archives=True``.

One process at a time should prepare a given data directory (Lightning's ``prepare_data`` runs on
one rank, which is what the DataModules use).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

from srlib._fs import atomic_write
from srlib._version import __version__
from srlib.data.archive import UnsafeArchiveError, _clean_stale, extract_archive
from srlib.data.catalogue import Checksum, DatasetSpec, Resource, get_dataset, layout_key
from srlib.data.fetch import DEFAULT_TIMEOUT, ChecksumError, DownloadError, _download, download_url
from srlib.data.image_io import IMAGE_EXTENSIONS

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_DATA_DIR",
    "ChecksumError",
    "DownloadError",
    "UnsafeArchiveError",
    "default_data_dir",
    "download_url",
    "extract_archive",
    "prepare_dataset",
    "resolve_dataset_dir",
    "resolve_dataset_dirs",
]

log = logging.getLogger(__name__)

ENV_DATA_DIR = "SRLIB_DATA_DIR"
_STATE_DIR = ".srlib"
_DOWNLOADS = "downloads"
_MANIFEST = "recorded-checksums.json"


# ----------------------------------------------------------------------------- small helpers
def default_data_dir() -> Path:
    """Where datasets are downloaded: ``$SRLIB_DATA_DIR``, else ``~/.cache/srlib/datasets``.

    Example:
        >>> import os
        >>> os.environ["SRLIB_DATA_DIR"] = "/tmp/sr-data"
        >>> default_data_dir().as_posix()
        '/tmp/sr-data'
        >>> del os.environ["SRLIB_DATA_DIR"]
    """
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "srlib" / "datasets"


def _has_images(folder: Path) -> bool:
    """Whether ``folder`` directly holds an image file (stops at the first; hidden files are skipped)."""
    if not folder.is_dir():
        return False
    with os.scandir(folder) as it:
        for entry in it:
            name = entry.name
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file():
                return True
    return False


def _write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` as JSON through the shared atomic write (temp file, fsync, rename)."""
    text = json.dumps(payload, indent=2, sort_keys=path.name == _MANIFEST) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _same_source(a: object, b: str) -> bool:
    """Whether two URLs name the same file, allowing for a move from ``http://`` to ``https://``."""
    if not isinstance(a, str):
        return False
    strip = re.compile(r"^https?://", re.IGNORECASE)
    return a == b or (bool(strip.match(a)) and strip.sub("", a) == strip.sub("", b))


# ----------------------------------------------------------------------------- datasets
def _marker_path(dataset_root: Path, res: Resource) -> Path:
    return dataset_root / _STATE_DIR / f"{res.filename}.json"


def _is_complete(spec: DatasetSpec, dataset_root: Path, res: Resource) -> bool:
    marker = _marker_path(dataset_root, res)
    if not marker.is_file():
        return False
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not _same_source(info.get("url"), res.url):
        return False
    for key in res.provides:
        split, _, kind = key.partition("/")
        scale = int(kind[4:]) if kind.startswith("lr_x") else None
        folder = spec.image_dir(dataset_root, split, "lr" if scale else "hr", scale)
        if not folder.is_dir():
            log.warning(
                "%s is marked complete but %s is missing; it will be extracted again", res.filename, folder
            )
            return False
    return True


def _load_manifest(data_dir: Path) -> dict:
    path = data_dir / _MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict):
        log.warning("Ignoring unreadable checksum manifest %s", path)
        return {}
    return manifest


def _recorded(manifest: dict, url: str) -> tuple[Checksum, int | None] | None:
    """The sha256 and size recorded on the first download of ``url`` (or its http:// spelling)."""
    for key, entry in manifest.items():
        if not _same_source(key, url):
            continue
        try:
            size = entry.get("size")
            return Checksum("sha256", entry["sha256"]), size if isinstance(size, int) and size > 0 else None
        except (AttributeError, KeyError, TypeError, ValueError):
            log.warning("Ignoring a malformed entry for %s in the checksum manifest", key)
    return None


def _select_resources(
    spec: DatasetSpec, split: str | None, kind: str | None, scale: int | None
) -> list[Resource]:
    if split is None and kind is None and scale is None:
        return list(spec.resources)
    splits = [spec.normalize_split(split)] if split is not None else list(spec.splits)
    if kind is not None and kind.lower() not in ("hr", "lr"):
        raise ValueError(f"kind must be 'hr', 'lr' or None (both), got {kind!r}.")
    if kind is not None and kind.lower() == "lr" and scale is not None:
        for s in splits:
            spec.resources_for(s, "lr", scale)  # raises with the available scales
    keys = set()
    for key in spec.layout:
        s, _, k = key.partition("/")
        if s not in splits:
            continue
        if kind is not None and not k.startswith(kind.lower()):
            continue
        if scale is not None and k.startswith("lr_x") and k != f"lr_x{int(scale)}":
            continue
        keys.add(key)
    chosen = [r for r in spec.resources if keys & set(r.provides)]
    if not chosen:
        raise ValueError(
            f"Nothing in {spec.name} matches split={split!r}, kind={kind!r}, scale={scale!r}; "
            f"it has {', '.join(spec.layout)}."
        )
    return chosen


def _prepare_resource(
    spec: DatasetSpec,
    res: Resource,
    data_dir: Path,
    *,
    progress: bool,
    timeout: float,
    keep_archives: bool,
) -> None:
    dataset_root = data_dir / spec.folder
    archive = data_dir / _DOWNLOADS / res.filename
    recorded = _recorded(_load_manifest(data_dir), res.url)
    checksum, size, how = res.checksum, res.size, "published"
    if checksum is None and recorded:
        checksum, size, how = recorded[0], recorded[1] or res.size, "recorded"
    elif checksum is None:
        how = "size" if res.size is not None else "unverified"
    try:
        digests, nbytes = _download(
            res.url, archive, checksum, size=size, progress=progress, timeout=timeout, resume=True
        )
    except DownloadError as exc:
        raise DownloadError(
            f"{exc} To work offline: fetch {res.url} elsewhere and put it at {archive} (it is then "
            "checked and extracted without network access), or pass root= pointing at an existing "
            f"{spec.name} copy."
        ) from exc
    if how == "recorded":
        log.info("%s matches the sha256 recorded on its first download", res.filename)

    created_root = not dataset_root.exists()
    log.info("Extracting %s into %s", archive, dataset_root)
    try:
        extract_archive(archive, dataset_root)
    except UnsafeArchiveError as exc:
        archive.unlink(missing_ok=True)
        if created_root and dataset_root.is_dir() and not any(dataset_root.iterdir()):
            dataset_root.rmdir()
        raise UnsafeArchiveError(f"{exc} The archive was deleted; nothing was extracted.") from exc
    info = {
        "dataset": spec.name,
        "url": res.url,
        "filename": res.filename,
        "size": nbytes,
        "sha256": digests["sha256"],
        "checksum": str(checksum) if checksum else None,
        "verified": how,
        "provides": list(res.provides),
        "srlib_version": __version__,
        "completed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json(_marker_path(dataset_root, res), info)
    if how in ("unverified", "size"):
        manifest = _load_manifest(data_dir)
        manifest[res.url] = {"sha256": digests["sha256"], "size": nbytes, "filename": res.filename}
        _write_json(data_dir / _MANIFEST, manifest)
        log.warning(
            "%s could not be verified: no checksum is published for it%s. Recorded its size (%d bytes) "
            "and sha256 %s in %s; later downloads of this URL must match them.",
            res.url,
            " (only its size, which matches the catalogue)" if how == "size" else "",
            nbytes,
            digests["sha256"],
            data_dir / _MANIFEST,
        )
    if not keep_archives:
        archive.unlink(missing_ok=True)


def prepare_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    split: str | None = None,
    kind: str | None = None,
    scale: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep_archives: bool = False,
) -> Path:
    """Download, verify and extract a catalogue dataset (all of it, or the parts selected).

    Safe to call repeatedly: parts already complete are skipped without network access. See the
    module docstring for the guarantees (atomic files, resumed ``.part`` downloads, refused unsafe
    members, trust-on-first-use for archives without a published checksum).

    Args:
        name: a catalogue name (:func:`srlib.data.catalogue.list_datasets`), case-insensitive.
        data_dir: where datasets live; default :func:`default_data_dir`.
        progress: rich progress bars while downloading.
        split: only this split (``None``: all). DIV2K's full set is about 5.8 GB; ``split="valid"`` and
            ``kind="hr"`` fetch 0.45 GB.
        kind: ``"hr"``, ``"lr"`` or ``None`` (both).
        scale: only this LR scale (``None``: all).
        timeout: seconds allowed for the connection and each read.
        keep_archives: keep the archives in ``<data_dir>/downloads`` after extraction.

    Returns:
        The dataset's root folder (``<data_dir>/<spec.folder>``) to pass to ``spec.image_dir``; for a
        union (DF2K), ``data_dir`` (its components' folders are inside).

    Raises:
        ValueError: unknown name/split/kind/scale.
        DownloadError: network failure (the message names the URL and the offline alternatives).
        ChecksumError: a download does not match its checksum (nothing is left in place).
        UnsafeArchiveError: an archive member would escape the folder (nothing is left in place).
    """
    spec = get_dataset(name)
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if spec.is_union:
        splits = [spec.normalize_split(split)] if split is not None else list(spec.splits)
        done: set[tuple[str, str]] = set()
        for s in splits:
            for comp in spec.component_splits[s]:
                if (comp, s) in done:
                    continue
                done.add((comp, s))
                prepare_dataset(
                    comp,
                    data_dir,
                    progress=progress,
                    split=s,
                    kind=kind,
                    scale=scale,
                    timeout=timeout,
                    keep_archives=keep_archives,
                )
        return data_dir
    dataset_root = data_dir / spec.folder
    _clean_stale(data_dir, spec.folder)
    for res in _select_resources(spec, split, kind, scale):
        if _is_complete(spec, dataset_root, res):
            log.debug("%s: %s already extracted", spec.name, res.filename)
            continue
        _prepare_resource(
            spec, res, data_dir, progress=progress, timeout=timeout, keep_archives=keep_archives
        )
    return dataset_root


def resolve_dataset_dir(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    split: str | None = None,
    kind: str = "hr",
    scale: int | None = None,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """The folder of ``kind`` images of ``split`` (at ``scale`` for LR) of a catalogue dataset.

    * ``root=`` an existing copy: no network at all. The layout's folders are looked up under
      ``root`` (see ``spec.layout``); for HR, a ``root`` that directly holds images is accepted too.
    * otherwise the copy under ``data_dir`` is used when complete; when it is missing it is
      downloaded if ``download=True``, else FileNotFoundError explains how to get it.

    Args:
        name: catalogue name (for DF2K use :func:`resolve_dataset_dirs`).
        root: an existing copy of the dataset.
        data_dir: where downloads live; default :func:`default_data_dir`.
        download: allow downloading what is missing.
        split: ``"train"``, ``"valid"``/``"val"`` or ``"test"``; ``None`` = the dataset's default
            (train for training sets, test for Set5/Set14/BSD100/Urban100).
        kind: ``"hr"`` or ``"lr"``.
        scale: LR scale (needed for ``kind="lr"``).
        progress: progress bars when downloading.
        timeout: network timeout in seconds.

    Returns:
        An existing folder holding at least one image.

    Raises:
        FileNotFoundError: ``root`` missing or without images; or not downloaded and ``download=False``
            (the message names the URL(s), the expected folder and the ``root=`` alternative).
        DownloadError: network failure (names the URL and the offline alternative).
        ValueError: unknown name/split/kind/scale, or a union dataset.

    Example:
        >>> import pathlib
        >>> shared = pathlib.Path("../shared/data/Set5")
        >>> not shared.is_dir() or resolve_dataset_dir("Set5", root=shared) == shared
        True
    """
    spec = get_dataset(name)
    if spec.is_union:
        raise ValueError(
            f"{spec.name} is the union of {' + '.join(spec.components)} (several folders); "
            "use resolve_dataset_dirs(...)."
        )
    split = spec.normalize_split(split)
    key = spec._key(split, kind, scale)
    if root is not None:
        root = Path(root).expanduser()
        candidates = ", ".join(spec.layout[key])
        if not root.is_dir():
            raise FileNotFoundError(
                f"root={root} does not exist or is not a folder. Point root= at your {spec.name} copy "
                f"(holding {candidates}), or drop root= to use the download cache."
            )
        folder = spec.image_dir(root, split, kind, scale)
        if _has_images(folder):
            return folder
        if kind.lower() == "hr" and _has_images(root):
            return root
        raise FileNotFoundError(
            f"root={root} holds no {spec.name} {key} images: looked in {folder}"
            + (" and in root itself" if kind.lower() == "hr" else "")
            + f" (expected one of: {candidates}, relative to root)."
        )
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    dataset_root = data_dir / spec.folder
    resources = spec.resources_for(split, kind, scale)
    folder = spec.image_dir(dataset_root, split, kind, scale)
    if all(_is_complete(spec, dataset_root, r) for r in resources) and _has_images(folder):
        return folder
    if not download:
        urls = " and ".join(r.url for r in resources)
        archives = ", ".join(str(data_dir / _DOWNLOADS / r.filename) for r in resources)
        raise FileNotFoundError(
            f"{spec.name} {key} images are not in {folder} and download=False. Either pass download=True "
            f"to fetch {urls} (checksum-verified), or, offline, copy the archive(s) to {archives} and call "
            f"with download=True to extract them without network access, or pass root= pointing at an "
            f"existing copy laid out like the archives (expected {spec.layout[key][0]} under root)."
        )
    prepare_dataset(
        spec.name, data_dir, progress=progress, split=split, kind=kind, scale=scale, timeout=timeout
    )
    folder = spec.image_dir(dataset_root, split, kind, scale)
    if not _has_images(folder):
        raise FileNotFoundError(
            f"After extracting {spec.name}, {folder} holds no images: the archive's layout may differ from "
            f"the catalogue ({layout_key(split, kind, scale)} -> {', '.join(spec.layout[key])}). "
            f"Inspect {dataset_root} and pass root= to the right folder."
        )
    return folder


def resolve_dataset_dirs(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    split: str | None = None,
    kind: str = "hr",
    scale: int | None = None,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Path]:
    """Like :func:`resolve_dataset_dir` but a list of folders: one per component for a union (DF2K).

    For a union, ``root`` is the folder holding each component's folder (``root/DIV2K``,
    ``root/Flickr2K``); an HR ``root`` that directly holds images (a merged DF2K folder) is accepted
    as the single folder.
    """
    spec = get_dataset(name)
    common = {"data_dir": data_dir, "download": download, "kind": kind, "scale": scale}
    common |= {"progress": progress, "timeout": timeout}
    if not spec.is_union:
        return [resolve_dataset_dir(spec.name, root=root, split=split, **common)]
    split = spec.normalize_split(split)
    if root is not None and kind.lower() == "hr" and _has_images(Path(root).expanduser()):
        return [Path(root).expanduser()]
    out = []
    for comp in spec.component_splits[split]:
        comp_spec = get_dataset(comp)
        comp_root = None if root is None else Path(root).expanduser() / comp_spec.folder
        out.append(resolve_dataset_dir(comp, root=comp_root, split=split, **common))
    return out
