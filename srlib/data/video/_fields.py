"""Settings objects from the objects themselves or from plain mappings of their fields (as Hydra passes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def settings_from(cls: type[T], value: T | Mapping[str, Any] | None, argument: str, **defaults: Any) -> T:
    """``value`` itself if it is a ``cls``, else ``cls(**defaults, **value)`` (``None``: the defaults).

    Raises:
        ValueError: a mapping with fields ``cls`` does not have (the valid ones are listed).
        TypeError: anything else than a ``cls``, a mapping or ``None``.
    """
    if isinstance(value, cls):
        return value
    if value is None:
        return cls(**defaults)
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{argument}= must be a {cls.__name__} or a mapping of its fields, got {type(value).__name__}."
        )
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in value if k not in fields)
    if unknown:
        raise ValueError(
            f"{argument}= has unknown field(s) {', '.join(unknown)}; "
            f"{cls.__name__} takes {', '.join(fields)}."
        )
    return cls(**{**defaults, **{str(k): v for k, v in value.items()}})
