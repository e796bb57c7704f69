"""Fixtures for the serverless tests: a real platform in a temporary home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.platform import Constellation
from constellation.serverless import ServerlessService

from .._support import FakeClock  # the shared one; test_billing still imports it from here

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "serverless"
HANDLERS = str(FIXTURES / "handlers.py")


# The backend the serverless suite runs on: every test runs once per backend (see
# pytest_generate_tests below); make_platform builds platforms on the current one.
_backend = "local"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("local_only"):
            metafunc.parametrize("backend", ["local"], indirect=True)
        else:
            ray = pytest.param("ray", marks=pytest.mark.ray)
            metafunc.parametrize("backend", ["local", ray], indirect=True)


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """``local`` or ``ray``: the backend this run of the test uses."""
    global _backend
    name = str(getattr(request, "param", "local"))
    if name == "ray":
        request.getfixturevalue("ray_cluster")
    _backend = name
    try:
        yield name
    finally:
        _backend = "local"


def make_platform(home: Path, clock: FakeClock | None = None, **overrides: object) -> Constellation:
    settings: dict[str, object] = {
        "backend": _backend,
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
