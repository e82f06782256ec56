"""srlib.data.video flows one way: decode/sampling/policy/codec -> cache -> dataset -> clips -> datamodule."""

from __future__ import annotations

import ast
from pathlib import Path

import srlib.data.video

PACKAGE = Path(srlib.data.video.__file__).parent
#: Lower number = lower layer; a module imports only modules of a strictly lower layer of the package.
LAYERS = {
    "_fields": 0,
    "policy": 1,
    "sampling": 1,
    "codec": 1,
    "cache": 2,
    "synthetic": 2,
    "dataset": 3,
    "clips": 4,
    "clip_dataset": 5,
    "datamodule": 6,
}


def test_every_module_has_a_layer() -> None:
    assert {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"} == set(LAYERS)


def test_imports_point_down() -> None:
    for name, layer in LAYERS.items():
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("srlib.data.video."):
                target = node.module.rsplit(".", 1)[1]
                assert LAYERS[target] < layer, f"{name} (layer {layer}) imports {target} ({LAYERS[target]})"
            if isinstance(node, ast.ImportFrom) and node.module == "srlib.data.video":
                raise AssertionError(f"{name} imports the package itself")
