"""The registry, the retrain loop (driven by an injected clock) and the platform hook."""

from __future__ import annotations

import pytest

from constellation import predictive
from constellation.errors import ConflictError, NotFoundError
from constellation.predictive import (
    ForecastProvider,
    NoSeriesError,
    PredictiveService,
    PredictiveValidationError,
)
from constellation.telemetry import Telemetry

from .._support import FakeClock, wait_until
from .conftest import T0, cpu_series


def test_create_get_destroy_and_conflicts(clock: FakeClock) -> None:
    with PredictiveService(clock) as svc:
        p = svc.create(metric_name="a")
        assert svc.get("a") is p and svc.names() == ["a"]
        with pytest.raises(ConflictError, match="exists"):
            svc.create({"metric_name": "a"})
        assert svc.destroy("a") and not svc.destroy("a")
        with pytest.raises(NotFoundError):
            svc.get("a")


def test_tick_retrains_on_the_interval_of_the_injected_clock(clock: FakeClock) -> None:
    with PredictiveService(clock) as svc:
        p = svc.create(
            metric_name="cpu", model="seasonal_naive", retrain_interval=60, training_window=0
        )
        assert svc.tick() == []  # no samples yet: nothing to train
        p.add_samples(cpu_series(50))
        assert svc.tick() == ["cpu"]  # first training
        clock.advance(30)
        assert svc.tick() == []  # not due
        clock.advance(31)
        assert svc.tick() == ["cpu"]  # interval elapsed
        assert p.get_stats()["trained_at"] == clock.now


def test_tick_retrains_early_when_coverage_drops(clock: FakeClock) -> None:
    with PredictiveService(clock) as svc:
        p = svc.create(
            metric_name="cpu",
            model="seasonal_naive",
            retrain_interval=10_000,
            training_window=0,
            retrain_coverage_below=0.8,
        )
        pts = cpu_series(100)
        p.add_samples(pts)
        assert svc.tick() == ["cpu"]
        last = pts[-1][0]
        for k in range(1, 31):
            p.predict(36.0 * k)
        # the level shifts by far more than the intervals allow
        p.add_samples((last + 36.0 * k, 500.0) for k in range(1, 31))
        assert p.get_accuracy()["coverage"] == 0.0
        assert svc.tick() == ["cpu"]


def test_a_failing_retrain_is_recorded_and_the_loop_goes_on(clock: FakeClock) -> None:
    with PredictiveService(clock) as svc:
        p = svc.create(
            metric_name="few", min_samples=20, retrain_interval=1, training_window=36 * 3
        )
        p.add_samples(cpu_series(30))
        assert svc.tick() == []
        assert "few: samples" in svc.errors[-1]


def test_background_loop_starts_stops_and_retrains() -> None:
    svc = PredictiveService()
    p = svc.create(metric_name="bg", model="seasonal_naive", training_window=0)
    p.add_samples(cpu_series(40))
    svc.init(tick_seconds=0.01)
    svc.init(tick_seconds=0.01)  # idempotent
    assert svc.is_running()
    wait_until(lambda: p.trained, what="the background loop trains the predictor")
    svc.shutdown()
    svc.shutdown()  # idempotent
    assert not svc.is_running()


def test_predict_by_name_from_a_real_telemetry(clock: FakeClock) -> None:
    telemetry = Telemetry()
    for ts, value in cpu_series(200, step=60.0, period=24):
        telemetry.record("function_concurrency", value, ts, labels={"function": "resize"})
    with PredictiveService(clock) as svc:
        svc.set_series_source(telemetry)
        key = 'function_concurrency{function="resize"}'
        pred = svc.forecast(key, 600)
        assert pred.timestamp == T0 + 199 * 60 + 600 and 30 < pred.value < 70
        # a bare name carried by one series works too, and the trained model is cached
        assert svc.forecast("function_concurrency", 600).value == pytest.approx(pred.value)
        telemetry.record("function_concurrency", 1.0, T0, labels={"function": "other"})
        with pytest.raises(PredictiveValidationError, match="matches several series"):
            svc.forecast("function_concurrency", 600)
        with pytest.raises(NoSeriesError):
            svc.forecast("nothing_recorded", 600)


def test_series_source_callable_and_module_level_hook(fresh_default: None) -> None:
    calls: list[str] = []

    def source(name: str) -> list[tuple[float, float]]:
        calls.append(name)
        return cpu_series(150) if name == "invocations" else []

    predictive.set_series_source(source)
    pred = predictive.predict("invocations", 36)
    assert calls == ["invocations"] and pred.model
    with pytest.raises(NoSeriesError, match="not found"):
        predictive.predict("unknown", 36)
    predictive.set_series_source(None)
    with pytest.raises(NoSeriesError):
        predictive.predict("invocations", 36)


def test_service_is_a_forecast_provider() -> None:
    assert isinstance(PredictiveService(), ForecastProvider)
    assert isinstance(predictive.default_service(), ForecastProvider)
