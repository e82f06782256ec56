"""The dataset catalogue: where each standard SR dataset comes from and how its archives are laid out.

Each :class:`DatasetSpec` names the archives (:class:`Resource`: URL, file name, published checksum,
size) and the folders that hold HR images per split and LR images per split and scale, relative to
the dataset's root folder (the folder the archives are extracted into, or a copy the user already
has). :mod:`srlib.data.download` downloads, verifies and extracts them.

Checksums come from published sources, cited next to each value. Where no published checksum could be
found the resource's ``checksum`` is ``None``: it is downloaded anyway when its completeness can be
proven (the ``size`` given here, or the length the server states), a warning says it could not be
verified, and its size and SHA-256 are recorded on first download so a later download that differs
is refused (see :mod:`srlib.data.download`). No value here is made up. URLs use ``https://``.

Layout conventions shared by all entries: an LR file is named after its HR file with ``x{scale}``
appended to the stem (``0001.png`` -> ``0001x2.png``, ``baby.png`` -> ``babyx4.png``), see
:attr:`DatasetSpec.lr_stem_suffix`. Each layout entry lists candidate folders, the first being where
a download puts it; the others accept common ways people store a copy (so ``root=`` may point at the
extracted archive's parent or at the inner folder).

Example:
    >>> spec = get_dataset("div2k")
    >>> spec.name, spec.splits
    ('DIV2K', ('train', 'valid'))
    >>> spec.image_dir("/data/DIV2K", split="valid", kind="lr", scale=4).as_posix()
    '/data/DIV2K/DIV2K_valid_LR_bicubic/X4'
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from srlib._registry import Registry

__all__ = [
    "Checksum",
    "DatasetSpec",
    "Resource",
    "close_matches",
    "get_dataset",
    "layout_key",
    "list_datasets",
    "register_dataset",
]

_HEX = re.compile(r"^[0-9a-f]+$")
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_SPLIT_ALIASES = {"val": "valid", "validation": "valid", "testing": "test", "training": "train"}


@dataclass(frozen=True)
class Checksum:
    """A published digest of a file: a :mod:`hashlib` algorithm name and the lowercase hex value.

    Example:
        >>> Checksum.parse("md5:5D3F39443D5E9489BFF8963F8F26CB03")
        Checksum(algorithm='md5', value='5d3f39443d5e9489bff8963f8f26cb03')
    """

    algorithm: str
    value: str

    def __post_init__(self) -> None:
        algorithm = self.algorithm.lower()
        value = self.value.strip().lower()
        if algorithm not in hashlib.algorithms_guaranteed:
            raise ValueError(
                f"Unknown checksum algorithm {self.algorithm!r}; use one of "
                f"{sorted(hashlib.algorithms_guaranteed)}."
            )
        digest_len = hashlib.new(algorithm).digest_size * 2
        if not _HEX.match(value) or len(value) != digest_len:
            raise ValueError(
                f"Checksum {self.value!r} is not a {algorithm} digest ({digest_len} hex characters expected)."
            )
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "value", value)

    @classmethod
    def parse(cls, text: str | Checksum) -> Checksum:
        """Build from ``"algorithm:hex"`` (or return a :class:`Checksum` unchanged)."""
        if isinstance(text, Checksum):
            return text
        algorithm, sep, value = str(text).partition(":")
        if not sep:
            raise ValueError(f"Checksum {text!r} must look like 'sha256:<hex>' or 'md5:<hex>'.")
        return cls(algorithm, value)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.value}"


@dataclass(frozen=True)
class Resource:
    """One downloadable archive of a dataset.

    Attributes:
        url: canonical download address.
        filename: the archive's file name (``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz``).
        checksum: published digest, or ``None`` when none is published (trust on first use).
        size: size in bytes when published, else ``None``. A download must match it; without a
            checksum it is also what proves a download whole when the server states no length.
        provides: the layout keys (see :func:`layout_key`) whose folders this archive holds.
        source: where the checksum/size were taken from (for people auditing the catalogue).
    """

    url: str
    filename: str
    checksum: Checksum | None
    size: int | None = None
    provides: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if not self.filename.lower().endswith(_ARCHIVE_SUFFIXES):
            raise ValueError(
                f"Resource {self.filename!r} is not a supported archive ({', '.join(_ARCHIVE_SUFFIXES)})."
            )
        if "/" in self.filename or "\\" in self.filename or self.filename in ("", ".", ".."):
            raise ValueError(f"Resource filename {self.filename!r} must be a plain file name.")
        if self.checksum is not None and not isinstance(self.checksum, Checksum):
            object.__setattr__(self, "checksum", Checksum.parse(self.checksum))
        if self.size is not None and self.size <= 0:
            raise ValueError(f"Resource {self.filename!r}: size must be positive, got {self.size}.")
        object.__setattr__(self, "provides", tuple(self.provides))


def layout_key(split: str, kind: str = "hr", scale: int | None = None) -> str:
    """The key of a layout entry: ``"train/hr"`` or ``"valid/lr_x4"``.

    Example:
        >>> layout_key("valid", "lr", 4)
        'valid/lr_x4'
    """
    kind = kind.lower()
    if kind == "hr":
        return f"{split}/hr"
    if kind == "lr":
        if scale is None:
            raise ValueError("kind='lr' needs a scale (e.g. scale=4): LR folders are per scale.")
        return f"{split}/lr_x{int(scale)}"
    raise ValueError(f"kind must be 'hr' or 'lr', got {kind!r}.")


@dataclass(frozen=True)
class DatasetSpec:
    """A catalogue entry.

    Attributes:
        name: canonical name (``"DIV2K"``).
        folder: folder name under the data directory that the archives are extracted into.
        resources: the archives to download.
        layout: ``layout_key -> candidate folders`` relative to the dataset root; the first candidate
            is where the archive puts it.
        components: for a union of other datasets (DF2K), their names; such a spec has no resources
            or layout of its own.
        component_splits: for a union, ``split -> component names`` providing it.
        lr_stem_suffix: appended to an HR file's stem to get its LR file's stem (``{scale}`` is filled).
        description: one line for listings.
        homepage: the dataset's page.
        citation: the paper to cite.
        aliases: other accepted names (case-insensitive).
    """

    name: str
    folder: str
    resources: tuple[Resource, ...] = ()
    layout: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    components: tuple[str, ...] = ()
    component_splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lr_stem_suffix: str = "x{scale}"
    description: str = ""
    homepage: str = ""
    citation: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", tuple(self.resources))
        object.__setattr__(
            self, "layout", MappingProxyType({k: tuple(v) for k, v in dict(self.layout).items()})
        )
        object.__setattr__(
            self,
            "component_splits",
            MappingProxyType({k: tuple(v) for k, v in dict(self.component_splits).items()}),
        )
        if self.components and (self.resources or self.layout):
            raise ValueError(f"Dataset {self.name}: a union of components has no resources/layout itself.")
        for res in self.resources:
            unknown = [k for k in res.provides if k not in self.layout]
            if unknown:
                raise ValueError(
                    f"Dataset {self.name}: {res.filename} provides unknown layout keys {unknown}."
                )
        for key, candidates in self.layout.items():
            if not candidates:
                raise ValueError(f"Dataset {self.name}: layout entry {key!r} lists no folder.")
            for rel in candidates:
                if Path(rel).is_absolute() or ".." in Path(rel).parts:
                    raise ValueError(
                        f"Dataset {self.name}: layout folder {rel!r} must be relative, without '..'."
                    )

    # ------------------------------------------------------------------ queries
    @property
    def is_union(self) -> bool:
        """Whether this entry is a union of other datasets (DF2K)."""
        return bool(self.components)

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this dataset has, in catalogue order."""
        if self.is_union:
            return tuple(self.component_splits)
        seen: dict[str, None] = {}
        for key in self.layout:
            seen.setdefault(key.split("/", 1)[0], None)
        return tuple(seen)

    @property
    def default_split(self) -> str:
        """``"train"`` when the dataset has a training split, else its first split (``"test"``)."""
        return "train" if "train" in self.splits else self.splits[0]

    def scales(self, split: str | None = None) -> tuple[int, ...]:
        """Scales for which the archives ship LR images (empty for HR-only datasets)."""
        if self.is_union:
            raise ValueError(f"{self.name} is a union of {', '.join(self.components)}; ask a component.")
        split = self.normalize_split(split)
        out = []
        for key in self.layout:
            s, _, kind = key.partition("/")
            if s == split and kind.startswith("lr_x"):
                out.append(int(kind[4:]))
        return tuple(sorted(out))

    def normalize_split(self, split: str | None) -> str:
        """Map ``None`` to :attr:`default_split` and ``"val"``/``"validation"`` to ``"valid"``.

        Raises:
            ValueError: the dataset has no such split (the message lists the ones it has).
        """
        if split is None:
            return self.default_split
        split = _SPLIT_ALIASES.get(split.lower(), split.lower())
        if split not in self.splits:
            raise ValueError(f"Dataset {self.name} has no split {split!r}; it has {', '.join(self.splits)}.")
        return split

    def _key(self, split: str | None, kind: str, scale: int | None) -> str:
        split = self.normalize_split(split)
        key = layout_key(split, kind, scale)
        if key not in self.layout:
            if kind.lower() == "lr":
                have = self.scales(split)
                detail = (
                    f"official LR scales: {', '.join(f'x{s}' for s in have)}"
                    if have
                    else "it ships HR images only (make LR on the fly with a degradation)"
                )
                raise ValueError(f"Dataset {self.name} ({split}) has no LR x{scale} folder; {detail}.")
            raise ValueError(f"Dataset {self.name} has no {key!r} folder; it has {', '.join(self.layout)}.")
        return key

    def image_dir(
        self, root: str | os.PathLike, split: str | None = None, kind: str = "hr", scale: int | None = None
    ) -> Path:
        """The folder under ``root`` holding ``kind`` images of ``split`` (at ``scale`` for LR).

        The first candidate folder that exists under ``root`` wins; when none exists, the canonical one
        (where a download puts it) is returned. Nothing is checked beyond existence.

        Args:
            root: the dataset's root folder (what :func:`srlib.data.download.prepare_dataset` returns,
                or a user's copy laid out like the extracted archives).
            split: ``"train"``, ``"valid"`` (``"val"`` accepted) or ``"test"``; ``None`` = the default.
            kind: ``"hr"`` or ``"lr"``.
            scale: the LR scale (needed for ``kind="lr"``).

        Raises:
            ValueError: unknown split/kind/scale (the message lists the valid ones), or a union
                dataset (use :meth:`image_dirs`).

        Example:
            >>> get_dataset("Set5").image_dir("/data/benchmark").as_posix()
            '/data/benchmark/benchmark/Set5/HR'
        """
        if self.is_union:
            raise ValueError(
                f"{self.name} is the union of {' + '.join(self.components)} and has several image folders; "
                "use spec.image_dirs(...) or resolve_dataset_dirs(...)."
            )
        root = Path(root)
        candidates = self.layout[self._key(split, kind, scale)]
        for rel in candidates:
            if (root / rel).is_dir():
                return root / rel
        return root / candidates[0]

    def image_dirs(
        self, root: str | os.PathLike, split: str | None = None, kind: str = "hr", scale: int | None = None
    ) -> list[Path]:
        """Like :meth:`image_dir` but a list; for a union, one folder per component.

        For a union ``root`` is the folder holding each component's own folder (``root/DIV2K``,
        ``root/Flickr2K``: the data directory after a download).
        """
        if not self.is_union:
            return [self.image_dir(root, split, kind, scale)]
        split = self.normalize_split(split)
        out = []
        for comp in self.component_splits[split]:
            spec = get_dataset(comp)
            out.append(spec.image_dir(Path(root) / spec.folder, split, kind, scale))
        return out

    def resources_for(
        self, split: str | None = None, kind: str | None = "hr", scale: int | None = None
    ) -> list[Resource]:
        """The archives providing one folder; ``kind=None`` means every archive of ``split``.

        Raises:
            ValueError: unknown split/kind/scale, or a union dataset (ask each component).
        """
        if self.is_union:
            raise ValueError(f"{self.name} is a union of {', '.join(self.components)}; ask each component.")
        if kind is None:
            split = self.normalize_split(split)
            return [r for r in self.resources if any(k.startswith(split + "/") for k in r.provides)]
        key = self._key(split, kind, scale)
        return [r for r in self.resources if key in r.provides]

    def lr_name(self, hr_name: str, scale: int) -> str:
        """The LR file name matching an HR file name (``"0001.png", 2 -> "0001x2.png"``)."""
        stem, dot, ext = hr_name.rpartition(".")
        if not dot:
            stem, ext = hr_name, ""
        return stem + self.lr_stem_suffix.format(scale=scale) + (dot + ext if dot else "")


