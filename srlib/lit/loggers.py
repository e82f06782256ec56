"""Loggers that survive a resume: ``CSVLogger`` appends to the run's ``metrics.csv``, never deletes it."""

from __future__ import annotations

import csv
import logging
from typing import Any

from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

__all__ = ["CSVLogger"]

log = logging.getLogger(__name__)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued, not removed.

    Lightning's writer deletes the file when its folder is not empty (a fresh experiment per folder); a
    resumed srlib run writes into the same folder, so its earlier rows must stay. The existing header
    seeds the known columns, so new rows line up with the old ones (a new column rewrites the header,
    as Lightning does). Rows logged after the checkpoint a run resumes from are dropped first: the
    resumed run logs those steps again.
    """

    def __init__(self, log_dir: str, resume_step: int | None = None) -> None:
        self.resume_step = resume_step  # read by _check_log_dir_exists, which the parent's __init__ calls
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            rows, fields = list(reader), list(reader.fieldnames or [])
        if self.resume_step is not None:
            kept = [r for r in rows if not r.get("step") or int(float(r["step"])) < self.resume_step]
            if len(kept) != len(rows):
                with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                    writer = csv.DictWriter(file, fieldnames=fields)
                    writer.writeheader()
                    writer.writerows(kept)
                dropped = len(rows) - len(kept)
                log.info(
                    "metrics.csv: %d row(s) from step %d on dropped (logged again)", dropped, self.resume_step
                )
        self.metrics_keys = sorted(fields)
        log.info("Appending to %s (%d earlier row(s) kept)", self.metrics_file_path, len(rows))


class CSVLogger(LightningCSVLogger):
    """``lightning.pytorch.loggers.CSVLogger`` that appends to an existing ``metrics.csv`` (resumed runs).

    Args:
        resume_step: the global step the run resumes from; rows logged at or after it are dropped
            (``None``: keep every row).
        *args, **kwargs: as Lightning's ``CSVLogger``.
    """

    def __init__(self, *args: Any, resume_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume_step = resume_step

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, resume_step=self._resume_step)
        return self._experiment
