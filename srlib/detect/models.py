"""Pixelation detectors: plain ``nn.Module``s, RGB ``(B, 3, H, W)`` in [0, 1] in, one logit per image out.

Registered like the zoo (:func:`register_detector_model`): :func:`create_detector` builds one by name
(``pretrained=True`` loads the weights shipped inside srlib, verified against their card, with the
card's threshold), or rebuilds one from a weight file written by :func:`save_detector` (srlib's one
weight format: ``srlib.save_model`` with ``kind="detector"``, read by ``srlib.load_model``'s machinery);
:func:`list_detectors` names them.

- ``mobilenetv3_canny``: MobileNetV3-small (timm, trained from scratch) whose input is the RGB image plus
  its Canny edge map (kornia, computed inside ``forward`` on the input's device), as DeepClarity's
  detector;
- ``block_period``: the classical baseline (:class:`~srlib.detect.baseline.BlockPeriodDetector`).

Every detector carries ``threshold`` (the probability above which an image counts as pixelated).
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from srlib._registry import Registry, check_kwargs
from srlib.detect.baseline import BlockPeriodDetector
from srlib.models import WeightFileError, load_checked, load_model, save_model

__all__ = [
    "DetectorWeightsError",
    "MobileNetV3Canny",
    "create_detector",
    "list_detectors",
    "load_detector",
    "register_detector",
    "register_detector_model",
    "resolve_detector",
    "save_detector",
]

_DETECTORS: Registry[Callable[..., nn.Module]] = Registry(
    "detector", hint="A .safetensors detector file works too."
)
#: The registered detector used when none is named (CLI, ``upscale --only-pixelated``).
DEFAULT_DETECTOR = "mobilenetv3_canny"


class DetectorWeightsError(WeightFileError):
    """A detector weight file that is missing, damaged or not a detector's (a ``ValueError``)."""


