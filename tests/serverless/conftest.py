"""Fixtures for the serverless tests: a real platform in a temporary home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.platform import Constellation
from constellation.serverless import ServerlessService

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "serverless"
HANDLERS = str(FIXTURES / "handlers.py")


class FakeClock:
    """Wall-clock time that tests move forward by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_platform(home: Path, clock: FakeClock | None = None, **overrides: object) -> Constellation:
    settings = {
        "ledger_flush_interval_s": 0.05,
        "async_retry_base_s": 0.05,
        "reaper_interval_s": 3600.0,
    }
    settings.update(overrides)
    if clock is not None:
        return Constellation(home, clock=clock, **settings)
    return Constellation(home, **settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Constellation]:
    with make_platform(tmp_path / "home") as p:
        yield p


@pytest.fixture
def sls(platform: Constellation) -> ServerlessService:
    return platform.serverless