# ----------------------------------------------------------------------------- registry
_REGISTRY: Registry[DatasetSpec] = Registry(
    "dataset",
    ignore_case=True,
    aliases=lambda spec: spec.aliases,
    hint="A folder of your own images needs no catalogue entry (use an image-folder DataModule with root=).",
)


def register_dataset(spec: DatasetSpec, *, overwrite: bool = False) -> DatasetSpec:
    """Add a dataset to the catalogue (a mirror of your own, or a new set).

    Raises:
        ValueError: the name (or an alias) is taken and ``overwrite`` is false.
    """
    taken = _REGISTRY.taken(spec.name, *spec.aliases)
    if taken and not overwrite:
        raise ValueError(
            f"Dataset name(s) {sorted(taken)} already registered "
            f"(as {sorted(set(taken.values()))}); pass overwrite=True to replace."
        )
    return _REGISTRY.register(spec.name, spec, overwrite=overwrite)


def list_datasets() -> list[str]:
    """Names of the datasets in the catalogue, sorted case-insensitively.

    Example:
        >>> "DIV2K" in list_datasets() and "Set5" in list_datasets()
        True
    """
    return _REGISTRY.names()


def close_matches(name: str, n: int = 3) -> list[str]:
    """Catalogue names close to a mistyped ``name`` (aliases count; canonical names returned).

    Example:
        >>> close_matches("set15")
        ['Set5', 'Set14']
    """
    return _REGISTRY.close_matches(name, n=n)


