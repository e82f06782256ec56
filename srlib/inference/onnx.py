"""ONNX export of zoo models and an onnxruntime model that runs where a PyTorch one does.

* :func:`export_onnx` writes an ``.onnx`` file with a dynamic batch, height and width (``static=``
  fixes them for networks that only export at one size), stores srlib's description of the model
  (architecture, config, scale) in the file's metadata, and checks the file with onnxruntime against
  PyTorch at two input sizes, reporting the largest absolute difference.
* :class:`OnnxRuntimeModel` wraps an ``InferenceSession`` as an ``nn.Module`` with srlib's contract
  (RGB ``(B, 3, h, w)`` in [0, 1] in, ``(B, 3, h*s, w*s)`` out), so ``srlib.upscale`` runs it.

Both need the optional extra ``pip install "srlib[onnx]"`` (onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from srlib._fs import atomic_write
from srlib._version import __version__

__all__ = ["ExportReport", "OnnxExportError", "OnnxRuntimeModel", "export_onnx"]

log = logging.getLogger(__name__)

#: Largest |onnxruntime - PyTorch| accepted by the export check (fp32 kernels differ in summation order).
TOLERANCE = 1e-4


class OnnxExportError(ValueError):
    """The network could not be exported, or the exported file disagrees with PyTorch."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how closely onnxruntime reproduces PyTorch.

    Attributes:
        path: the ``.onnx`` file.
        dynamic: whether batch, height and width are dynamic.
        max_abs_error: per checked input shape ``"BxCxHxW"``, the largest absolute difference.
        bytes: file size.
    """

    path: Path
    dynamic: bool
    max_abs_error: dict[str, float] = field(default_factory=dict)
    bytes: int = 0


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(
            f'ONNX support needs the optional package {module!r}: pip install "srlib[onnx]".'
        ) from err


def _metadata(model: nn.Module) -> dict[str, str]:
    return {
        "srlib_arch": str(getattr(model, "srlib_arch", type(model).__name__)),
        "srlib_kwargs": json.dumps(getattr(model, "srlib_config", {}), sort_keys=True, default=str),
        "scale": str(int(getattr(model, "scale", 1))),
        "srlib_version": __version__,
    }


def _trace(model: nn.Module, sample: Tensor, dynamic: bool) -> Any:
    """``torch.onnx.export`` (the dynamo exporter) with its progress chatter kept off the console."""
    dims = None
    if dynamic:
        dyn = torch.export.Dim.DYNAMIC
        dims = ({0: dyn, 2: dyn, 3: dyn},)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return torch.onnx.export(
            model, (sample,), dynamo=True, dynamic_shapes=dims, input_names=["lr"], output_names=["sr"]
        )


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    static: tuple[int, int] | None = None,
    check: bool = True,
) -> ExportReport:
    """Export ``model`` to ONNX (fp32) and check it with onnxruntime.

    Args:
        model: a zoo model (its ``srlib_arch``, config and scale go into the file's metadata).
        path: the ``.onnx`` file to write (atomically).
        static: ``(height, width)`` to export one fixed input size instead of dynamic sizes.
        check: run the file with onnxruntime at two sizes (one when static) and compare.

    Returns:
        An :class:`ExportReport` with the largest absolute difference per checked shape.

    Raises:
        OnnxExportError: the network does not export (the message says whether ``static`` may help),
            or onnxruntime's output differs from PyTorch's by more than ``1e-4``.
    """
    onnx = _require("onnx")
    model = model.eval().float()
    height, width = static or (40, 56)
    sample = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    name = getattr(model, "srlib_arch", type(model).__name__)
    try:
        program = _trace(model, sample, dynamic=static is None)
    except Exception as err:  # the exporter raises many types; all mean "does not export"
        hint = (
            " Try a fixed input size (static=(H, W), --static HxW on the CLI)."
            if static is None
            else " This network cannot be exported to ONNX with torch's exporter."
        )
        raise OnnxExportError(f"{name} did not export to ONNX ({type(err).__name__}).{hint}") from err
    proto = program.model_proto
    for key, value in _metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = atomic_write(Path(path), lambda f: f.write(proto.SerializeToString()))
    onnx.checker.check_model(str(path))
    report = ExportReport(path=path, dynamic=static is None, bytes=path.stat().st_size)
    if check:
        runner = OnnxRuntimeModel(path)
        shapes = [(1, 3, height, width)] if static else [(1, 3, height, width), (2, 3, 33, 47)]
        for shape in shapes:
            x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
            with torch.inference_mode():
                diff = float((runner(x) - model(x)).abs().max())
            report.max_abs_error["x".join(map(str, shape))] = diff
            if not diff <= TOLERANCE:
                path.unlink(missing_ok=True)
                raise OnnxExportError(
                    f"The ONNX export of {name} differs from PyTorch by {diff:.2e} at input {shape} "
                    f"(tolerance {TOLERANCE:.0e}); the file was removed."
                )
    return report


class OnnxRuntimeModel(nn.Module):
    """An exported ``.onnx`` file run by onnxruntime behind srlib's model contract (fp32, CPU by default).

    Attributes:
        scale: from the file's srlib metadata (or measured with one small run when absent).
        srlib_arch: the architecture recorded at export.

    Example:
        >>> import srlib, tempfile
        >>> path = tempfile.mkdtemp() + "/m.onnx"
        >>> _ = export_onnx(srlib.create_model("srvgg_compact", num_conv=2, num_feat=8), path)
        >>> OnnxRuntimeModel(path)(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 32, 32])
    """

    supports_half = False

    def __init__(self, path: str | os.PathLike, *, providers: list[str] | None = None) -> None:
        super().__init__()
        ort = _require("onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"ONNX file {self.path} does not exist; export one with python -m srlib.export."
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.path} is not a loadable ONNX model ({err}).") from err
        meta = self.session.get_modelmeta().custom_metadata_map
        self.srlib_arch = meta.get("srlib_arch", "onnx")
        self.input_name = self.session.get_inputs()[0].name
        scale = meta.get("scale", "")
        self.scale = int(scale) if scale.isdigit() else self._measure_scale()

    def _measure_scale(self) -> int:
        shape = self.session.get_inputs()[0].shape
        h, w = (s if isinstance(s, int) else 16 for s in shape[2:4])
        out = self.forward(torch.rand(1, 3, h, w))
        return int(out.shape[-1] // w)

    def forward(self, x: Tensor) -> Tensor:
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        out = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(out).to(x.device)
