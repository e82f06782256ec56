"""srlib's packages flow one way: each imports only from lower layers (docs/architecture.md).

Every module of srlib is parsed (imports inside functions included). A package or top-level module
without a layer here fails, so a new one must be placed; no module imports a private name (``_x``)
of another package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import srlib

ROOT = Path(srlib.__file__).parent
#: Lower number = lower layer (the layers of docs/architecture.md and ../shared/DESIGN.md).
LAYERS = {
    "srlib._version": 0,
    "srlib._logging": 0,
    "srlib._lazy": 0,
    "srlib._registry": 0,
    "srlib._fs": 0,
    "srlib._cache": 0.5,  # L0 helpers built on _fs
    "srlib._package_weights": 0.5,
    "srlib._cli": 0.5,
    "srlib.io": 1,
    "srlib.ops": 1,
    "srlib.precision": 1,
    "srlib.models": 2,
    "srlib.degrade": 2,
    "srlib.losses": 2,
    "srlib.metrics": 2,
    "srlib.data": 3,
    "srlib.inference": 4,
    "srlib.evaluation": 4.5,  # runs models through inference's Upscaler
    "srlib.lit": 5,
    "srlib.detect": 6,
    "srlib.serve": 6,
    # The command lines: the only modules that combine packages of one layer.
    "srlib.cli": 7,
    # `python -m srlib.NAME`: shims that run srlib.cli.NAME.
    "srlib.train": 8,
    "srlib.evaluate": 8,
    "srlib.upscale": 8,
    "srlib.export": 8,
    "srlib.worker": 8,
    "srlib.detect.__main__": 8,
    "srlib.serve.__main__": 8,
    "srlib.data.__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str | None:
    """The layered unit a module belongs to: the longest key of LAYERS that is it or contains it."""
    candidates = [k for k in LAYERS if module == k or module.startswith(k + ".")]
    return max(candidates, key=len) if candidates else None


def _imports(path: Path, module: str) -> list[tuple[int, str, list[str]]]:
    """``(line, imported module, imported names)`` of every import in the file, nested ones included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append((node.lineno, target, [a.name for a in node.names]))
    return found


MODULES = sorted(ROOT.rglob("*.py"))


def test_every_package_and_module_has_a_layer() -> None:
    missing = sorted({_module_name(p) for p in MODULES if _unit(_module_name(p)) is None} - {"srlib"})
    assert not missing, f"give these a layer in tests/test_layers.py (and docs/architecture.md): {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_and_no_private_name_crosses_a_package(path: Path) -> None:
    module = _module_name(path)
    if module == "srlib":  # the package face re-exports from every layer
        return
    unit = _unit(module)
    wrong = []
    for line, target, names in _imports(path, module):
        if not target.startswith("srlib"):
            continue
        if target == "srlib":
            wrong.append(f"line {line}: imports the srlib face (import the module that defines it)")
            continue
        other = _unit(target)
        if other is None:
            continue  # reported by the test above
        if other != unit and not (module.startswith(other + ".") or target.startswith(unit + ".")):
            if LAYERS[other] >= LAYERS[unit]:
                wrong.append(f"line {line}: {target} (layer {LAYERS[other]}) from layer {LAYERS[unit]}")
            leaf = target.rsplit(".", 1)[1]
            private = [n for n in names if n.startswith("_") and not n.endswith("__")]
            if private or (leaf.startswith("_") and not other.rsplit(".", 1)[1].startswith("_")):
                wrong.append(f"line {line}: private {target} {private or ''} of another package")
    assert not wrong, f"{module}: " + "; ".join(wrong)