def get_dataset(name: str) -> DatasetSpec:
    """The catalogue entry for ``name`` (case-insensitive; aliases such as ``B100`` accepted).

    Raises:
        ValueError: unknown name; the message suggests close matches and lists the catalogue.

    Example:
        >>> get_dataset("b100").name
        'BSD100'
    """
    key = _REGISTRY.canonical(str(name))
    if key is None:
        raise _REGISTRY.unknown(name)
    return _REGISTRY[key]


# ----------------------------------------------------------------------------- the entries
def _benchmark_layout(inner: str, scales: Iterable[int] = (2, 3, 4)) -> dict[str, tuple[str, ...]]:
    layout = {"test/hr": (f"benchmark/{inner}/HR", f"{inner}/HR", "HR")}
    for s in scales:
        layout[f"test/lr_x{s}"] = (
            f"benchmark/{inner}/LR_bicubic/X{s}",
            f"{inner}/LR_bicubic/X{s}",
            f"LR_bicubic/X{s}",
        )
    return layout


# DIV2K archives. Sizes and SHA-256 values: tensorflow/datasets
# tensorflow_datasets/url_checksums/div2k.txt @ 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5
# (the same file also lists the MD5-free "unknown"/"mild"/... tracks, not catalogued here).
# Folder names inside each zip: DIV2K_{split}_HR/0001.png and DIV2K_{split}_LR_bicubic/X{s}/0001x{s}.png
# (tensorflow_datasets/image/div2k.py joins "DIV2K_train_HR"; EDSR's srdata.py reads X{s}/{name}x{s}).
_DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
_DIV2K_SOURCE = "tensorflow/datasets url_checksums/div2k.txt @ 333639b3"
_DIV2K_FILES = {
    # filename: (size, sha256, layout key)
    "DIV2K_train_HR.zip": (
        3530603713,
        "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
        "train/hr",
    ),
    "DIV2K_valid_HR.zip": (
        448993893,
        "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
        "valid/hr",
    ),
    "DIV2K_train_LR_bicubic_X2.zip": (
        925390592,
        "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850",
        "train/lr_x2",
    ),
    "DIV2K_train_LR_bicubic_X3.zip": (
        427847282,
        "ad5c8e5507e2765823d3c2c5bd0934842efcd487c5370604c224090898b3163a",
        "train/lr_x3",
    ),
    "DIV2K_train_LR_bicubic_X4.zip": (
        246914039,
        "f006b837f4eb52b82909aa01478e6d6d199eefce932179491d0c9dbb706dde3a",
        "train/lr_x4",
    ),
    "DIV2K_valid_LR_bicubic_X2.zip": (
        117763600,
        "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57",
        "valid/lr_x2",
    ),
    "DIV2K_valid_LR_bicubic_X3.zip": (
        54513392,
        "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3",
        "valid/lr_x3",
    ),
    "DIV2K_valid_LR_bicubic_X4.zip": (
        31505881,
        "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553",
        "valid/lr_x4",
    ),
}
_DIV2K_LAYOUT: dict[str, tuple[str, ...]] = {}
for _split in ("train", "valid"):
    _DIV2K_LAYOUT[f"{_split}/hr"] = (f"DIV2K_{_split}_HR", f"DIV2K/DIV2K_{_split}_HR")
    for _s in (2, 3, 4):
        _DIV2K_LAYOUT[f"{_split}/lr_x{_s}"] = (
            f"DIV2K_{_split}_LR_bicubic/X{_s}",
            f"DIV2K/DIV2K_{_split}_LR_bicubic/X{_s}",
        )

