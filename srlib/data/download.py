"""Catalogue datasets on disk: prepared once (verified, safely extracted), then found by name or folder.

This module orchestrates; :mod:`srlib.data.fetch` downloads and verifies files and
:mod:`srlib.data.archive` extracts them (their public names are re-exported here).
:func:`resolve_image_dirs` is the one rule for "a dataset name or a folder" used across srlib;
``python -m srlib.data download NAME`` prepares a dataset from the command line.

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
import shlex
import time
from pathlib import Path

from srlib._fs import write_json
from srlib._version import __version__
from srlib.data.archive import UnsafeArchiveError, _clean_stale, extract_archive
from srlib.data.catalogue import (
    Checksum,
    DatasetSpec,
    Resource,
    close_matches,
    get_dataset,
    layout_key,
    list_datasets,
)
from srlib.data.fetch import DEFAULT_TIMEOUT, ChecksumError, DownloadError, _download, download_url
from srlib.io.images import IMAGE_EXTENSIONS

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
    "resolve_image_dir",
    "resolve_image_dirs",
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
    write_json(_marker_path(dataset_root, res), info)
    if how in ("unverified", "size"):
        manifest = _load_manifest(data_dir)
        manifest[res.url] = {"sha256": digests["sha256"], "size": nbytes, "filename": res.filename}
        write_json(data_dir / _MANIFEST, manifest, sort_keys=True)
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


# ----------------------------------------------------------------------------- "name or folder"
def _looks_like_path(text: str) -> bool:
    seps = {"/", os.sep, os.altsep or "/"}
    return any(sep in text for sep in seps) or text.startswith(("~", "."))


def _dataset_for(value: str | os.PathLike, path: Path) -> DatasetSpec:
    """The catalogue entry named by ``value``; FileNotFoundError when it names neither that nor a folder."""
    text = os.fspath(value)
    try:
        return get_dataset(text)
    except ValueError:
        pass
    names = ", ".join(list_datasets())
    if path.exists():
        raise FileNotFoundError(
            f"{path} is a file, not a folder of images. Pass the folder that holds the images, or a "
            f"catalogue dataset name ({names})."
        )
    if _looks_like_path(text):
        raise FileNotFoundError(
            f"Image folder {path} does not exist. Pass an existing folder of images, or a catalogue "
            f"dataset name ({names})."
        )
    close = close_matches(text)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise FileNotFoundError(
        f"{text!r} is neither an existing folder nor a dataset in the catalogue.{hint} Catalogue: {names} "
        "(`python -m srlib.data list` describes them). Pass one of those names, or the path of a folder "
        "of images."
    )


def _catalogue_split(spec: DatasetSpec, split: str | None) -> str:
    """``spec.normalize_split``, with ``"test"`` meaning ``"valid"`` for sets without a test split (DIV2K)."""
    try:
        return spec.normalize_split(split)
    except ValueError:
        if split is not None and split.lower() in ("test", "testing") and "valid" in spec.splits:
            log.debug("%s has no test split; using its valid split", spec.name)
            return "valid"
        raise


def _download_command(spec: DatasetSpec, split: str, kind: str, scale: int | None, data_dir: Path) -> str:
    cmd = f"python -m srlib.data download {spec.name} --split {split} --kind {kind.lower()}"
    if kind.lower() == "lr":
        cmd += f" --scale {scale}"
    if data_dir != default_data_dir():
        cmd += f" --data-dir {shlex.quote(str(data_dir))}"
    return cmd


def _catalogue_folder(
    spec: DatasetSpec,
    split: str,
    kind: str,
    scale: int | None,
    *,
    root: Path | None,
    data_dir: Path,
    download: bool,
    progress: bool,
    timeout: float,
) -> Path:
    """The folder of one (non-union) catalogue dataset: in ``root``, else under ``data_dir``."""
    key = spec._key(split, kind, scale)
    if root is not None:
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
    dataset_root = data_dir / spec.folder
    resources = spec.resources_for(split, kind, scale)
    folder = spec.image_dir(dataset_root, split, kind, scale)
    if all(_is_complete(spec, dataset_root, r) for r in resources) and _has_images(folder):
        return folder
    if not download:
        urls = " and ".join(r.url for r in resources)
        archives = ", ".join(str(data_dir / _DOWNLOADS / r.filename) for r in resources)
        raise FileNotFoundError(
            f"{spec.name} {key} images are not in {folder}. Download them with "
            f"`{_download_command(spec, split, kind, scale, data_dir)}` (or pass download=True), which "
            f"fetches {urls} and checks it; offline, copy the archive(s) to {archives} first and the same "
            "command extracts them without network access. Or use a copy you already have: root= pointing "
            f"at it (expected {spec.layout[key][0]} under root), or a folder of images instead of the name."
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


def resolve_image_dirs(
    name_or_path: str | os.PathLike | DatasetSpec,
    *,
    split: str | None = None,
    kind: str = "hr",
    scale: int | None = None,
    root: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Path]:
    """The image folder(s) meant by a folder path or a catalogue name: the one rule srlib uses everywhere.

    1. An **existing folder wins** (``~`` expanded) and is returned as is; whoever reads it checks its
       files. ``split``, ``kind``, ``scale`` and ``root`` do not apply to it.
    2. Otherwise ``name_or_path`` is a **catalogue name** (case-insensitive, aliases accepted; or a
       :class:`~srlib.data.catalogue.DatasetSpec`, which is never taken for a folder). It gives the
       folder of ``kind`` images of ``split`` (at ``scale`` for LR), one per component for a union
       (DF2K). ``split=None`` is the dataset's default; ``"test"`` on a set without a test split
       (DIV2K) means its ``"valid"`` split.

       * ``root=`` an existing copy: no network at all. The layout's folders are looked up under
         ``root``; for HR, a ``root`` that directly holds images is accepted too (for a union, ``root``
         holds each component's folder, or is one merged HR folder).
       * otherwise the copy under ``data_dir`` is used when complete; a missing one is downloaded if
         ``download=True``, else FileNotFoundError says how to get it
         (``python -m srlib.data download NAME ...``).
    3. Anything else raises FileNotFoundError naming the path, with close matches for a mistyped name.

    Args:
        name_or_path: a folder, a catalogue name (``"Set5"``, ``"div2k"``) or a DatasetSpec.
        split: ``"train"``, ``"valid"``/``"val"`` or ``"test"``; ``None`` = the dataset's default.
        kind: ``"hr"`` or ``"lr"``.
        scale: LR scale (needed for ``kind="lr"``).
        root: an existing copy of the named dataset.
        data_dir: where downloads live; default :func:`default_data_dir`.
        download: allow downloading what is missing.
        progress: progress bars when downloading.
        timeout: network timeout in seconds.

    Returns:
        Existing folders; those from the catalogue hold at least one image.

    Raises:
        FileNotFoundError: not a folder nor a catalogue name; ``root`` missing or without images; or
            not downloaded and ``download=False`` (the message names the folder, the URL(s), the
            download command and the alternatives).
        ValueError: a split, kind or scale the dataset does not have (the message lists those it has).
        DownloadError: network failure (names the URL and the offline alternative).

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> resolve_image_dirs(folder) == [folder]
        True
        >>> try:
        ...     resolve_image_dirs("Set55")
        ... except FileNotFoundError as err:
        ...     print("Did you mean Set5" in str(err))
        True
    """
    if isinstance(name_or_path, DatasetSpec):
        spec = name_or_path
    else:
        if not os.fspath(name_or_path).strip():
            raise FileNotFoundError(
                "An empty folder/dataset name was given (it would mean the working directory); pass a "
                "folder of images or a catalogue dataset name."
            )
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            return [path]
        spec = _dataset_for(name_or_path, path)
    if kind.lower() not in ("hr", "lr"):
        raise ValueError(f"kind must be 'hr' or 'lr', got {kind!r}.")
    split = _catalogue_split(spec, split)
    root_path = Path(root).expanduser() if root is not None else None
    common = {"download": download, "progress": progress, "timeout": timeout}
    common["data_dir"] = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if not spec.is_union:
        return [_catalogue_folder(spec, split, kind, scale, root=root_path, **common)]
    if root_path is not None and kind.lower() == "hr" and _has_images(root_path):
        return [root_path]  # a merged folder of the union's HR images
    out = []
    for comp in spec.component_splits[split]:
        comp_spec = get_dataset(comp)
        comp_root = None if root_path is None else root_path / comp_spec.folder
        out.append(_catalogue_folder(comp_spec, split, kind, scale, root=comp_root, **common))
    return out


def resolve_image_dir(
    name_or_path: str | os.PathLike | DatasetSpec,
    *,
    split: str | None = None,
    kind: str = "hr",
    scale: int | None = None,
    root: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """:func:`resolve_image_dirs` where exactly one folder is expected.

    Raises:
        ValueError: the name resolves to several folders (a union such as DF2K's training split);
            and everything :func:`resolve_image_dirs` raises.

    Example:
        >>> import pathlib
        >>> shared = pathlib.Path("../shared/data/Set5")
        >>> not shared.is_dir() or resolve_image_dir("Set5", root=shared) == shared
        True
    """
    folders = resolve_image_dirs(
        name_or_path,
        split=split,
        kind=kind,
        scale=scale,
        root=root,
        data_dir=data_dir,
        download=download,
        progress=progress,
        timeout=timeout,
    )
    if len(folders) != 1:
        name = name_or_path.name if isinstance(name_or_path, DatasetSpec) else os.fspath(name_or_path)
        raise ValueError(
            f"{name} ({split or 'default split'}) spans {len(folders)} folders "
            f"({', '.join(map(str, folders))}); pass a single folder or dataset here."
        )
    return folders[0]


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
    """:func:`resolve_image_dir` for a catalogue name only (never taken for a folder path).

    Kept for existing code; new code calls :func:`resolve_image_dir`, which also accepts folders.

    Raises:
        ValueError: unknown name (with close matches), or a union dataset (use
            :func:`resolve_dataset_dirs`); and everything :func:`resolve_image_dirs` raises.

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
    return resolve_image_dir(
        spec,
        split=split,
        kind=kind,
        scale=scale,
        root=root,
        data_dir=data_dir,
        download=download,
        progress=progress,
        timeout=timeout,
    )


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
    """:func:`resolve_image_dirs` for a catalogue name only (never taken for a folder path).

    Kept for existing code; new code calls :func:`resolve_image_dirs`, which also accepts folders.

    Raises:
        ValueError: unknown name (with close matches); and everything :func:`resolve_image_dirs` raises.
    """
    return resolve_image_dirs(
        get_dataset(name),
        split=split,
        kind=kind,
        scale=scale,
        root=root,
        data_dir=data_dir,
        download=download,
        progress=progress,
        timeout=timeout,
    )
