"""srlib.evaluation is the library, srlib.evaluate its command line: both keep every name users import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import srlib.evaluate
import srlib.evaluation

#: Every public name ``srlib.evaluate`` defined before the library moved to ``srlib.evaluation``.
MOVED = (
    "CSV_COLUMNS",
    "PROTOCOL",
    "UNAVAILABLE",
    "WEIGHT_SUFFIXES",
    "EvaluationResult",
    "EvaluationTable",
    "ImageScore",
    "LpipsScorer",
    "ModelCost",
    "OutputHook",
    "Sample",
    "TableRow",
    "detail_window",
    "device_name",
    "evaluate_folder",
    "evaluate_images",
    "evaluate_table",
    "format_table",
    "load_images",
    "measure_cost",
    "plot_quality_vs_speed",
    "resolve_data",
    "sample_input",
    "samples_of",
    "super_resolve",
)


@pytest.mark.parametrize("name", MOVED)
def test_srlib_evaluate_still_names_what_moved_to_srlib_evaluation(name: str) -> None:
    assert getattr(srlib.evaluate, name) is getattr(srlib.evaluation, name)
    assert name in srlib.evaluation.__all__


def test_srlib_evaluate_all_is_unchanged() -> None:
    assert sorted(srlib.evaluate.__all__) == sorted(
        [
            "EvaluationResult",
            "EvaluationTable",
            "ImageScore",
            "LpipsScorer",
            "ModelCost",
            "TableRow",
            "evaluate_folder",
            "evaluate_images",
            "evaluate_table",
            "load_images",
            "main",
            "measure_cost",
            "plot_quality_vs_speed",
            "resolve_model",
            "super_resolve",
        ]
    )
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