register_dataset(
    DatasetSpec(
        name="DIV2K",
        folder="DIV2K",
        resources=tuple(
            Resource(
                url=_DIV2K_URL + fname,
                filename=fname,
                checksum=Checksum("sha256", sha),
                size=size,
                provides=(key,),
                source=_DIV2K_SOURCE,
            )
            for fname, (size, sha, key) in _DIV2K_FILES.items()
        ),
        layout=_DIV2K_LAYOUT,
        description="800 train + 100 valid 2K images (NTIRE 2017), official MATLAB-bicubic LR x2/x3/x4",
        homepage="https://data.vision.ee.ethz.ch/cvl/DIV2K/",
        citation="Agustsson & Timofte, NTIRE 2017 Challenge on Single Image Super-Resolution, CVPRW 2017",
    )
)

# Flickr2K, as distributed by the EDSR authors. The MD5 is the one used by Coloquinte/torchSR
# torchsr/datasets/flickr2k.py @ 99674a4460bab19e90dd69efab1d33c9006e9562 and, independently,
# leverxgroup/esrgan esrgan/dataset.py; no size or SHA-256 is published. Inside the tar:
# Flickr2K/Flickr2K_HR/000001.png and Flickr2K/Flickr2K_LR_bicubic/X{s}/000001x{s}.png (torchSR's
# track_dirs; EDSR's data/flickr2k.py).
_FLICKR_LAYOUT: dict[str, tuple[str, ...]] = {"train/hr": ("Flickr2K/Flickr2K_HR", "Flickr2K_HR")}
for _s in (2, 3, 4):
    _FLICKR_LAYOUT[f"train/lr_x{_s}"] = (
        f"Flickr2K/Flickr2K_LR_bicubic/X{_s}",
        f"Flickr2K_LR_bicubic/X{_s}",
    )
