"""Score whole images with a detector: tiles at native resolution, precision, bad input, many files.

How an image of any size becomes one verdict:

- It is **never resized**: resizing would smear or remove the very blocks the detector looks for.
  An image larger than the tile (224 px) is covered by up to ``grid x grid`` (3 x 3) tiles of 224 x 224
  at native resolution, spread evenly from edge to edge; the tiles go through the network as one batch
  and the image's logit is the mean of theirs (``aggregate="max"``: the highest, for small pixelated
  regions, at the cost of more false positives). A full-HD frame is thus 9 tiles: 9 times the cost of
  one 224 x 224 image.
- A side shorter than the tile is taken whole (the network ends in global pooling, so a 100 x 300 image
  is scored as one 100 x 224 tile set); a side under :data:`MIN_SIDE` (64 px) gets **no verdict**: a
  few blocks of a tiny image do not tell pixelation from content, so such a file is reported as an
  error instead of a guess.
- Gray images are scored as three equal channels; 16-bit images are scaled to [0, 1] (no rounding to
  8 bits); an alpha channel is composited over black (transparent areas become flat, which reads as
  clean).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["MIN_SIDE", "TILE", "DetectorRunner", "Verdict", "detect_files", "tile_batch"]

log = logging.getLogger(__name__)

#: Tile side in pixels (the network's input at inference).
TILE = 224
#: Images with a side shorter than this get no verdict.
MIN_SIDE = 64


@dataclass
class Verdict:
    """One file's result: the probability and verdict, or why there is none."""

    path: str
    probability: float | None = None
    pixelated: bool | None = None
    error: str | None = None

    def record(self) -> dict:
        """``{"path", "probability", "pixelated", "error"}`` for JSON/CSV."""
        return {
            "path": self.path,
            "probability": self.probability,
            "pixelated": self.pixelated,
            "error": self.error,
        }


def _starts(length: int, tile: int, count: int) -> list[int]:
    if length <= tile:
        return [0]
    n = min(count, -(-length // tile))
    return sorted({round(i * (length - tile) / max(1, n - 1)) for i in range(n)})


def tile_batch(rgb: Tensor, *, tile: int = TILE, grid: int = 3) -> Tensor:
    """``(3, H, W)`` -> ``(N, 3, min(tile, H), min(tile, W))``: up to ``grid x grid`` native-resolution tiles.

    Example:
        >>> tile_batch(torch.zeros(3, 1080, 1920)).shape
        torch.Size([9, 3, 224, 224])
        >>> tile_batch(torch.zeros(3, 100, 300)).shape
        torch.Size([2, 3, 100, 224])
    """
    h, w = rgb.shape[-2:]
    th, tw = min(tile, h), min(tile, w)
    tiles = [rgb[:, y : y + th, x : x + tw] for y in _starts(h, tile, grid) for x in _starts(w, tile, grid)]
    return torch.stack(tiles)


class DetectorRunner:
    """Run a detector on whole images: device, precision (``"auto"``: bf16 only where native), tiles.

    Args:
        net: a detector (``(B, 3, H, W)`` -> ``(B,)`` logits) with a ``threshold``.
        device: ``"cpu"``, ``"cuda"``, ... (default: CPU).
        dtype: ``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"`` (see :func:`srlib.precision.resolve_dtype`).
        threshold: verdict threshold (default: the detector's).
        aggregate: ``"mean"`` or ``"max"`` of the tile logits.
        tile / grid: tile side and the most tiles per side.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = "auto",
        threshold: float | None = None,
        aggregate: str = "mean",
        tile: int = TILE,
        grid: int = 3,
    ) -> None:
        from srlib.precision import resolve_dtype

        if aggregate not in ("mean", "max"):
            raise ValueError(f"aggregate must be 'mean' or 'max'; got {aggregate!r}.")
        threshold = float(getattr(net, "threshold", 0.5) if threshold is None else threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a probability strictly between 0 and 1; got {threshold}.")
        self.device = torch.device(device or "cpu")
        self.dtype = resolve_dtype(dtype, self.device)
        self.threshold, self.aggregate, self.tile, self.grid = threshold, aggregate, int(tile), int(grid)
        self.net = net.eval().to(self.device)
        if any(True for _ in self.net.parameters()):
            self.net = self.net.to(dtype=self.dtype, memory_format=torch.channels_last)

    @torch.inference_mode()
    def logits(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` float in [0, 1] -> ``(B,)`` float32 logits (no tiling)."""
        x = images.to(self.device).contiguous(memory_format=torch.channels_last)
        return self.net(x).float().cpu()

    def probability(self, rgb: Tensor) -> float:
        """One ``(3, H, W)`` image in [0, 1] -> the probability that it is pixelated.

        Raises:
            ValueError: a side shorter than :data:`MIN_SIDE`.
        """
        h, w = rgb.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise ValueError(
                f"the image is {w}x{h} px: too small to judge (the detector needs at least {MIN_SIDE} px on "
                "each side; a few blocks of a tiny image cannot tell pixelation from content)"
            )
        logits = self.logits(tile_batch(rgb, tile=self.tile, grid=self.grid))
        logit = logits.mean() if self.aggregate == "mean" else logits.max()
        return float(torch.sigmoid(logit))


def picture_rgb(picture) -> Tensor:
    """A :class:`~srlib.io.pictures.Picture` as ``(3, H, W)`` in [0, 1] (alpha over black)."""
    rgb = picture.rgb
    if picture.alpha is not None:
        rgb = rgb * picture.alpha
    return rgb


def detect_files(
    paths: Sequence[str | os.PathLike], runner: DetectorRunner, *, max_pixels: int | None = None
) -> list[Verdict]:
    """A :class:`Verdict` per file: a file that cannot be read or judged gets its error, the rest a score."""
    from srlib.io.pictures import read_picture

    verdicts = []
    for path in paths:
        try:
            probability = runner.probability(picture_rgb(read_picture(path, max_pixels=max_pixels)))
        except (OSError, ValueError) as err:
            message = str(err)
            if isinstance(err, OSError) and err.filename is not None and err.strerror:
                message = f"{err.strerror}"
            verdicts.append(Verdict(str(path), error=message))
            continue
        verdicts.append(Verdict(str(path), round(probability, 6), probability > runner.threshold))
    return verdicts


def expand_inputs(inputs: Sequence[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """The image files named by ``inputs`` (files as given; folders listed with ``list_images``).

    Folders are walked loop-safe (:func:`srlib._fs.walk_files`: no folder entered twice), and a file
    named twice (by two inputs, or a folder and a file inside it) is kept once, at its first place.

    Raises:
        FileNotFoundError: an input that does not exist.
        ValueError: a folder without images (the error names it).
    """
    from srlib.io.images import list_images

    files: list[Path] = []
    seen: set[str] = set()
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = list_images(path, recursive=recursive)
        elif path.exists():
            found = [path]
        else:
            raise FileNotFoundError(2, "No such file or folder", str(path))
        for file in found:
            real = os.path.realpath(file)
            if real not in seen:
                seen.add(real)
                files.append(file)
    return files
