"""Weights that ship inside the srlib package, readable offline.

Each shipped network is a card ``srlib/weights/NAME.json`` and its weights: ``NAME.safetensors``, or
shards ``NAME-00001-of-0000N.safetensors`` of at most :data:`MAX_SHARD_BYTES` each (the repository keeps
no file over 2 MB). The card says what the weights are (``kind``, ``arch``, ``scale``, ``tag``, and
``files``: each shard's name and SHA-256) and how they were made and scored (recipe, command, data,
minutes, machine, scores). There is no shared index to edit: adding weights means adding their card.
This module finds, verifies, reads and writes the files; building the network is the job of the
package that owns the architecture (``srlib.models``, ``srlib.detect``).

The cards are read as a whole and trusted only whole: a card that cannot be read, lacks a field
(``files`` entries need ``file`` and ``sha256``), duplicates another card's kind/arch/scale/tag, or a
weight file that no card lists (its card was lost) is a :class:`PackagedWeightsError` naming the
file and the fix, for every lookup. Only :class:`NoPackagedWeightsError` ("none ship for that") lets
a caller build a network untrained, so a broken install never turns into random weights.

Example:
    >>> all(f.stat().st_size <= MAX_SHARD_BYTES for entry in list_packaged() for f in entry.files)
    True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srlib._fs import atomic_write

if TYPE_CHECKING:
    from torch import Tensor

WEIGHTS_DIR = Path(__file__).parent / "weights"
#: The largest shard written (bytes): files in the repository stay under 2 MB.
MAX_SHARD_BYTES = 1_900_000
_CARD_KEYS = ("kind", "arch", "files")


class PackagedWeightsError(ValueError):
    """A shipped weight file or card is missing, damaged or not there for the asked architecture/scale/tag."""


class NoPackagedWeightsError(PackagedWeightsError):
    """srlib ships no weights for the asked architecture/scale/tag (every card is readable and sound)."""


@dataclass(frozen=True)
class PackagedWeights:
    """One shipped set of weights (one file or several shards) and its card."""

    name: str  #: the card's file stem, e.g. ``edsr_baseline_x2``
    kind: str  #: ``"sr"`` or ``"detector"``
    arch: str  #: the registered architecture name
    scale: int | None  #: SR scale; None for a detector
    tag: str | None  #: which weight set of the architecture (e.g. ``"gan"``); None for the default one
    files: tuple[Path, ...]  #: the file, or its shards in order
    sha256: tuple[str, ...]  #: one digest per file
    card: dict[str, Any] = field(repr=False, compare=False)

    def verified_files(self) -> tuple[Path, ...]:
        """The files' paths after checking that each is there and has the card's SHA-256."""
        for file, expected in zip(self.files, self.sha256, strict=True):
            if not file.is_file():
                raise PackagedWeightsError(
                    f"the shipped weight file {file} is missing: the srlib install is incomplete; "
                    "reinstall it (pip install --force-reinstall srlib)"
                )
            digest = _sha256(file)
            if digest != expected:
                raise PackagedWeightsError(
                    f"the shipped weight file {file} is damaged (SHA-256 {digest[:12]}..., its card "
                    f"says {expected[:12]}...); reinstall srlib (pip install --force-reinstall srlib)"
                )
        return self.files

    def read(self) -> tuple[dict[str, Tensor], dict[str, str]]:
        """The verified tensors of every shard, merged, and the metadata the shards share."""
        from safetensors import safe_open

        state: dict[str, Tensor] = {}
        metadata: dict[str, str] | None = None
        for file in self.verified_files():
            with safe_open(str(file), framework="pt") as shard:
                if metadata is not None and (shard.metadata() or {}) != metadata:
                    raise PackagedWeightsError(f"the shards of {self.name} disagree; reinstall srlib")
                metadata = shard.metadata() or {}
                state.update({key: shard.get_tensor(key) for key in shard.keys()})  # noqa: SIM118
        return state, metadata or {}


def write_packaged(
    state: Mapping[str, Tensor], metadata: Mapping[str, str], name: str, directory: Path = WEIGHTS_DIR
) -> list[dict[str, str]]:
    """Write ``state`` as ``NAME.safetensors``, or as shards of at most :data:`MAX_SHARD_BYTES`.

    Every shard carries the same ``metadata``. Returns the card's ``files`` list (name and SHA-256).
    """
    from safetensors.torch import save

    groups: list[dict[str, Tensor]] = [{}]
    size = 0
    for key in sorted(state):
        tensor = state[key].contiguous()
        nbytes = tensor.numel() * tensor.element_size()
        if groups[-1] and size + nbytes > MAX_SHARD_BYTES - 64_000:  # room for the header
            groups.append({})
            size = 0
        groups[-1][key], size = tensor, size + nbytes
    names = (
        [f"{name}.safetensors"]
        if len(groups) == 1
        else [f"{name}-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    )
    files = []
    for file, group in zip(names, groups, strict=True):
        payload = save(group, metadata=dict(metadata))
        if len(payload) > MAX_SHARD_BYTES:
            raise ValueError(f"one tensor of {name} alone exceeds {MAX_SHARD_BYTES} bytes")
        atomic_write(directory / file, lambda stream, data=payload: stream.write(data))
        files.append({"file": file, "sha256": hashlib.sha256(payload).hexdigest()})
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_REINSTALL = "reinstall srlib (pip install --force-reinstall srlib)"
_SHARD = re.compile(r"^(?P<name>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.safetensors$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _broken(path: Path, problem: str) -> PackagedWeightsError:
    return PackagedWeightsError(
        f"the weight card {path} is broken: {problem}; {_REINSTALL}, or fix or remove that card if you "
        "added it yourself (no shipped weights are used while a card is broken)"
    )


def _card_problem(card: Any) -> str | None:
    """What is wrong with a parsed card, or ``None``."""
    if not isinstance(card, dict):
        return f"it holds a JSON {type(card).__name__}, not an object"
    missing = [key for key in _CARD_KEYS if not card.get(key)]
    if missing:
        return f"it lacks {', '.join(missing)}"
    if card["kind"] not in ("sr", "detector"):
        return f"'kind' is {card['kind']!r}, not 'sr' or 'detector'"
    if not isinstance(card["arch"], str):
        return f"'arch' is {card['arch']!r}, not a name"
    scale = card.get("scale")
    if card["kind"] == "sr" and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        return f"'scale' is {scale!r}, not a whole number of at least 1"
    tag = card.get("tag")
    if tag is not None and (not isinstance(tag, str) or not tag):
        return f"'tag' is {tag!r}, not a name or null"
    if not isinstance(card["files"], list):
        return "'files' is not a list"
    for number, item in enumerate(card["files"], 1):
        if not isinstance(item, dict) or not isinstance(item.get("file"), str) or not item.get("file"):
            return f"entry {number} of 'files' has no 'file' name"
        name = item["file"]
        if (
            Path(name).name != name
            or "\\" in name
            or name.startswith(".")
            or not name.endswith(".safetensors")
        ):
            return f"entry {number} of 'files' names {name!r}, not a .safetensors file beside the card"
        if not isinstance(item.get("sha256"), str) or not _SHA256.match(item["sha256"]):
            return f"entry {number} of 'files' ({name}) has no valid 'sha256' (64 lower-case hex digits)"
    return None


def _read_card(path: Path) -> PackagedWeights:
    """One card, fully checked: anything wrong is a :class:`PackagedWeightsError` naming the card."""
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _broken(path, f"it cannot be read as JSON ({error})") from error
    problem = _card_problem(card)
    if problem is not None:
        raise _broken(path, problem)
    return PackagedWeights(
        name=path.stem,
        kind=str(card["kind"]),
        arch=str(card["arch"]),
        scale=int(card["scale"]) if card.get("scale") is not None else None,
        tag=card.get("tag"),
        files=tuple(path.with_name(item["file"]) for item in card["files"]),
        sha256=tuple(str(item["sha256"]) for item in card["files"]),
        card=card,
    )


@lru_cache(maxsize=4)
def _all_cards(directory: Path) -> tuple[PackagedWeights, ...]:
    """Every card of ``directory``, checked as a whole; any problem is an error, never a smaller list.

    A broken or unreadable card, two cards for the same kind/architecture/scale/tag, or a weight file
    that no card describes (its card is missing) raises :class:`PackagedWeightsError` naming the
    file(s) and the fix: leaving the entry out would make a name that has shipped weights look as if
    it had none, and be built with random weights.
    """
    if not directory.is_dir():
        raise PackagedWeightsError(
            f"srlib's weight folder {directory} is missing: the install is incomplete; {_REINSTALL}"
        )
    entries = tuple(_read_card(path) for path in sorted(directory.glob("*.json")))
    owners: dict[tuple[Any, ...], PackagedWeights] = {}
    for entry in entries:
        key = (entry.kind, entry.arch, entry.scale, entry.tag)
        if key in owners:
            first, second = (directory / f"{e.name}.json" for e in (owners[key], entry))
            raise PackagedWeightsError(
                f"the weight cards {first} and {second} both describe {_describe(entry)} ({entry.kind}): "
                f"{_REINSTALL}, or remove the one you added"
            )
        owners[key] = entry
    described = {file.name for entry in entries for file in entry.files}
    for file in sorted(directory.glob("*.safetensors")):
        if file.name not in described and not file.name.startswith("."):
            shard = _SHARD.match(file.name)
            card = f"{shard['name'] if shard else file.stem}.json"
            raise PackagedWeightsError(
                f"the shipped weight file {file} has no weight card ({directory / card} is missing or does "
                f"not list it): {_REINSTALL}"
            )
    return entries


def list_packaged(kind: str | None = None, arch: str | None = None) -> list[PackagedWeights]:
    """Every shipped weight file (of one ``kind`` / ``arch`` if given), sorted by card name.

    Raises:
        PackagedWeightsError: a card is broken, unreadable or duplicated, a weight file has no card, or
            the weight folder is missing (the error names the file and the fix).
    """
    return [
        entry
        for entry in _all_cards(WEIGHTS_DIR)
        if (kind is None or entry.kind == kind) and (arch is None or entry.arch == arch)
    ]


def find_packaged(
    kind: str, arch: str, *, scale: int | None = None, tag: str | bool | None = None
) -> PackagedWeights:
    """The shipped weights of ``arch`` at ``scale``: ``tag=None``/``True`` the default set, else that tag.

    The default set is the one without a tag: a tagged set (``gan``) is only ever picked by its tag.
    Anything else is an error that lists what ships for ``arch``.

    Raises:
        NoPackagedWeightsError: none ship for ``arch`` / ``scale`` / ``tag`` (the only case where a
            caller may build the network untrained instead).
        PackagedWeightsError: a card is broken, missing or duplicated (see :func:`list_packaged`).
    """
    entries = [e for e in list_packaged(kind, arch) if scale is None or e.scale == scale]
    wanted = None if tag in (None, True) else str(tag)
    if wanted is None:
        matches = [e for e in entries if e.tag is None]
    else:
        matches = [e for e in entries if e.tag == wanted]
    if len(matches) == 1:
        return matches[0]
    shipped = [_describe(e) for e in list_packaged(kind, arch)]
    asked = f"{arch}" + (f" x{scale}" if scale is not None else "") + (f" tag {wanted!r}" if wanted else "")
    if not shipped:
        names = sorted({e.arch for e in list_packaged(kind)})
        raise NoPackagedWeightsError(
            f"srlib ships no pretrained weights for {arch!r}; pretrained weights ship for: "
            f"{', '.join(names) or 'none'} (train your own: python -m srlib.train, docs/recipes.md)"
        )
    raise NoPackagedWeightsError(
        f"srlib ships no pretrained weights for {asked}; for {arch} it ships: {', '.join(shipped)}"
    )


def _describe(entry: PackagedWeights) -> str:
    scale = f" x{entry.scale}" if entry.scale is not None else ""
    tag = f" (pretrained={entry.tag!r})" if entry.tag else ""
    return f"{entry.arch}{scale}{tag}"
