"""One model loader for every entry point: a name, a weight file or an ONNX export -> a descriptor.

``python -m srlib.upscale --model``, the service's ``--model`` and the evaluation table all mean the
same thing by a model: a registered name (with srlib's shipped weights when they exist for the scale,
else untrained, said loudly), an srlib or recognised foreign weight file (its own scale), or an
``.onnx`` export (run with onnxruntime). :func:`load_upscaling_model` resolves it once and returns a
:class:`ModelDescriptor` holding the network and the facts the callers need (scale, where it came
from, whether it is trained, the frame policy stored with video-trained weights), so no caller reads
them back from attributes of the module.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["ModelDescriptor", "describe", "load_upscaling_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelDescriptor:
    """A loaded upscaling model and what is known about it.

    Attributes:
        net: the network in eval mode (an ``nn.Module``; an onnxruntime runner for ONNX).
        scale: its upscaling factor.
        source: what was asked for (name, path).
        kind: ``"pretrained"`` (shipped weights), ``"registered"`` (a name built untrained, or with
            ``weights``), ``"file"`` (a weight file) or ``"onnx"``.
        pretrained: the shipped weight set's card name, for ``kind="pretrained"``.
        trained: ``False`` when the network has random weights (a warning says so at load).
        frame_policy: the ``FramePairPolicy`` stored with video-trained weights (``None``: none, or
            ``use_policy=False``).
        metadata: the weight file's metadata beyond srlib's own keys.
    """

    net: Any
    scale: int
    source: str
    kind: str
    pretrained: str | None = None
    trained: bool = True
    frame_policy: Any = None
    metadata: dict[str, str] = field(default_factory=dict)


def load_upscaling_model(
    model: str | Path,
    *,
    scale: int | None = None,
    weights: str | Path | None = None,
    use_policy: bool = True,
    backend: str = "torch",
) -> ModelDescriptor:
    """Resolve ``model`` (name, weight file or ``.onnx``) at ``scale`` into a :class:`ModelDescriptor`.

    Args:
        model: a registered name (``fsrcnn``, ``srvgg_compact.gan``), a weight file or an ``.onnx`` file.
        scale: the upscaling factor (``None``: the file's, or the architecture's default).
        weights: a weight file loaded into a registered ``model``.
        use_policy: apply the frame policy stored with video-trained weights.
        backend: ``"torch"``, or ``"onnxruntime"`` to export the network and run the export.

    Raises:
        ValueError: an unknown name, unreadable or non-finite weights, or weights for another scale.

    Example:
        >>> loaded = load_upscaling_model("bicubic", scale=3)
        >>> loaded.scale, loaded.kind, loaded.trained
        (3, 'registered', True)
    """
    source = Path(str(model))
    if source.suffix == ".onnx":
        from srlib.inference.onnx import OnnxRuntimeModel

        net = OnnxRuntimeModel(source)
        if scale is not None and int(scale) != int(net.scale):
            raise ValueError(f"{source} is an x{net.scale} export; it cannot run at x{scale}.")
        return ModelDescriptor(net, int(net.scale), str(model), "onnx")
    from srlib.models import resolve_model

    net = resolve_model(str(model), scale=scale, weights=None if weights is None else str(weights))
    loaded = describe(
        net,
        source=str(model),
        from_file=source.is_file(),
        with_weights=weights is not None,
        use_policy=use_policy,
    )
    if not loaded.trained:
        log.warning("%s has random weights: pass --weights FILE, or a weight file as --model", model)
    if loaded.frame_policy is not None:
        log.info("applying the frame policy stored with the weights: %s", loaded.frame_policy)
    if backend == "onnxruntime":
        return dataclasses.replace(loaded, net=_through_onnx(loaded.net))
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}.")
    return loaded


def describe(
    net: nn.Module,
    *,
    source: str = "<module>",
    from_file: bool = False,
    with_weights: bool = False,
    use_policy: bool = True,
) -> ModelDescriptor:
    """The descriptor of an already built network (what srlib's loaders recorded about it).

    ``from_file``/``with_weights``: it was loaded from a weight file / given weights, so it is trained
    even when it is not one of srlib's shipped sets.
    """
    pretrained = getattr(net, "srlib_pretrained", None)
    kind = "file" if from_file else ("pretrained" if pretrained else "registered")
    has_parameters = any(True for _ in net.parameters())  # bicubic has none: nothing to train
    trained = from_file or with_weights or pretrained is not None or not has_parameters
    metadata = dict(getattr(net, "srlib_file_metadata", {}) or {})
    policy = None
    if use_policy and metadata.get("frame_policy"):
        from srlib.data.video.policy import FramePairPolicy

        policy = FramePairPolicy(**json.loads(metadata["frame_policy"]))
    scale = int(getattr(net, "scale", 1))
    return ModelDescriptor(net.eval(), scale, source, kind, pretrained, trained, policy, metadata)


def _through_onnx(net: nn.Module) -> Any:
    """``net`` exported to ONNX and loaded in onnxruntime (the session keeps the model in memory)."""
    from srlib.inference.onnx import OnnxRuntimeModel, export_onnx

    with tempfile.TemporaryDirectory(prefix="srlib-onnx-") as folder:
        export_onnx(net, Path(folder) / "model.onnx")
        return OnnxRuntimeModel(Path(folder) / "model.onnx")
