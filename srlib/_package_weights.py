"""Weights that ship inside the srlib package, readable offline.

Each shipped network is two files in ``srlib/weights/``: ``NAME.safetensors`` and its card ``NAME.json``.
The card says what the file is (``kind``, ``arch``, ``scale``, ``tag``, ``sha256``) and how it was made
and scored (recipe, command, data, minutes, machine, scores). There is no shared index to edit: adding a
weight file means adding its card beside it. This module only finds and verifies files; building the
network is the job of the package that owns the architecture (``srlib.models``, ``srlib.detect``).

Example:
    >>> all(entry.file.name.endswith(".safetensors") for entry in list_packaged())
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).parent / "weights"
_CARD_KEYS = ("kind", "arch", "file", "sha256")


class PackagedWeightsError(ValueError):
    """A shipped weight file is missing, damaged or not there for the asked architecture/scale/tag."""


@dataclass(frozen=True)
class PackagedWeights:
    """One shipped weight file and its card."""

    name: str  #: the card's file stem, e.g. ``edsr_baseline_x2``
    kind: str  #: ``"sr"`` or ``"detector"``
    arch: str  #: the registered architecture name
    scale: int | None  #: SR scale; None for a detector
    tag: str | None  #: which weight set of the architecture (e.g. ``"gan"``); None for the default one
    file: Path
    sha256: str
    card: dict[str, Any] = field(repr=False, compare=False)

    def verified_file(self) -> Path:
        """The file's path after checking that it is there and has the card's SHA-256."""
        if not self.file.is_file():
            raise PackagedWeightsError(
                f"the shipped weight file {self.file} is missing: the srlib install is incomplete; "
                "reinstall it (pip install --force-reinstall srlib)"
            )
        digest = _sha256(self.file)
        if digest != self.sha256:
            raise PackagedWeightsError(
                f"the shipped weight file {self.file} is damaged (SHA-256 {digest[:12]}..., its card "
                f"says {self.sha256[:12]}...); reinstall srlib (pip install --force-reinstall srlib)"
            )
        return self.file


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_card(path: Path) -> PackagedWeights:
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise PackagedWeightsError(f"cannot read the weight card {path}: {error}") from error
    missing = [key for key in _CARD_KEYS if not card.get(key)]
    if not isinstance(card, dict) or missing:
        raise PackagedWeightsError(f"the weight card {path} lacks {', '.join(missing) or 'an object'}")
    return PackagedWeights(
        name=path.stem,
        kind=str(card["kind"]),
        arch=str(card["arch"]),
        scale=int(card["scale"]) if card.get("scale") is not None else None,
        tag=card.get("tag"),
        file=path.with_name(card["file"]),
        sha256=str(card["sha256"]),
        card=card,
    )


@lru_cache(maxsize=4)
def _all_cards(directory: Path) -> tuple[PackagedWeights, ...]:
    if not directory.is_dir():
        return ()
    return tuple(_read_card(path) for path in sorted(directory.glob("*.json")))


def list_packaged(kind: str | None = None, arch: str | None = None) -> list[PackagedWeights]:
    """Every shipped weight file (of one ``kind`` / ``arch`` if given), sorted by card name."""
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
        raise PackagedWeightsError(
            f"srlib ships no pretrained weights for {arch!r}; pretrained weights ship for: "
            f"{', '.join(names) or 'none'} (train your own: python -m srlib.train, docs/recipes.md)"
        )
    raise PackagedWeightsError(
        f"srlib ships no pretrained weights for {asked}; for {arch} it ships: {', '.join(shipped)}"
    )


def _describe(entry: PackagedWeights) -> str:
    scale = f" x{entry.scale}" if entry.scale is not None else ""
    tag = f" (pretrained={entry.tag!r})" if entry.tag else ""
    return f"{entry.arch}{scale}{tag}"
