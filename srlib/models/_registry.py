"""The zoo's registries: SR networks and GAN discriminators, each entry self-contained.

Every network is a plain ``nn.Module`` class with a keyword-only ``__init__`` and one or more
registered *entrypoints*: small functions whose return annotation names the class and whose
keyword defaults fix one configuration (``hat_s`` and ``hat`` share a class, for example)::

    @register_model(scales=(2, 3, 4), paper="Kim et al., CVPR 2016", detector=_detect)
    def vdsr(**kwargs) -> VDSR:
        return VDSR(**kwargs)

An entry carries everything tools need without importing the architecture again: its ``kind``
(``"sr"`` or ``"discriminator"``), the checkpoint ``detector`` and the names it must be tried
``detect_before``, its weight ``tags`` (timm style: ``minisrresnet.gan``), the key mapping for
foreign checkpoints and the :class:`ModelInfo` flags, among them whether the network works across
time (``frames`` input frames per output frame for a sliding window, ``recurrent`` for a carried
state; :func:`is_temporal`).

The entries live in two :class:`srlib._registry.Registry` objects (``"model"`` and
``"discriminator"``: their own listings and messages) that share one namespace, so a name means one
network. This module imports no architecture: the package ``__init__`` (the composition root) imports
the model files, whose decorators fill the registries.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from srlib._registry import Registry, check_kwargs, match_names, valid_kwargs

__all__ = [
    "Detector",
    "ModelEntry",
    "ModelInfo",
    "WeightTag",
    "create_discriminator",
    "create_model",
    "detection_order",
    "get_discriminator_entry",
    "get_model_entry",
    "is_temporal",
    "list_discriminators",
    "list_models",
    "model_info",
    "register_detector",
    "register_discriminator",
    "register_model",
]

Kind = Literal["sr", "discriminator"]
#: ``fn(state_dict) -> kwargs | None``: the keyword arguments inferred from tensor shapes when the
#: keys are the entry's architecture, else ``None``.
Detector = Callable[[Mapping[str, torch.Tensor]], "dict[str, Any] | None"]


@dataclass(frozen=True)
class WeightTag:
    """One set of weights of an architecture (``minisrresnet.gan``): same network, other training.

    Attributes:
        name: the tag (``"gan"``); ``create_model("arch.tag")`` selects it.
        description: how those weights were trained.
        alias: an older flat model name that means ``arch.tag`` (``"minisrgan"``).
    """

    name: str
    description: str = ""
    alias: str | None = None


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one entrypoint before any network is built."""

    name: str
    fn: Callable[..., nn.Module]
    cls: type[nn.Module]
    kind: Kind = "sr"
    scales: tuple[int, ...] = ()
    default_scale: int | None = None
    paper: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    size_multiple: int = 1
    supports_tiling: bool = True
    supports_half: bool = True
    checkpoint_filter_fn: Callable[[dict, nn.Module], dict] | None = None
    detector: Detector | None = None
    detect_before: tuple[str, ...] = ()
    tags: tuple[WeightTag, ...] = ()
    any_scale_weights: bool = False
    frames: int = 1
    recurrent: bool = False

    def valid_kwargs(self) -> list[str]:
        """Keyword arguments accepted by the class (``scale`` among them for SR networks)."""
        return valid_kwargs(self.cls)

    def tag(self, name: str) -> WeightTag:
        """The weight tag ``name``; an unknown tag raises with the known ones."""
        for tag in self.tags:
            if tag.name == name:
                return tag
        known = [t.name for t in self.tags]
        raise ValueError(
            f"Model {self.name!r} has no weight tag {name!r}; its tags: {known or 'none'} "
            f"(use {self.name!r} or {self.name}.TAG)."
        )


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a model a user or a tool (tiling, precision, checkpoints) needs.

    Attributes:
        name: registered name.
        scale: upscaling factor of this instance (the default scale when built from a name).
        scales: scales the architecture supports.
        in_channels: channels of the public contract (always 3: RGB in [0, 1]).
        size_multiple: the input height/width the network needs to be a multiple of
            (1 when it pads internally).
        supports_tiling: whether tiles can be processed independently (no global statistics).
        supports_half: whether bf16/fp16 inference is numerically safe.
        params: number of unique trainable parameters (``None`` for a name only).
        paper: the citation.
        tag: the weight tag (``"gan"`` for ``minisrresnet.gan``), ``None`` for the plain name.
        frames: input frames per output frame: ``2k+1`` for a sliding-window video model (its
            ``radius`` is ``k``), 1 for image models and recurrent ones.
        recurrent: whether the model carries a state from frame to frame (``init_state``/``step``).

    A model is *temporal* (takes ``(B, T, 3, h, w)`` clips, not images) when ``frames > 1`` or
    ``recurrent``: see :func:`is_temporal`.
    """

    name: str
    scale: int
    scales: tuple[int, ...]
    in_channels: int
    size_multiple: int
    supports_tiling: bool
    supports_half: bool
    params: int | None
    paper: str
    tag: str | None = None
    frames: int = 1
    recurrent: bool = False

    @property
    def temporal(self) -> bool:
        """Whether the model works on clips (``frames > 1`` or ``recurrent``)."""
        return self.frames > 1 or self.recurrent


def _tag_aliases(entry: ModelEntry) -> tuple[str, ...]:
    """The flat legacy names of an entry's weight tags (``"minisrgan"`` for ``minisrresnet.gan``)."""
    return tuple(tag.alias for tag in entry.tags if tag.alias)