def register_detector_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a detector class or constructor under ``name`` for :func:`create_detector`.

    Its signature names the settings ``create_detector(name, **settings)`` accepts (a constructor
    taking ``**kwargs`` accepts any). Not :func:`srlib.models.register_detector`, which attaches a
    checkpoint-key detector to an SR model.

    Raises:
        ValueError: ``name`` is registered already.

    Example:
        >>> @register_detector_model("always_clean")
        ... class AlwaysClean(nn.Module):
        ...     threshold = 0.5
        ...
        ...     def forward(self, x: Tensor) -> Tensor:
        ...         return torch.full((x.shape[0],), -10.0)
        >>> create_detector("always_clean")(torch.rand(2, 3, 32, 32))
        tensor([-10., -10.])
        >>> del _DETECTORS["always_clean"]
    """
    return _DETECTORS.register(name)


#: The name this decorator had first; :func:`register_detector_model` says what it registers.
register_detector = register_detector_model


def list_detectors() -> list[str]:
    """Names accepted by :func:`create_detector`.

    Example:
        >>> list_detectors()
        ['block_period', 'mobilenetv3_canny']
    """
    return _DETECTORS.names()


class MobileNetV3Canny(nn.Module):
    """MobileNetV3-small on RGB + Canny edges (4 input channels), one logit per image.

    The edge map is kornia's Canny on the luma (light smoothing), without hysteresis (the hysteresis
    loop costs 5x the rest of the edge map and changes little for this task), computed inside
    ``forward`` in float32. Inputs of any size >= 32 px work (the network ends in global pooling).

    Args:
        edges: add the Canny channel (``False``: plain RGB MobileNetV3, the ablation).
        low_threshold / high_threshold: Canny thresholds on the gradient magnitude.
        canny_sigma: the Gaussian smoothing before Canny (0.5 with a 3x3 kernel by default: kornia's
            default sigma 1 smears 2 px blocks away; above 0.8 the kernel is 5x5).
        width: MobileNetV3 width multiplier (1.0 = ``mobilenetv3_small_100``).
        threshold: probability threshold of the verdict.

    Shape:
        - input: ``(B, 3, H, W)`` in [0, 1]; output: ``(B,)`` logits.

    Example:
        >>> net = MobileNetV3Canny().eval()
        >>> net(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2])
    """

    srlib_kind = "detector"  #: what ``srlib.save_model`` writes it as

    def __init__(
        self,
        *,
        edges: bool = True,
        low_threshold: float = 0.1,
        high_threshold: float = 0.2,
        canny_sigma: float = 0.5,
        width: float = 1.0,
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        import timm

        self.edges, self.low_threshold, self.high_threshold = (
            bool(edges),
            float(low_threshold),
            float(high_threshold),
        )
        self.width, self.threshold, self.canny_sigma = float(width), float(threshold), float(canny_sigma)
        if not 0.0 < self.canny_sigma <= 2.0:
            raise ValueError(f"canny_sigma must be in (0, 2]; got {canny_sigma}.")
        name = "mobilenetv3_small_100" if self.width == 1.0 else "mobilenetv3_small_075"
        if self.width not in (1.0, 0.75):
            raise ValueError(f"width must be 1.0 or 0.75; got {width}.")
        self.backbone = timm.create_model(
            name, pretrained=False, in_chans=4 if self.edges else 3, num_classes=1
        )
        # timm initialises a 1-output head with U(-1, 1) weights over 1024 features: logits of +-5 at the
        # start of training and loss spikes for hundreds of steps. A small head starts at p = 0.5.
        nn.init.normal_(self.backbone.classifier.weight, std=0.01)
        nn.init.zeros_(self.backbone.classifier.bias)
        channels = 4 if self.edges else 3
        self.register_buffer("mean", torch.full((1, channels, 1, 1), 0.5), persistent=False)
        self.register_buffer("std", torch.full((1, channels, 1, 1), 0.25), persistent=False)

    @property
    def srlib_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this network (written by :func:`save_detector`)."""
        return {
            "edges": self.edges,
            "low_threshold": self.low_threshold,
            "high_threshold": self.high_threshold,
            "canny_sigma": self.canny_sigma,
            "width": self.width,
        }

    def edge_map(self, x: Tensor) -> Tensor:
        """``(B, 1, H, W)`` Canny edges (0/1) of ``x``'s luma, in float32."""
        import kornia

        gray = kornia.color.rgb_to_grayscale(x.float())
        size = 3 if self.canny_sigma <= 0.8 else 5
        # Always float32, also under mixed-precision training: thresholds and non-maximum suppression in
        # bf16 would give other edges in training than at inference.
        with torch.autocast(device_type=x.device.type, enabled=False), _plain_cpu_convolutions(x):
            _, edges = kornia.filters.canny(
                gray,
                low_threshold=self.low_threshold,
                high_threshold=self.high_threshold,
                kernel_size=(size, size),
                sigma=(self.canny_sigma, self.canny_sigma),
                hysteresis=False,
            )
        return edges

    def features(self, x: Tensor) -> Tensor:
        """The network's normalised input: RGB (+ edges), in ``x``'s memory format."""
        if self.edges:
            x = torch.cat([x.float(), self.edge_map(x)], dim=1)
        return (x - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{type(self).__name__} takes (B, 3, H, W) RGB in [0, 1]; got {tuple(x.shape)}.")
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"{type(self).__name__} needs at least 32x32 px; got {tuple(x.shape[-2:])}.")
        inp = self.features(x)
        first = next(self.backbone.parameters())
        if first.dtype != inp.dtype:
            inp = inp.to(first.dtype)
        if x.is_contiguous(memory_format=torch.channels_last) or _channels_last(first):
            inp = inp.contiguous(memory_format=torch.channels_last)
        return self.backbone(inp).flatten().float()


def _channels_last(weight: Tensor) -> bool:
    return (
        weight.ndim == 4 and weight.is_contiguous(memory_format=torch.channels_last) and weight.shape[-1] > 1
    )


@contextlib.contextmanager
def _plain_cpu_convolutions(x: Tensor) -> Iterator[None]:
    """On the CPU, run Canny's one-channel 3x3 convolutions outside oneDNN.

    oneDNN is slow for single-channel tiny kernels: measured on an AMD EPYC (Zen 4, 2 threads), kornia's
    Canny on 64 x 224 x 224 took 434 ms with it and 193 ms without; the edges were the same but for
    threshold ties (3e-7 of the pixels). The switch is process-wide while it lasts.
    """
    if x.device.type != "cpu":
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flags context warns about TF32 on Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False):
            yield


register_detector_model("mobilenetv3_canny")(MobileNetV3Canny)
register_detector_model("block_period")(BlockPeriodDetector)


