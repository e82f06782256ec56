"""Many files on many machines: upscaling runs as Lightning ``Trainer.predict`` over a file list.

Each rank gets its own share of the files (Lightning's un-repeated distributed sampler for
prediction: no file is handled twice, none is skipped), writes its outputs atomically, and the
per-file records (written, skipped, failed and why) are gathered on every rank at the end.

    srlib.inference.upscale_files(pairs, model, devices=2)              # 2 CPU processes
    python -m srlib.upscale photos/ out/ --model m.safetensors --devices 4 --accelerator gpu

Multi-node: run the same command on every node with ``--num-nodes N`` and the usual
``MASTER_ADDR`` / ``MASTER_PORT`` / ``NODE_RANK`` environment (or under SLURM/torchrun), as any
Lightning job.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = ["FilePairs", "FileRecord", "UpscalePredictor", "upscale_files"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileRecord:
    """What happened to one input file."""

    src: str
    dst: str
    status: str  # "written" | "failed"
    error: str = ""
    seconds: float = 0.0


class FilePairs(Dataset):
    """``(source, destination)`` path pairs; an item is its index, the work happens in the module."""

    def __init__(self, pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]]) -> None:
        self.pairs = [(str(s), str(d)) for s, d in pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> int:
        return index


def _first(batch: Any) -> list[int]:
    return [int(i) for i in (batch.tolist() if isinstance(batch, torch.Tensor) else batch)]


class UpscalePredictor(L.LightningModule):
    """Runs ``process(src, dst, model)`` for each file of its rank's share and returns the records."""

    def __init__(
        self, model: nn.Module, pairs: FilePairs, process: Callable[[str, str, nn.Module], Any]
    ) -> None:
        super().__init__()
        self.model = model.eval()
        self.pairs = pairs
        self.process = process

    def predict_step(self, batch: Any, batch_idx: int) -> list[dict[str, Any]]:
        records = []
        for index in _first(batch):
            src, dst = self.pairs.pairs[index]
            start = time.perf_counter()
            try:
                self.process(src, dst, self.model)
                records.append(FileRecord(src, dst, "written", seconds=time.perf_counter() - start))
            except (OSError, ValueError, RuntimeError) as err:  # one bad file never stops the others
                log.warning("%s: %s", src, err)
                records.append(FileRecord(src, dst, "failed", str(err), time.perf_counter() - start))
        return [asdict(r) for r in records]  # plain dicts: Lightning walks the returned collection


def _gather(records: list[dict[str, Any]]) -> list[FileRecord]:
    """Every rank's records on every rank (the identity without a process group)."""
    parts = [records]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts = [[] for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather_object(parts, records)
    return [FileRecord(**r) for part in parts for r in part]


def upscale_files(
    pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    model: nn.Module,
    process: Callable[[str, str, nn.Module], Any],
    *,
    accelerator: str = "auto",
    devices: int | str = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
) -> list[FileRecord]:
    """Process every ``(src, dst)`` pair with ``process(src, dst, model)`` through ``Trainer.predict``.

    Args:
        pairs: input and output paths.
        model: the network (each rank holds a copy on its device).
        process: reads ``src``, upscales it with the model and writes ``dst`` (atomically).
        accelerator, devices, num_nodes, strategy: as ``lightning.Trainer``; ``devices=2`` on a CPU
            runs two processes (gloo).

    Returns:
        One :class:`FileRecord` per pair, in input order, from all ranks.
    """
    dataset = FilePairs(pairs)
    if not len(dataset):
        return []
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=False)
    had_group = torch.distributed.is_available() and torch.distributed.is_initialized()
    results = trainer.predict(UpscalePredictor(model, dataset, process), loader) or []
    records = _gather([r for batch in results for r in batch])
    if not had_group and torch.distributed.is_available() and torch.distributed.is_initialized():
        # The group was made for this run: close it, or gloo's threads can abort the interpreter at exit.
        torch.distributed.destroy_process_group()
    order = {pair: i for i, pair in enumerate(dataset.pairs)}
    return sorted(records, key=lambda r: order[(r.src, r.dst)])
