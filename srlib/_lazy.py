"""Package faces that import their modules on first use (PEP 562), so importing a light part stays light.

``srlib.data``'s face names the DataModules, which need Lightning; with lazy exports,
``import srlib.data.video.policy`` (what inference needs) loads neither Lightning nor the datasets.

Example:
    >>> getattr_, dir_ = lazy_exports("pkg", {"sqrt": "math", "path": "os.path"}, {})
    >>> getattr_("sqrt")(9.0), getattr_("path").sep
    (3.0, '/')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: dict[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``names[attr]`` (a module) on first use.

    ``names`` maps each exported attribute to the module that defines it; an attribute named like the
    module's last part is the module itself. Values are cached in ``namespace`` (the package globals).
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(names[name])
        value = module if names[name].rpartition(".")[2] == name else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
