"""ONNX export of zoo models and an onnxruntime model that runs where a PyTorch one does.

* :func:`export_onnx` writes an ``.onnx`` file with a dynamic batch, height and width (``static=``
  fixes them for networks that only export at one size), stores srlib's description of the model
  (architecture, config, scale) in the file's metadata, and checks the file with onnxruntime against
  PyTorch at two input sizes, reporting the largest absolute difference.
* :class:`OnnxRuntimeModel` wraps an ``InferenceSession`` as an ``nn.Module`` with srlib's contract
  (RGB ``(B, 3, h, w)`` in [0, 1] in, ``(B, 3, h*s, w*s)`` out), so ``srlib.upscale`` runs it.

An ``.onnx`` file is a program, so :class:`OnnxRuntimeModel` checks it before onnxruntime touches it
(:func:`check_onnx_model`), and refuses it with :class:`OnnxModelError` naming the file and the reason:

* the file (with its external data) is over :data:`MAX_FILE_BYTES`;
* it holds control flow (:data:`REFUSED_OPS`: ``Loop``, ``Scan``, ``If``, ``SequenceMap``, or any node
  with a sub-graph), which can run without end;
* a weight, a constant or any tensor whose size shape inference can tell (at the probe input size,
  with data propagation) is over :data:`MAX_TENSOR_BYTES`, or an op that makes tensors of a size read
  from data (``ConstantOfShape``, ``Expand``, ``Tile``, ``Range``, ``Resize``, ...) has an output whose
  size cannot be told before running;
* loading it and one probe run (``1 x C x 16 x 16``, or the file's static size; arena off) take over
  ``timeout`` seconds (the run is stopped with ``RunOptions.terminate``);
* the probe's output is not a whole-number enlargement, or it disagrees with the ``scale`` in the
  file's metadata (a x2 graph labelled x4 would return a quarter of the image).

Both need the optional extra ``pip install "srlib[onnx]"`` (onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from srlib._fs import atomic_write
from srlib._version import __version__

__all__ = [
    "LOAD_TIMEOUT_S",
    "MAX_FILE_BYTES",
    "MAX_TENSOR_BYTES",
    "REFUSED_OPS",
    "ExportReport",
    "OnnxCheck",
    "OnnxExportError",
    "OnnxModelError",
    "OnnxRuntimeModel",
    "check_onnx_model",
    "export_onnx",
]

log = logging.getLogger(__name__)

#: Largest |onnxruntime - PyTorch| accepted by the export check (fp32 kernels differ in summation order).
TOLERANCE = 1e-4


#: Largest ``.onnx`` file (its external data included) :class:`OnnxRuntimeModel` loads.
MAX_FILE_BYTES = 1 << 30
#: Largest single tensor (weight, constant, or one whose shape inference tells its size) in a loaded file.
MAX_TENSOR_BYTES = 1 << 30
#: Seconds that creating the session and the probe run may take together.
LOAD_TIMEOUT_S = 60.0
#: Ops refused in a loaded file: control flow, which can run without end.
REFUSED_OPS = frozenset({"Loop", "Scan", "If", "SequenceMap"})
#: Ops whose output size comes from data: their outputs must have a size shape inference can tell.
_SIZED_BY_DATA = frozenset(
    {"ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample", "Pad", "OneHot", "CenterCropPad"}
)
_PROBE = 16  # height and width of the probe input where the file's are dynamic
_STANDARD_DOMAINS = ("", "ai.onnx")


class OnnxExportError(ValueError):
    """The network could not be exported, or the exported file disagrees with PyTorch."""


class OnnxModelError(ValueError):
    """An ``.onnx`` file refused before use: too large, control flow, huge tensors, too slow, wrong scale."""

    def __init__(self, path: str | os.PathLike, reason: str, fix: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"ONNX model {self.path} is refused: {reason}. {fix}")


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


def _walk(graph: Any, where: str) -> Any:
    """``(node, where)`` for every node of ``graph`` and of the sub-graphs in its attributes."""
    for node in graph.node:
        yield node, where
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                yield from _walk(sub, f"{where} > {node.op_type} {node.name or '?'}")


def _itemsize(elem_type: int) -> int:
    from onnx import helper

    try:
        return int(helper.tensor_dtype_to_np_dtype(elem_type).itemsize) or 8
    except (KeyError, TypeError, ValueError):
        return 8


def _tensor_bytes(tensor: Any) -> int:
    return math.prod(int(d) for d in tensor.dims) * _itemsize(tensor.data_type)


def _external_bytes(path: Path, tensor: Any) -> int:
    entries = {e.key: e.value for e in tensor.external_data}
    if entries.get("length", "").isdigit():
        return int(entries["length"])
    location = path.parent / entries.get("location", "")
    return location.stat().st_size if location.is_file() else 0


def _probe_shape(model: Any) -> tuple[int, ...]:
    """The probe input's shape: the file's static dimensions, 1 x 3 x 16 x 16 where they are dynamic."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    fallback = (1, 3, _PROBE, _PROBE)
    shape = []
    for i, dim in enumerate(dims):
        shape.append(
            dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else fallback[min(i, 3)]
        )
    return tuple(shape)


