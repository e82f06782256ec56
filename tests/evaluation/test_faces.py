"""srlib.evaluation is the library, srlib.evaluate its command line: both keep every name users import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import srlib.evaluate
import srlib.evaluation

#: The names of ``srlib.evaluate.__all__`` besides the library's (the CLI entry and the model resolver).
CLI_ONLY = {"main", "resolve_model"}


@pytest.mark.parametrize("name", srlib.evaluation.__all__)
def test_srlib_evaluate_still_names_what_moved_to_srlib_evaluation(name: str) -> None:
    assert getattr(srlib.evaluate, name) is getattr(srlib.evaluation, name)


def test_srlib_evaluate_all_is_unchanged() -> None:
    # Before the split srlib.evaluate.__all__ held 15 names: 13 library names and the two CLI ones.
    assert len(srlib.evaluate.__all__) == 15 and set(srlib.evaluate.__all__) >= CLI_ONLY
    assert set(srlib.evaluate.__all__) - CLI_ONLY <= set(srlib.evaluation.__all__)
    for name in srlib.evaluate.__all__:
        assert getattr(srlib.evaluate, name) is not None


@pytest.mark.slow  # a fresh interpreter imports torch and torchmetrics: about 5 s on 2 busy cores
def test_srlib_evaluation_loads_neither_lightning_nor_a_command_line() -> None:
    code = (
        "import json, sys, srlib.evaluation; "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'lightning' or m.startswith("
        "('lightning.', 'pytorch_lightning', 'srlib.evaluate', 'srlib._cli', 'srlib.cli', 'srlib.lit', "
        "'srlib.train', 'srlib.data')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
