"""Predictive scaling wired into the platform: the autoscaler asks for a forecast."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from constellation.platform import Constellation

HANDLERS = str(Path(__file__).resolve().parent / "fixtures" / "serverless" / "handlers.py")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_autoscaler_takes_a_confident_forecast_of_concurrency(tmp_path: Path) -> None:
    clock = Clock()
    with Constellation(tmp_path / "home", clock=clock, background=False) as platform:
        sls = platform.serverless
        f = sls.create_function(
            "predicted",
            "python",
            "noop",
            HANDLERS,
            scaling_policy={
                "enable_predictive_scaling": True,
                "target_concurrency": 100,
                "max_instances": 50,
            },
        )
        sls.invoke_sync(f.id)  # makes the pool the autoscaler looks at
        sls.autoscaler.forecaster = platform.forecast_concurrency
        # Ten periods of a clean daily-like cycle of demand, one point a minute.
        start = clock.now - 10 * 120 * 60
        for k in range(10 * 120):
            value = 10 + 8 * math.sin(2 * math.pi * k / 120)
            platform.telemetry.record(
                "function_concurrency", value, start + 60 * k, {"function": "predicted"}
            )
        forecast = platform.forecast_concurrency(sls.get_function(f.id), 60.0)
        assert forecast is not None and 1.0 < forecast.value < 20.0
        # The next point of the cycle is exactly 10 in flight, and the cycle is clean.
        assert forecast.value == pytest.approx(10.0, abs=0.5)
        assert forecast.confidence >= forecast.threshold
        decision = sls.autoscaler.tick(clock.now)[f.id]
        assert decision.predicted == 10 and decision.desired == 10
        assert decision.reason.startswith("predictive")
        log = sls.get_scaling_decisions(f.id)
        assert log[-1]["desired"] == decision.desired


def test_no_history_means_no_forecast(tmp_path: Path) -> None:
    with Constellation(tmp_path / "home", background=False) as platform:
        f = platform.serverless.create_function("fresh", "python", "noop", HANDLERS)
        assert platform.forecast_concurrency(f, 60.0) is None
