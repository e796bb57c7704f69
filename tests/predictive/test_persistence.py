"""Predictors survive a restart of the platform: samples (bounded), model, accuracy."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from constellation.errors import NotFoundError
from constellation.platform import Constellation

from .._support import FakeClock

SERIES = 'function_concurrency{function="resize"}'


def cycle(k: int) -> float:
    return 10.0 + 8.0 * math.sin(2 * math.pi * k / 120)


def test_a_restarted_platform_forecasts_at_once_from_the_saved_model(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    start = clock() - 1200 * 60
    with Constellation(tmp_path / "home", clock=clock, background=False) as p:
        for k in range(1201):
            p.telemetry.record("function_concurrency", cycle(k), start + 60 * k,
                               {"function": "resize"})  # fmt: skip
        before = p.predictive.forecast(SERIES, 600)
        cpu = p.predictive.create(metric_name="cpu", max_samples=50, model="ets")
        cpu.add_samples((start + 60 * k, cycle(k)) for k in range(200))  # 150 fall out
        cpu.train()
        cpu.predict(60)
        cpu.add_sample(cycle(200), start + 60 * 200)  # scores that prediction
        trained_at = cpu.get_stats()["trained_at"]
        accuracy = cpu.get_accuracy()
        assert accuracy["count"] == 1

    with Constellation(tmp_path / "home", clock=clock, background=False) as p:
        assert p.telemetry.find("function_concurrency") == []  # telemetry starts empty
        after = p.predictive.forecast(SERIES, 600)
        assert after.value == pytest.approx(before.value)
        assert after.confidence == pytest.approx(before.confidence)
        cpu = p.predictive.get("cpu")
        assert cpu.trained and len(cpu) == 50  # bounded as configured
        assert cpu.get_stats()["trained_at"] == trained_at  # not retrained
        assert cpu.get_accuracy() == accuracy
        assert cpu.samples()[0][-1] == start + 60 * 200

        # New points after the restart: the next model also keeps the saved history.
        clock.advance(3600)
        for k in range(1201, 1262):
            p.telemetry.record("function_concurrency", cycle(k), start + 60 * k,
                               {"function": "resize"})  # fmt: skip
        p.predictive.forecast(SERIES, 600)
        stats = p.predictive._derived[SERIES].get_stats()
        assert stats["samples"] == 1262


def test_a_destroyed_predictor_stays_destroyed(tmp_path: Path) -> None:
    with Constellation(tmp_path / "home", background=False) as p:
        cpu = p.predictive.create(metric_name="cpu")
        cpu.add_samples((1000.0 + i, float(i % 7)) for i in range(40))
        p.predictive.forecast("cpu", 5)  # trains and saves
        assert p.predictive.destroy("cpu")
    with Constellation(tmp_path / "home", background=False) as p, pytest.raises(NotFoundError):
        p.predictive.get("cpu")
