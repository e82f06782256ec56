"""srlib.models flows one way: every import (module level or inside a function) points down the chain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import srlib.models

PACKAGE = Path(srlib.models.__file__).parent
ARCHITECTURES = {
    "bicubic",
    "discriminators",
    "edsr",
    "fsrcnn",
    "hat",
    "mobilesr",
    "rrdbnet",
    "srresnet",
    "srvgg",
    "vdsr",
    "vsr_frame",
    "vsr_recurrent",
    "vsr_window",
}
#: Lower number = lower layer. A module may import only modules of a strictly lower layer.
LAYERS = {
    "_state_io": 0,
    "_contract": 0,
    "_layers": 0.5,  # shared layers (PReLU), on srlib.ops
    "_registry": 1,
    "_vsr_blocks": 1,
    **dict.fromkeys(ARCHITECTURES, 2),
    "_checkpoint": 3,
    "_blend": 4,
    "_pretrained": 4,
}
#: What each layer may import from srlib outside the package (lower-level srlib packages only).
OUTSIDE = {
    0: set(),
    0.5: {"srlib.ops"},
    1: {"srlib._registry"},
    2: {"srlib.ops"},
    3: {"srlib._fs", "srlib._version"},
    4: {"srlib._package_weights"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import statement in the file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against srlib.models
                base = "srlib.models" if node.level == 1 else "srlib"
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module == "srlib.models":  # `from srlib.models import vdsr` names submodules
                found += [(node.lineno, f"srlib.models.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS), "add the new module of srlib.models to LAYERS in this test"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_imports_point_down_the_chain(name: str) -> None:
    layer = LAYERS[name]
    wrong = []
    for line, module in _imports(PACKAGE / f"{name}.py"):
        if module == "srlib" or module == "srlib.models":
            wrong.append(f"line {line}: {module} (the package itself: an import back up the chain)")
        elif module.startswith("srlib.models."):
            target = module.split(".")[2]
            if LAYERS.get(target, 99) >= layer:
                wrong.append(f"line {line}: {module} (layer {LAYERS.get(target)} >= {layer})")
        elif module.startswith("srlib.") and not any(
            module == ok or module.startswith(ok + ".") for ok in OUTSIDE[layer]
        ):
            wrong.append(f"line {line}: {module} (not allowed from layer {layer})")
    assert not wrong, f"srlib/models/{name}.py imports up the chain:\n" + "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from srlib.models import _checkpoint\n    import srlib\n")
    assert (2, "srlib.models._checkpoint") in _imports(source) and (3, "srlib") in _imports(source)
