"""The micro-batcher: one model thread runs inputs of the same size together.

Request threads (image requests, video jobs) call :meth:`MicroBatcher.submit` with a float batch
``(n, 3, h, w)`` and a *key* (which prepared :class:`~srlib.inference.engine.Upscaler` to use). One
worker thread takes the oldest waiting input, gathers the other waiting inputs with the same key and
size (and, for up to ``window_s``, those that arrive while more requests are still being decoded)
until ``max_batch`` frames, concatenates them, runs the model once and hands each caller its slice.

Only this thread ever runs the model, so the model needs no lock and its memory is one batch; the
other threads decode, encode and do I/O meanwhile. The queue is bounded: :meth:`submit` raises
:class:`QueueFullError` when ``max_queue`` inputs are already waiting.

**Cancellation.** Each input may carry a ``cancel`` event (set when its client hangs up, or when its
request timed out and was answered 503). An input cancelled before it runs is skipped; while a batch
runs, the model calls :meth:`MicroBatcher.check_cancelled` between tiles and layers (see
:mod:`srlib.serve.model`), which stops the batch once *every* input in it is cancelled.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["CancelledWorkError", "MicroBatcher", "QueueFullError"]

log = logging.getLogger(__name__)

_POLL_S = 0.1


class QueueFullError(RuntimeError):
    """Too many inputs are waiting for the model (the caller should answer 503 and retry later)."""


class CancelledWorkError(Exception):
    """The input was cancelled (its client went away, or it timed out) before its result was made."""


@dataclass
class _Item:
    x: Tensor
    key: Hashable
    cancel: threading.Event | None = None
    future: Future = field(default_factory=Future)

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    @property
    def group(self) -> tuple:
        return (self.key, tuple(self.x.shape[1:]), self.x.dtype)


class MicroBatcher:
    """Run ``run(key, x)`` on one worker thread, batching waiting inputs of the same key and size.

    Args:
        run: ``run(key, batch) -> output batch`` (first dimension kept).
        max_batch: the most frames one call takes (a larger single input runs alone).
        window_s: how long to wait for more inputs while other requests are still being prepared.
        max_queue: waiting inputs before :meth:`submit` raises :class:`QueueFullError`.

    Example:
        >>> b = MicroBatcher(lambda key, x: x * 2, max_batch=4, window_s=0.0)
        >>> b.start()
        >>> b.submit(torch.ones(1, 3, 2, 2), "x2").result(timeout=5).sum().item()
        24.0
        >>> b.stop()
    """

    def __init__(
        self,
        run: Callable[[Hashable, Tensor], Tensor],
        *,
        max_batch: int = 8,
        window_s: float = 0.005,
        max_queue: int = 64,
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError(f"max_batch and max_queue must be at least 1, got {max_batch}, {max_queue}.")
        self._run = run
        self.max_batch = int(max_batch)
        self.window_s = float(window_s)
        self.max_queue = int(max_queue)
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._held: deque[_Item] = deque()  # taken from the queue but of another size than the batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waiting = 0
        self._preparing = 0
        self._running: list[_Item] = []
        self.calls = 0
        self.stopped_calls = 0
        self.frames = 0
        self.sizes: Counter[int] = Counter()
        self.last_batch = 0

    # -- the callers' side ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the model thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="srlib-serve-model", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the model thread; inputs still waiting get a ``RuntimeError``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for item in [*self._held, *self._drain()]:
            item.future.set_exception(RuntimeError("The server is shutting down."))
        self._held.clear()

    @contextmanager
    def preparing(self):
        """Mark a request whose input is being decoded: the model thread waits up to the window for it."""
        with self._lock:
            self._preparing += 1
        try:
            yield
        finally:
            with self._lock:
                self._preparing -= 1

    def submit(self, x: Tensor, key: Hashable = None, cancel: threading.Event | None = None) -> Future:
        """Queue ``x`` ``(n, C, h, w)``; the future gives ``run(key, x)``'s slice for it.

        Args:
            x: the input batch.
            key: which prepared model to run (handed to ``run``).
            cancel: set it to drop the input (before it runs) or stop its model call (while it runs).

        Raises:
            QueueFullError: ``max_queue`` inputs are already waiting.
        """
        if self._stop.is_set():
            raise RuntimeError("The server is shutting down.")
        with self._lock:
            if self._waiting >= self.max_queue:
                raise QueueFullError(f"{self._waiting} inputs are waiting for the model; retry shortly.")
            self._waiting += 1
        item = _Item(x, key, cancel)
        self._queue.put(item)
        return item.future

    def __call__(self, x: Tensor, key: Hashable = None, timeout: float | None = None) -> Tensor:
        """Submit ``x`` and wait for its result (what request threads do)."""
        return self.run(x, key, timeout)[0]

    def run(
        self,
        x: Tensor,
        key: Hashable = None,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[Tensor, int]:
        """Submit ``x`` and wait: its result, and how many frames the model call that made it took.

        Args:
            x: the input batch.
            key: which prepared model to run.
            timeout: seconds to wait for the result.
            cancel: the request's cancel event (set by its client going away); a timeout sets it too, so
                the model stops working for an answer nobody waits for.

        Raises:
            QueueFullError: too many inputs waiting.
            TimeoutError: no result within ``timeout`` seconds (the input is dropped, or its call stopped).
            CancelledWorkError: ``cancel`` was set while waiting.
        """
        cancel = cancel if cancel is not None else threading.Event()
        future = self.submit(x, key, cancel)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if cancel.is_set() or left <= 0:
                timed_out = not cancel.is_set()
                cancel.set()  # the model thread skips it, or stops its call between tiles and layers
                future.cancel()
                if timed_out:
                    raise TimeoutError
                raise CancelledWorkError
            try:
                return future.result(timeout=left), future.batch_frames  # type: ignore[attr-defined]
            except TimeoutError:
                continue

    def check_cancelled(self) -> None:
        """Called by the model between tiles and layers: stop the running batch once every input in it
        is cancelled (only on the model thread; elsewhere it does nothing).

        Raises:
            CancelledWorkError: every input of the running batch is cancelled.
        """
        if self._thread is None or threading.get_ident() != self._thread.ident:
            return
        running = self._running
        if running and all(item.cancelled for item in running):
            raise CancelledWorkError

    @property
    def waiting(self) -> int:
        """Inputs queued and not yet run."""
        return self._waiting

    def stats(self) -> dict:
        """Model calls, frames, the batch-size histogram, the last batch size and the queue length."""
        sizes = dict(sorted(self.sizes.items()))
        return {
            "model_calls": self.calls,
            "frames": self.frames,
            "mean_batch": round(self.frames / self.calls, 3) if self.calls else 0.0,
            "max_batch_seen": max(sizes, default=0),
            "last_batch": self.last_batch,
            "batch_sizes": {str(k): v for k, v in sizes.items()},
            "waiting": self._waiting,
            "stopped_calls": self.stopped_calls,
            "max_batch": self.max_batch,
            "window_ms": self.window_s * 1000,
        }

    # -- the model thread -------------------------------------------------------------------------
    def _drain(self) -> list[_Item]:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _next(self, timeout: float) -> _Item | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _gather(self, first: _Item) -> list[_Item]:
        group, frames = [first], first.x.shape[0]
        for item in list(self._held):  # same-size inputs put aside by an earlier batch go first
            if frames >= self.max_batch:
                break
            if item.group == first.group and frames + item.x.shape[0] <= self.max_batch:
                self._held.remove(item)
                group.append(item)
                frames += item.x.shape[0]
        deadline = time.monotonic() + self.window_s
        while frames < self.max_batch:
            item = self._next(0.0)
            if item is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._preparing == 0:  # nobody else is on the way: do not wait
                    break
                item = self._next(min(left, 0.002))
                if item is None:
                    continue
            if item.group == first.group and frames + item.x.shape[0] <= self.max_batch:
                group.append(item)
                frames += item.x.shape[0]
            else:
                self._held.append(item)
        return group

    def _loop(self) -> None:
        while not self._stop.is_set():
            first = self._held.popleft() if self._held else self._next(_POLL_S)
            if first is None:
                continue
            gathered = self._gather(first)
            with self._lock:
                self._waiting -= len(gathered)
            for item in gathered:
                if item.cancelled:
                    item.future.cancel()  # nobody waits for it: not run
            group = [item for item in gathered if item.future.set_running_or_notify_cancel()]
            if group:
                self._execute(group)

    def _execute(self, group: list[_Item]) -> None:
        self._running = group
        try:
            x = group[0].x if len(group) == 1 else torch.cat([item.x for item in group])
            y = self._run(group[0].key, x)
        except BaseException as err:  # every caller gets the error; the thread lives on
            if isinstance(err, CancelledWorkError):
                self.stopped_calls += 1
                log.info("stopped a model call of %d input(s): nobody waits for its result", len(group))
            else:
                log.debug("model call failed: %s", err)
            for item in group:
                item.future.set_exception(err)
            return
        finally:
            self._running = []
        self.calls += 1
        self.frames += x.shape[0]
        self.sizes[x.shape[0]] += 1
        self.last_batch = x.shape[0]
        start = 0
        for item in group:
            n = item.x.shape[0]
            item.future.batch_frames = x.shape[0]  # type: ignore[attr-defined]
            item.future.set_result(y[start : start + n])
            start += n
