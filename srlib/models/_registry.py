"""Model registry: ``register_model``, ``create_model``, ``list_models``, ``model_info``.

Every zoo model is a plain ``nn.Module`` class with a keyword-only ``__init__`` and one or more
registered *entrypoints*: small functions whose return annotation names the class and whose
keyword defaults fix one configuration (``hat_s`` and ``hat`` share a class, for example)::

    @register_model(scales=(2, 3, 4), paper="Kim et al., CVPR 2016")
    def vdsr(**kwargs) -> VDSR:
        return VDSR(**kwargs)

``create_model`` validates the name, the scale and every keyword before building anything.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

__all__ = [
    "ModelEntry",
    "ModelInfo",
    "create_model",
    "get_model_entry",
    "list_models",
    "model_info",
    "register_model",
]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one entrypoint before any model is built."""

    name: str
    fn: Callable[..., nn.Module]
    cls: type[nn.Module]
    scales: tuple[int, ...]
    default_scale: int
    paper: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    size_multiple: int = 1
    supports_tiling: bool = True
    supports_half: bool = True
    checkpoint_filter_fn: Callable[[dict, nn.Module], dict] | None = None

    def valid_kwargs(self) -> list[str]:
        """Keyword arguments accepted by the model class (``scale`` included)."""
        return keyword_only_args(self.cls)


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


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    scales: Iterable[int] = (2, 3, 4),
    default_scale: int | None = None,
    paper: str = "",
    size_multiple: int = 1,
    supports_tiling: bool = True,
    supports_half: bool = True,
    checkpoint_filter_fn: Callable[[dict, nn.Module], dict] | None = None,
) -> Any:
    """Register an entrypoint function (usable as ``@register_model`` or ``@register_model(...)``).

    The entrypoint's return annotation must be the model class; its keyword defaults (if any)
    are the configuration it stands for. Its docstring's first line becomes the description.
    """

    def wrap(func: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        cls, defaults, description = inspect_entrypoint(func, _REGISTRY, "model")
        scale_tuple = tuple(sorted(int(s) for s in scales))
        _REGISTRY[func.__name__] = ModelEntry(
            name=func.__name__,
            fn=func,
            cls=cls,
            scales=scale_tuple,
            default_scale=default_scale or defaults.get("scale", scale_tuple[-1]),
            paper=paper,
            description=description,
            defaults=defaults,
            size_multiple=size_multiple,
            supports_tiling=supports_tiling,
            supports_half=supports_half,
            checkpoint_filter_fn=checkpoint_filter_fn,
        )
        return func

    return wrap(fn) if fn is not None else wrap


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


def inspect_entrypoint(
    func: Callable[..., nn.Module], registry: Mapping[str, Any], kind: str
) -> tuple[type[nn.Module], dict[str, Any], str]:
    """Class (the return annotation), keyword defaults and first doc line of an entrypoint.

    Also prepares the class to record its config (see :func:`_capture_config`).
    """
    cls = typing.get_type_hints(func, globalns=func.__globals__).get("return")
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise TypeError(f"entrypoint {func.__name__} needs a return annotation naming its nn.Module class")
    if func.__name__ in registry:
        raise ValueError(f"{kind} {func.__name__!r} is registered twice")
    _capture_config(cls)
    defaults = {
        n: p.default
        for n, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    doc = (func.__doc__ or "").strip().splitlines()
    return cls, defaults, doc[0] if doc else ""


def keyword_only_args(cls: type[nn.Module]) -> list[str]:
    """The keyword-only ``__init__`` arguments of a class, sorted."""
    params = inspect.signature(cls.__init__).parameters
    return sorted(n for n, p in params.items() if n != "self" and p.kind is p.KEYWORD_ONLY)


def unknown_name_error(kind: str, name: str, known: Iterable[str], lister: str) -> ValueError:
    """``ValueError`` for an unknown registry name, with the closest known names."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} {lister} shows all {len(known)} registered {kind}s.")


def check_kwargs(kind: str, name: str, cls: type[nn.Module], kwargs: Mapping[str, Any]) -> None:
    """Raise if ``kwargs`` has keywords ``cls`` does not accept, listing the valid ones."""
    valid = keyword_only_args(cls)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"{kind.capitalize()} {name!r} got unknown argument(s) {unknown}. Valid arguments: {valid}."
        )


def match_names(names: Iterable[str], filter: str) -> list[str]:
    """Names matching a shell-style pattern (a plain word matches as a substring), sorted."""
    pattern = filter if any(ch in filter for ch in "*?[") else f"*{filter}*"
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def _ensure_zoo_imported() -> None:
    # Importing the package registers every model file's entrypoints.
    import srlib.models  # noqa: F401


def get_model_entry(name: str) -> ModelEntry:
    """Return the registry entry for ``name``; an unknown name raises with the closest matches."""
    _ensure_zoo_imported()
    if name in _REGISTRY:
        return _REGISTRY[name]
    from srlib.models.discriminators import list_discriminators

    if name in list_discriminators():
        raise ValueError(
            f"{name!r} is a discriminator, not an SR model: build it with "
            f"srlib.models.create_discriminator({name!r})."
        )
    raise unknown_name_error("model", name, _REGISTRY, "srlib.list_models()")


def list_models(filter: str = "", scale: int | None = None) -> list[str]:
    """Names of registered models, sorted.

    Args:
        filter: shell-style pattern (``"vdsr*"``); a plain word matches as a substring.
        scale: keep only models supporting this scale.

    Example:
        >>> "vdsr" in list_models("vdsr*")
        True
    """
    _ensure_zoo_imported()
    names = match_names(_REGISTRY, filter)
    if scale is not None:
        names = [n for n in names if int(scale) in _REGISTRY[n].scales]
    return names


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`.
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
    check_kwargs("model", name, entry.cls, kwargs)
    scale = int(kwargs.get("scale", entry.default_scale))
    if scale not in entry.scales:
        raise ValueError(
            f"Model {name!r} does not support scale {scale}; supported scales: {list(entry.scales)}."
        )
    config = {**entry.defaults, **kwargs, "scale": scale}
    model = entry.fn(**config)
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
    else:
        entry = get_model_entry(registered_name(model_or_name))
        scale = getattr(model_or_name, "scale", None)
        unique = {id(p): p.numel() for p in model_or_name.parameters()}
        params = sum(unique.values())
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
    )


def registered_name(model: nn.Module) -> str:
    """The registry name of a model instance: set by ``create_model``, else found by its class."""
    name = getattr(model, "srlib_arch", None)
    if name:
        return name
    _ensure_zoo_imported()
    for entry in _REGISTRY.values():
        if type(model) is entry.cls:
            return entry.name
    raise ValueError(
        f"{type(model).__name__} is not a registered srlib model; register it with "
        "@srlib.models.register_model to save or describe it."
    )
