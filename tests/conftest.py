"""Shared fixtures: an isolated platform home, and the shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def tmp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$CONSTELLATION_HOME`` for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("CONSTELLATION_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$CONSTELLATION_DATA`` (default ``../shared/data``).

    Skips with the reason when the data is absent, except under CI
    (``CONSTELLATION_REQUIRE_DATA=1``), where a missing data set is a failure.
    """
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(os.environ.get("CONSTELLATION_DATA") or default)
    if not path.is_dir():
        reason = f"shared data not found at {path}: set CONSTELLATION_DATA to its folder"
        if os.environ.get("CONSTELLATION_REQUIRE_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