@dataclass(frozen=True)
class OnnxCheck:
    """What :func:`check_onnx_model` found in a file it accepted.

    Attributes:
        metadata: the file's metadata (``scale``, ``srlib_arch``, ...).
        probe_shape: the input shape of the probe run (the file's static dimensions, else 1x3x16x16).
    """

    metadata: dict[str, str]
    probe_shape: tuple[int, ...]


def check_onnx_model(
    path: str | os.PathLike,
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_tensor_bytes: int = MAX_TENSOR_BYTES,
) -> OnnxCheck:
    """Check an ``.onnx`` file before any runtime loads it; returns its metadata and probe shape.

    Checks, in order: file size (with external data), refused ops (:data:`REFUSED_OPS` and any node
    with a sub-graph, in the graph and in model-local functions), weight and constant sizes, and the size
    of every tensor shape inference (at the probe input size, data propagated) can tell; outputs of ops
    sized by data (``ConstantOfShape``, ``Expand``, ...) must have a size it can tell.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        OnnxModelError: any check fails (the message names the file, the node or tensor and the limit).
        ValueError: the file is not an ONNX model.
    """
    onnx = _require("onnx")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist; export one with python -m srlib.export.")
    size = path.stat().st_size
    too_big = "If you trust it, raise the limit with max_file_bytes=..."
    if size > max_file_bytes:
        raise OnnxModelError(
            path, f"the file is {size:,} bytes, over the limit of {max_file_bytes:,}", too_big
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends
        raise ValueError(f"{path} is not a loadable ONNX model ({type(err).__name__}: {err}).") from err
    if not model.graph.input:
        raise ValueError(f"{path} is not a usable ONNX model: its graph has no input.")
    tensor_fix = "If you trust it, raise the limit with max_tensor_bytes=..."
    graphs = [(model.graph, "graph")] + [(f, f"function {f.name}") for f in model.functions]
    total = size
    for graph, label in graphs:
        for node, where in _walk(graph, label):
            refused = node.op_type in REFUSED_OPS and node.domain in _STANDARD_DOMAINS
            if refused or any(a.HasField("g") or len(a.graphs) for a in node.attribute):
                raise OnnxModelError(
                    path,
                    f"node {node.name or '?'} ({where}) is a {node.op_type}, control flow that can run "
                    f"without end (srlib refuses {', '.join(sorted(REFUSED_OPS))} and sub-graphs)",
                    "Export the network without loops or run-time branches (python -m srlib.export).",
                )
            for attr in node.attribute:
                if attr.HasField("t") and _tensor_bytes(attr.t) > max_tensor_bytes:
                    raise OnnxModelError(
                        path,
                        f"the constant of node {node.name or '?'} ({node.op_type}) holds "
                        f"{_tensor_bytes(attr.t):,} bytes, over the limit of {max_tensor_bytes:,}",
                        tensor_fix,
                    )
    for tensor in model.graph.initializer:
        nbytes = _tensor_bytes(tensor)
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            total += _external_bytes(path, tensor)
        if nbytes > max_tensor_bytes:
            raise OnnxModelError(
                path,
                f"the weight {tensor.name} holds {nbytes:,} bytes, over the limit of {max_tensor_bytes:,}",
                tensor_fix,
            )
    if total > max_file_bytes:
        raise OnnxModelError(
            path,
            f"the file and its external data are {total:,} bytes, over the limit of {max_file_bytes:,}",
            too_big,
        )
    check = OnnxCheck({e.key: e.value for e in model.metadata_props}, _probe_shape(model))
    _check_inferred_sizes(onnx, model, path, max_tensor_bytes, tensor_fix)
    return check


def _check_inferred_sizes(onnx: Any, model: Any, path: Path, limit: int, fix: str) -> None:
    """Shape inference at the probe size: refuse tensors over ``limit`` and data-sized unknown outputs.

    ``model`` is changed: its large weights lose their values, its input gets the probe's shape.
    """
    shape = _probe_shape(model)
    weights = list(model.graph.initializer)
    model.graph.ClearField("initializer")
    for tensor in weights:  # shapes need only dims: small tensors keep their values (shapes, scales)
        stub = model.graph.initializer.add()
        if math.prod(tensor.dims) <= 64 and tensor.data_location != onnx.TensorProto.EXTERNAL:
            stub.CopyFrom(tensor)
        else:
            stub.name, stub.data_type = tensor.name, tensor.data_type
            stub.dims.extend(tensor.dims)
    del weights
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, shape, strict=False):
        dim.Clear()
        dim.dim_value = value
    probe = model
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True)
    except Exception as err:  # inference errors mean the graph is inconsistent
        raise OnnxModelError(
            path, f"shape inference fails on it ({type(err).__name__}: {err})", "Re-export the network."
        ) from err
    infos = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}

    def known_bytes(name: str) -> int | None:
        info = infos.get(name)
        if info is None or not info.type.HasField("tensor_type"):
            return None
        tensor_type = info.type.tensor_type
        if not tensor_type.HasField("shape"):
            return None
        dims = tensor_type.shape.dim
        if not all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
            return None
        return math.prod(d.dim_value for d in dims) * _itemsize(tensor_type.elem_type)

    for node in inferred.graph.node:
        for name in node.output:
            if not name:
                continue
            nbytes = known_bytes(name)
            if nbytes is not None and nbytes > limit:
                raise OnnxModelError(
                    path,
                    f"node {node.name or '?'} ({node.op_type}) makes the tensor {name} of {nbytes:,} bytes "
                    f"for a {'x'.join(map(str, shape))} input, over the limit of {limit:,}",
                    fix,
                )
            if nbytes is None and node.op_type in _SIZED_BY_DATA:
                raise OnnxModelError(
                    path,
                    f"node {node.name or '?'} ({node.op_type}) makes a tensor whose size is read from data "
                    "at run time and cannot be checked before running",
                    "Export the network with the sizes as constants (python -m srlib.export).",
                )