_MODELS: Registry[ModelEntry] = Registry(
    "model", lister="srlib.list_models()", aliases=_tag_aliases, cutoff=0.5
)
_DISCRIMINATORS: Registry[ModelEntry] = Registry(
    "discriminator", lister="srlib.models.list_discriminators()", cutoff=0.5
)


def _registry_of(kind: Kind) -> Registry[ModelEntry]:
    return _MODELS if kind == "sr" else _DISCRIMINATORS


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    kind: Kind = "sr",
    scales: Iterable[int] = (2, 3, 4),
    default_scale: int | None = None,
    paper: str = "",
    size_multiple: int = 1,
    supports_tiling: bool = True,
    supports_half: bool = True,
    checkpoint_filter_fn: Callable[[dict, nn.Module], dict] | None = None,
    detector: Detector | None = None,
    detect_before: Iterable[str] = (),
    tags: Iterable[WeightTag] = (),
    any_scale_weights: bool = False,
    frames: int = 1,
    recurrent: bool = False,
) -> Any:
    """Register an entrypoint function (usable as ``@register_model`` or ``@register_model(...)``).

    The entrypoint's return annotation must be the network class; its keyword defaults (if any)
    are the configuration it stands for. Its docstring's first line becomes the description.
    ``detector`` recognises foreign checkpoints of this entry; ``detect_before`` names entries whose
    detectors would also accept them and must therefore be tried after this one. A video model declares
    ``frames`` (``2k+1`` input frames per output frame for a sliding window, the default
    configuration's) or ``recurrent=True`` (a state carried between frames).
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1 or frames % 2 == 0:
        raise ValueError(f"register_model frames must be an odd positive integer (2k+1), got {frames!r}.")

    def wrap(func: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        cls, defaults, description = inspect_entrypoint(func)
        scale_tuple = tuple(sorted(int(s) for s in scales)) if kind == "sr" else ()
        default = None
        if scale_tuple:
            default = default_scale or defaults.get("scale", scale_tuple[-1])
        entry = ModelEntry(
            name=func.__name__,
            fn=func,
            cls=cls,
            kind=kind,
            scales=scale_tuple,
            default_scale=default,
            paper=paper,
            description=description,
            defaults=defaults,
            size_multiple=size_multiple,
            supports_tiling=supports_tiling,
            supports_half=supports_half,
            checkpoint_filter_fn=checkpoint_filter_fn,
            detector=detector,
            detect_before=tuple(detect_before),
            tags=tuple(tags),
            any_scale_weights=any_scale_weights,
            frames=frames,
            recurrent=bool(recurrent),
        )
        _add(entry)
        return func

    return wrap(fn) if fn is not None else wrap


def register_discriminator(fn: Callable[..., nn.Module] | None = None, *, paper: str = "") -> Any:
    """``register_model(kind="discriminator")``: a GAN discriminator entry (no scale)."""
    return register_model(fn, kind="discriminator", paper=paper)


def register_detector(name: str, *, before: Iterable[str] = ()) -> Callable[[Detector], Detector]:
    """Attach a checkpoint detector to the already registered entry ``name`` (for user models).

    Zoo files pass ``detector=`` to :func:`register_model` instead.
    """

    def wrap(fn: Detector) -> Detector:
        entry = _entry(name)
        _registry_of(entry.kind)[name] = dataclasses.replace(entry, detector=fn, detect_before=tuple(before))
        return fn

    return wrap


def _add(entry: ModelEntry) -> None:
    """Register ``entry`` in its kind's registry; a name the other kind holds is refused as well."""
    own, other = (_MODELS, _DISCRIMINATORS) if entry.kind == "sr" else (_DISCRIMINATORS, _MODELS)
    taken = other.taken(entry.name, *_tag_aliases(entry))
    if taken:
        raise ValueError(
            f"{own.kind} {entry.name!r}: name(s) {sorted(taken)} already registered as the {other.kind}(s) "
            f"{sorted(set(taken.values()))} (models and discriminators share one namespace)."
        )
    own.register(entry.name, entry)