register_dataset(
    DatasetSpec(
        name="Flickr2K",
        folder="Flickr2K",
        resources=(
            Resource(
                url="https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",
                filename="Flickr2K.tar",
                checksum=Checksum("md5", "5d3f39443d5e9489bff8963f8f26cb03"),
                size=None,
                provides=tuple(_FLICKR_LAYOUT),
                source="Coloquinte/torchSR torchsr/datasets/flickr2k.py @ 99674a44; leverxgroup/esrgan",
            ),
        ),
        layout=_FLICKR_LAYOUT,
        description="2650 2K Flickr images collected by the EDSR authors (one tar with HR and LR x2/x3/x4)",
        homepage="https://github.com/LimBee/NTIRE2017",
        citation="Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017",
    )
)

# DF2K = DIV2K (train 800) + Flickr2K (2650) for training; validation on DIV2K valid.
register_dataset(
    DatasetSpec(
        name="DF2K",
        folder="",
        components=("DIV2K", "Flickr2K"),
        component_splits={"train": ("DIV2K", "Flickr2K"), "valid": ("DIV2K",)},
        description="DIV2K train + Flickr2K (3450 images); the valid split is DIV2K valid",
        homepage="https://github.com/xinntao/BasicSR/blob/master/docs/DatasetPreparation.md",
        citation="DIV2K (Agustsson & Timofte 2017) and Flickr2K (Lim et al. 2017)",
    )
)

