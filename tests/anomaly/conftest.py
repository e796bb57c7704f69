"""Fixtures for the anomaly tests: a controllable clock and fresh registries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from constellation import anomaly
from constellation.anomaly import AnomalyRegistry
from tests._support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def registry(clock: FakeClock) -> Iterator[AnomalyRegistry]:
    reg = AnomalyRegistry(clock=clock)
    yield reg
    reg.shutdown()


@pytest.fixture
def default_registry(clock: FakeClock) -> Iterator[AnomalyRegistry]:
    """Installs a fresh registry as the module-level default, restored afterwards."""
    reg = AnomalyRegistry(clock=clock)
    previous = anomaly.set_registry(reg)
    yield reg
    anomaly.set_registry(previous)
    reg.shutdown()
