"""Fixtures for the predictive tests: a fake clock and a fresh default service."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from constellation import predictive

from .._support import FakeClock

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def fresh_default() -> Iterator[None]:
    """The module-level API with a clean default service, shut down afterwards."""
    predictive.shutdown()
    yield
    predictive.shutdown()


def cpu_series(
    n: int, step: float = 36.0, period: int = 20, seed: int = 0
) -> list[tuple[float, float]]:
    """(timestamp, value) pairs: a cycle of ``period`` samples around 50 with noise."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    values = 50 + 10 * np.sin(2 * np.pi * i / period) + rng.normal(0, 1, n)
    return [(T0 + k * step, float(v)) for k, v in zip(i, values, strict=True)]