# Set5 / Set14 / BSD100 (B100) / Urban100 come from one archive, EDSR's benchmark.tar:
# benchmark/{Set5,Set14,B100,Urban100}/HR/<name>.png and .../LR_bicubic/X{s}/<name>x{s}.png.
# SHA-256 and size (250,112,000 bytes): YeapJieShen/single-image-super-resolution
# tests/utils/test_imresize.py @ 21648557c9ceecb132070eda19b8851f670550ce. Independent cross-check:
# Coloquinte/torchSR torchsr/datasets/benchmarks.py @ 99674a44 lists md5 4ace41d33c2384b97e6b320cd0afd6ba.
_BENCHMARK = Resource(
    url="https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
    filename="benchmark.tar",
    checksum=Checksum("sha256", "80c21c333bbf6ceb5308b7243761f8284478274413a97b96f1d63e9045fd93e8"),
    size=250112000,
    provides=tuple(_benchmark_layout("Set5")),
    source="YeapJieShen/single-image-super-resolution tests/utils/test_imresize.py @ 21648557",
)
for _name, _inner, _desc, _cite, _aliases in (
    (
        "Set5",
        "Set5",
        "5 test images",
        "Bevilacqua et al., BMVC 2012",
        (),
    ),
    (
        "Set14",
        "Set14",
        "14 test images",
        "Zeyde et al., Curves and Surfaces 2010",
        (),
    ),
    (
        "BSD100",
        "B100",
        "100 test images from the Berkeley segmentation set",
        "Martin et al., ICCV 2001",
        ("B100", "BSDS100"),
    ),
    (
        "Urban100",
        "Urban100",
        "100 urban scenes with regular structures",
        "Huang et al., Single Image Super-resolution from Transformed Self-Exemplars, CVPR 2015",
        ("U100",),
    ),
):
    register_dataset(
        DatasetSpec(
            name=_name,
            folder="benchmark",  # the four share one download and one extracted folder
            resources=(_BENCHMARK,),
            layout=_benchmark_layout(_inner),
            description=f"{_desc}; HR and MATLAB-bicubic LR x2/x3/x4 from EDSR's benchmark.tar",
            homepage="https://github.com/sanghyun-son/EDSR-PyTorch",
            citation=_cite,
            aliases=_aliases,
        )
    )

# T91 via LapSRN's SR_training_datasets.zip (top-level folders T91/, General100/, BSDS200/).
# No published checksum or size was found for this archive: checksum=None and size=None (trust on
# first use, see srlib.data.download; a server that states no Content-Length is refused). The path is
# the one LapSRN's project page and many SR repositories link (over http://); the host serves https
# too (the same author's video_consistency data is fetched from https://vllab.ucmerced.edu/wlai24/),
# so the https address is used. A copy recorded under the http:// address is still recognised.
register_dataset(
    DatasetSpec(
        name="T91",
        folder="SR_training_datasets",
        resources=(
            Resource(
                url="https://vllab.ucmerced.edu/wlai24/LapSRN/results/SR_training_datasets.zip",
                filename="SR_training_datasets.zip",
                checksum=None,
                size=None,
                provides=("train/hr",),
                source="no published checksum found (LapSRN project page links the archive)",
            ),
        ),
        layout={"train/hr": ("T91", "SR_training_datasets/T91")},
        description="91 small training images (SRCNN's training set); HR only",
        homepage="https://vllab.ucmerced.edu/wlai24/LapSRN/",
        citation="Yang et al., Image Super-Resolution via Sparse Representation, IEEE TIP 2010",
        aliases=("Yang91", "91-image"),
    )
)