def _within(seconds: float, work: Any, on_timeout: Any = None) -> Any:
    """``work()`` in a worker thread; ``TimeoutError`` once ``seconds`` pass (``on_timeout()`` is called
    first, to stop the work where it can be stopped)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as err:  # handed to the caller
            box["error"] = err

    thread = threading.Thread(target=run, name="srlib-onnx-check", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if on_timeout is not None:
            on_timeout()
            thread.join(1.0)
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]


class OnnxRuntimeModel(nn.Module):
    """An exported ``.onnx`` file run by onnxruntime behind srlib's model contract (fp32, CPU by default).

    The file is checked before onnxruntime loads it (:func:`check_onnx_model`), then loaded and run once on
    a probe input under ``timeout`` seconds; the measured enlargement must agree with the file's ``scale``
    metadata (when there is one). See the module docstring for what is refused.

    Attributes:
        scale: measured with the probe run (and equal to the file's srlib metadata when present).
        srlib_arch: the architecture recorded at export.

    Example:
        >>> import srlib, tempfile
        >>> path = tempfile.mkdtemp() + "/m.onnx"
        >>> _ = export_onnx(srlib.create_model("srvgg_compact", num_conv=2, num_feat=8), path)
        >>> OnnxRuntimeModel(path)(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 32, 32])
    """

    supports_half = False

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        providers: list[str] | None = None,
        timeout: float = LOAD_TIMEOUT_S,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_tensor_bytes: int = MAX_TENSOR_BYTES,
    ) -> None:
        super().__init__()
        ort = _require("onnxruntime")
        self.path = Path(path)
        check = check_onnx_model(self.path, max_file_bytes=max_file_bytes, max_tensor_bytes=max_tensor_bytes)
        meta, probe_shape = check.metadata, check.probe_shape
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = False  # memory is returned after the probe, not kept in an arena
        options.enable_mem_pattern = False
        started = time.monotonic()
        slow = f"a {'x'.join(map(str, probe_shape))} test run"

        def load() -> Any:
            return ort.InferenceSession(
                str(self.path), options, providers=providers or ["CPUExecutionProvider"]
            )

        try:
            self.session = _within(timeout, load)
        except TimeoutError:
            raise OnnxModelError(
                self.path,
                f"loading it took over {timeout:g} s",
                "If you trust it and it is only slow, raise the limit with timeout=...",
            ) from None
        except Exception as err:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.path} is not a loadable ONNX model ({err}).") from err
        self.srlib_arch = meta.get("srlib_arch", "onnx")
        self.input_name = self.session.get_inputs()[0].name
        x = np.random.default_rng(0).random(probe_shape, dtype=np.float32)
        run_options = ort.RunOptions()

        def stop() -> None:
            run_options.terminate = True

        left = max(0.0, timeout - (time.monotonic() - started))
        try:
            out = _within(left, lambda: self.session.run(None, {self.input_name: x}, run_options)[0], stop)
        except TimeoutError:
            raise OnnxModelError(
                self.path,
                f"loading it and {slow} took over {timeout:g} s (the run was stopped)",
                "If you trust it and it is only slow, raise the limit with timeout=...",
            ) from None
        except Exception as err:  # onnxruntime's own errors: a graph that does not run
            raise OnnxModelError(
                self.path, f"{slow} failed ({type(err).__name__}: {err})", "Re-export the network."
            ) from err
        self.scale = self._check_scale(np.asarray(out), probe_shape, meta.get("scale"))

    def _check_scale(self, out: np.ndarray, shape: tuple[int, ...], declared: str | None) -> int:
        """The whole-number enlargement the probe measured, checked against the metadata's ``scale``."""
        h, w = shape[-2:]
        seen = "x".join(map(str, out.shape))
        fix = "Re-export it with python -m srlib.export, or correct the file's 'scale' metadata."
        if (
            out.ndim != 4
            or out.shape[-2] % h
            or out.shape[-1] % w
            or out.shape[-2] // h != out.shape[-1] // w
        ):
            raise OnnxModelError(
                self.path,
                f"a {h}x{w} test input gave an output of shape {seen}, not a whole-number enlargement "
                "(srlib's contract: (B, C, h*s, w*s))",
                fix,
            )
        measured = out.shape[-1] // w
        if declared is None:
            return int(measured)
        if not declared.strip().isdigit() or int(declared) < 1:
            raise OnnxModelError(
                self.path,
                f"its metadata 'scale' is {declared!r}, not a whole number (the graph is x{measured})",
                fix,
            )
        if int(declared) != measured:
            raise OnnxModelError(
                self.path,
                f"its metadata says x{int(declared)} but the graph enlarges x{measured} "
                f"(a {h}x{w} test input gave {out.shape[-2]}x{out.shape[-1]})",
                fix,
            )
        return int(measured)

    def forward(self, x: Tensor) -> Tensor:
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        out = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(out).to(x.device)
