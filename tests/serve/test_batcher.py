"""The micro-batcher groups waiting inputs of one key and size, deterministically (no server, no timing)."""

from __future__ import annotations

import threading

import pytest
import torch

from srlib.serve.batcher import MicroBatcher


def test_inputs_waiting_while_the_model_runs_go_in_one_call() -> None:
    release, started = threading.Event(), threading.Event()
    calls: list[tuple[str, int]] = []

    def run(key: str, x: torch.Tensor) -> torch.Tensor:
        calls.append((key, x.shape[0]))
        started.set()
        assert release.wait(10)
        return x * 2

    batcher = MicroBatcher(run, max_batch=4, window_s=0.0)
    batcher.start()
    try:
        first = batcher.submit(torch.ones(1, 3, 4, 4), "a")
        assert started.wait(10)  # the model is busy with the first input
        same = [batcher.submit(torch.full((1, 3, 4, 4), float(i)), "a") for i in range(5)]
        other_size = batcher.submit(torch.ones(1, 3, 8, 8), "a")
        other_key = batcher.submit(torch.ones(1, 3, 4, 4), "b")
        release.set()
        outputs = [f.result(timeout=10) for f in [first, *same, other_size, other_key]]
    finally:
        release.set()
        batcher.stop()
    assert calls[0] == ("a", 1)
    assert ("a", 4) in calls and ("a", 1) in calls[1:]  # five waiting: four together, then one
    assert sorted(calls[1:]) == sorted([("a", 4), ("a", 1), ("a", 1), ("b", 1)])
    for i, out in enumerate(outputs[1:6]):  # each caller gets its own slice back
        assert torch.equal(out, torch.full((1, 3, 4, 4), 2.0 * i))
    assert batcher.stats()["max_batch_seen"] == 4


def test_a_failing_call_fails_only_its_own_batch() -> None:
    def run(key: str, x: torch.Tensor) -> torch.Tensor:
        if key == "bad":
            raise ValueError("broken input")
        return x

    batcher = MicroBatcher(run, max_batch=4, window_s=0.0)
    batcher.start()
    try:
        bad = batcher.submit(torch.ones(1, 3, 2, 2), "bad")
        good = batcher.submit(torch.ones(1, 3, 2, 2), "good")
        with pytest.raises(ValueError, match="broken input"):
            bad.result(timeout=10)
        assert torch.equal(good.result(timeout=10), torch.ones(1, 3, 2, 2))
    finally:
        batcher.stop()