# -- weights: srlib's one weight format (srlib.models.save_model / load_model), kind "detector" ---------
def _build(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """``name(**kwargs)`` from the registry, as :func:`create_detector` names it (for the weight loaders)."""
    if name not in _DETECTORS:
        raise _DETECTORS.unknown(name)
    net = _DETECTORS[name](**kwargs)
    net.srlib_arch, net.srlib_kind = name, "detector"
    return net


def save_detector(
    net: nn.Module, path: str | os.PathLike, *, arch: str | None = None, extra: dict | None = None
) -> Path:
    """Write ``net``'s weights (fp16) and what rebuilds it, atomically, in srlib's one weight format.

    :func:`srlib.save_model` with ``kind="detector"``: the header holds the architecture, its settings
    (``srlib_config``), the format and srlib versions, and ``threshold`` (plus ``extra``).

    Args:
        net: the detector.
        path: destination (``.safetensors`` is appended when missing).
        arch: its registered name (default: the one :func:`create_detector` gave it).
        extra: more entries for the header (``global_step``).
    """
    metadata = {"threshold": str(float(getattr(net, "threshold", 0.5))), **(extra or {})}
    return save_model(net, path, metadata=metadata, arch=arch, kind="detector", dtype=torch.float16)


def load_detector(path: str | os.PathLike, *, threshold: float | None = None) -> nn.Module:
    """Rebuild a detector from a file written by :func:`save_detector` (weights cast back to float32).

    Detector files written before detectors shared srlib's weight format (no ``format`` entry) load too.

    Raises:
        DetectorWeightsError: the file is missing, damaged, or not a detector's.
    """
    path = Path(path).expanduser()
    try:
        net = load_model(path, kind="detector", build=_build)
    except (FileNotFoundError, WeightFileError) as err:
        raise DetectorWeightsError(str(err)) from err
    return _with_threshold(net, net.srlib_file_metadata.get("threshold"), threshold)


def _with_threshold(net: nn.Module, stored: str | float | None, asked: float | None) -> nn.Module:
    """``net`` with the threshold asked for, else the stored one, else its own."""
    if asked is not None or stored is not None:
        net.threshold = float(asked if asked is not None else stored)
    return net


def _shipped(name: str, threshold: float | None) -> nn.Module:
    """The detector ``name`` with the weights shipped inside srlib (verified) and its card's threshold."""
    from srlib._package_weights import find_packaged

    entry = find_packaged("detector", name)
    state, metadata = entry.read()
    net = _build(name, json.loads(metadata.get("kwargs") or "{}"))
    load_checked(
        net,
        state,
        source=str(entry.files[0]),
        what=f"detector {name!r}",
        hint="The shipped file does not fit its detector: reinstall srlib (pip install --force-reinstall).",
    )
    net = _with_threshold(net.eval(), entry.card.get("threshold", metadata.get("threshold")), threshold)
    net.srlib_pretrained = entry.name
    return net


def create_detector(
    name: str = DEFAULT_DETECTOR, *, pretrained: bool = False, threshold: float | None = None, **kwargs: Any
) -> nn.Module:
    """A pixelation detector by registered name, or rebuilt from a detector weight file.

    Args:
        name: a name from :func:`list_detectors`, or the path of a ``.safetensors`` detector file.
        pretrained: load the weights shipped inside srlib (offline), with the threshold of their card.
        threshold: override the verdict threshold (a probability in (0, 1)).
        **kwargs: architecture settings (random-weight detectors only).

    Raises:
        ValueError: an unknown name (with close matches and the valid ones), a bad threshold, unknown
            settings (with the valid ones).
        PackagedWeightsError: the shipped weight file is missing or damaged (a ``ValueError``).
        DetectorWeightsError: a weight file that is missing, damaged or not a detector's.

    Example:
        >>> create_detector("block_period").threshold
        0.5
    """
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must be a probability strictly between 0 and 1; got {threshold}.")
    if name not in _DETECTORS:
        if str(name).endswith(".safetensors") or Path(str(name)).expanduser().is_file():
            return load_detector(name, threshold=threshold)
        raise _DETECTORS.unknown(name)
    if pretrained and name == "block_period":
        pretrained = False  # nothing to load: the baseline has no weights
    if pretrained:
        if kwargs:
            raise ValueError(f"pretrained=True takes no architecture settings; got {sorted(kwargs)}.")
        return _shipped(name, threshold)
    check_kwargs(_DETECTORS[name], kwargs, what=f"Detector {name!r}", var_keyword=True)
    try:
        net = _build(name, kwargs)
    except TypeError as err:
        raise ValueError(f"bad settings for detector {name!r}: {err}") from err
    return _with_threshold(net, None, threshold)


def resolve_detector(model: str = DEFAULT_DETECTOR, *, threshold: float | None = None) -> nn.Module:
    """The detector a command line names: a registered name (with its shipped weights) or a weight file.

    ``block_period`` (no weights) is built as is; a learned detector without shipped weights is an error
    (random weights would give verdicts on nothing).

    Example:
        >>> type(resolve_detector("block_period")).__name__
        'BlockPeriodDetector'
    """
    from srlib._package_weights import list_packaged

    if model in _DETECTORS:
        if model == "block_period":
            return create_detector(model, threshold=threshold)
        if not list_packaged("detector", model):
            raise ValueError(f"srlib ships no weights for detector {model!r}; pass a detector weight file.")
        return create_detector(model, pretrained=True, threshold=threshold)
    return create_detector(model, threshold=threshold)
