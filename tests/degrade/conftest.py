"""Degradation tests run on tiny images, where one CPU thread is fastest.

On a shared, busy machine two OpenMP threads on 32x32 tensors spend their time waiting for each other
(the whole folder took ~40 s that way and ~5 s with one thread); the results are the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