def _capture_config(cls: type[nn.Module]) -> None:
    """Wrap ``cls.__init__`` once so every instance records its full keyword config.

    ``save_model`` writes that config into the checkpoint, so a model built directly from its class
    (not through ``create_model``) can be rebuilt too.
    """
    init = cls.__init__
    if getattr(init, "_srlib_captures_config", False):
        return
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self) is cls:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            self.srlib_config = {k: v for k, v in bound.arguments.items() if k != "self"}

    __init__._srlib_captures_config = True  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[method-assign]


def inspect_entrypoint(func: Callable[..., nn.Module]) -> tuple[type[nn.Module], dict[str, Any], str]:
    """Class (the return annotation), keyword defaults and first doc line of an entrypoint.

    Also prepares the class to record its config (see :func:`_capture_config`).
    """
    cls = typing.get_type_hints(func, globalns=func.__globals__).get("return")
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise TypeError(f"entrypoint {func.__name__} needs a return annotation naming its nn.Module class")
    _capture_config(cls)
    defaults = {
        n: p.default
        for n, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    doc = (func.__doc__ or "").strip().splitlines()
    return cls, defaults, doc[0] if doc else ""


def _entry(name: str) -> ModelEntry:
    for registry in (_MODELS, _DISCRIMINATORS):
        if name in registry:
            return registry[name]
    raise _MODELS.unknown(name)


def split_name(name: str) -> tuple[str, str | None]:
    """``"arch.tag"`` or a legacy alias -> ``(arch, tag)``; a plain name -> ``(name, None)``."""
    arch = _MODELS.canonical(name)
    if arch is not None and arch != name:  # the flat alias of one weight tag
        return arch, next(tag.name for tag in _MODELS[arch].tags if tag.alias == name)
    arch, dot, tag = name.partition(".")
    return (arch, tag) if dot else (name, None)


def get_model_entry(name: str) -> ModelEntry:
    """The SR registry entry for ``name`` (``arch``, ``arch.tag`` or an alias).

    Raises:
        ValueError: unknown name (with close matches), an unknown tag, or a discriminator's name.
    """
    arch, tag = split_name(name)
    if arch in _DISCRIMINATORS:
        raise ValueError(
            f"{name!r} is a discriminator, not an SR model: build it with "
            f"srlib.models.create_discriminator({name!r})."
        )
    entry = _MODELS.get(arch)
    if entry is None:
        raise _MODELS.unknown(name)
    if tag is not None:
        entry.tag(tag)
    return entry


def get_discriminator_entry(name: str) -> ModelEntry:
    """The discriminator entry for ``name``; an unknown name raises with the closest matches."""
    return _DISCRIMINATORS.lookup(name)


def list_models(filter: str = "", scale: int | None = None, *, tags: bool = False) -> list[str]:
    """Names of registered SR models, sorted.

    Args:
        filter: shell-style pattern (``"vdsr*"``); a plain word matches as a substring.
        scale: keep only models supporting this scale.
        tags: list ``arch.tag`` for every weight tag as well.

    Example:
        >>> "vdsr" in list_models("vdsr*")
        True
        >>> list_models("minisrresnet", tags=True)
        ['minisrresnet', 'minisrresnet.gan', 'minisrresnet.l2']
    """
    entries = list(_MODELS.values())
    if scale is not None:
        entries = [e for e in entries if int(scale) in e.scales]
    names = [e.name for e in entries]
    if tags:
        names += [f"{e.name}.{t.name}" for e in entries for t in e.tags]
    return match_names(names, filter)


def list_discriminators(filter: str = "") -> list[str]:
    """Names of registered discriminators, sorted.

    Args:
        filter: shell-style pattern (``"vgg*"``); a plain word matches as a substring.

    Example:
        >>> list_discriminators("unet")
        ['unet_discriminator']
    """
    return _DISCRIMINATORS.names(filter)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered SR model.

    Args:
        name: a name from :func:`list_models`, optionally with a weight tag (``"minisrresnet.gan"``).
        **kwargs: keyword arguments of the model class (``scale`` among them).

    Raises:
        ValueError: unknown name (with close matches), unknown keyword (with the valid ones),
            or an unsupported scale (with the supported ones).

    Example:
        >>> net = create_model("bicubic", scale=2)
        >>> tuple(net(torch.rand(1, 3, 8, 8)).shape)
        (1, 3, 16, 16)
    """
    entry = get_model_entry(name)
    check_kwargs(entry.cls, kwargs, what=f"Model {entry.name!r}")
    scale = int(kwargs.get("scale", entry.default_scale))
    if scale not in entry.scales:
        raise ValueError(
            f"Model {entry.name!r} does not support scale {scale}; supported scales: {list(entry.scales)}."
        )
    model = entry.fn(**{**entry.defaults, **kwargs, "scale": scale})
    model.srlib_arch = entry.name  # type: ignore[assignment]
    model.srlib_tag = split_name(name)[1]  # type: ignore[assignment]
    return model


def create_discriminator(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered discriminator.

    Args:
        name: a name from :func:`list_discriminators`.
        **kwargs: keyword arguments of the discriminator class.

    Raises:
        ValueError: unknown name (with close matches) or unknown keyword (with the valid ones).

    Example:
        >>> d = create_discriminator("unet_discriminator", num_feat=8)
        >>> tuple(d(torch.rand(2, 3, 16, 16)).shape)
        (2, 1, 16, 16)
    """
    entry = get_discriminator_entry(name)
    check_kwargs(entry.cls, kwargs, what=f"Discriminator {entry.name!r}")
    model = entry.fn(**{**entry.defaults, **kwargs})
    model.srlib_arch = name  # type: ignore[assignment]
    return model


def model_info(model_or_name: nn.Module | str) -> ModelInfo:
    """Describe a model instance or a registered name (see :class:`ModelInfo`).

    Example:
        >>> model_info("vdsr").params is None
        True
    """
    if isinstance(model_or_name, str):
        entry, scale, params = get_model_entry(model_or_name), None, None
        tag, frames = split_name(model_or_name)[1], entry.frames
    else:
        entry = get_model_entry(registered_name(model_or_name))
        scale = getattr(model_or_name, "scale", None)
        unique = {id(p): p.numel() for p in model_or_name.parameters()}
        params, tag = sum(unique.values()), getattr(model_or_name, "srlib_tag", None)
        # A sliding-window instance built with another radius than the entry's default says so.
        frames = int(getattr(model_or_name, "frames", entry.frames))
    return ModelInfo(
        name=entry.name,
        scale=int(scale or entry.default_scale),
        scales=entry.scales,
        in_channels=3,
        size_multiple=entry.size_multiple,
        supports_tiling=entry.supports_tiling,
        supports_half=entry.supports_half,
        params=params,
        paper=entry.paper,
        tag=tag,
        frames=frames,
        recurrent=entry.recurrent,
    )


def is_temporal(model_or_name: nn.Module | str) -> bool:
    """Whether a model (instance or registered name) works on clips ``(B, T, 3, h, w)``, not images.

    True for sliding-window models (``ModelInfo.frames > 1``) and recurrent ones
    (``ModelInfo.recurrent``). An unregistered module is judged by the streaming interface it has:
    ``forward_window`` with a ``radius`` above 0, or ``init_state`` and ``step``.

    Example:
        >>> is_temporal("vsr_recurrent"), is_temporal("vsr_frame")
        (True, False)
    """
    if isinstance(model_or_name, nn.Module):
        try:
            registered_name(model_or_name)
        except ValueError:
            model = model_or_name
            window = hasattr(model, "forward_window") and int(getattr(model, "radius", 0)) > 0
            return window or (hasattr(model, "init_state") and hasattr(model, "step"))
    return model_info(model_or_name).temporal


def registered_name(model: nn.Module) -> str:
    """The registry name of a network instance: set by ``create_*``, else found by its class."""
    name = getattr(model, "srlib_arch", None)
    if name:
        return name
    for entry in [*_MODELS.values(), *_DISCRIMINATORS.values()]:
        if type(model) is entry.cls:
            return entry.name
    raise ValueError(
        f"{type(model).__name__} is not a registered srlib model; register it with "
        "@srlib.models.register_model to save or describe it."
    )


def detection_order() -> list[ModelEntry]:
    """Entries with a detector, alphabetically, except that each comes before its ``detect_before`` names.

    The order is declared by the entries, never the order the files were imported in.
    """
    both = [*_MODELS.items(), *_DISCRIMINATORS.items()]
    entries = {n: e for n, e in sorted(both) if e.detector is not None}
    first: dict[str, list[str]] = {n: [] for n in entries}  # name -> entries that must be tried before it
    for name, entry in entries.items():
        for later in entry.detect_before:
            if later in first:
                first[later].append(name)
    order: list[ModelEntry] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ValueError(f"detect_before forms a cycle through {name!r}")
        state[name] = "visiting"
        for earlier in first[name]:
            visit(earlier)
        state[name] = "done"
        order.append(entries[name])

    for name in entries:
        visit(name)
    return order
