"""Predictor behaviour: bad input, poisoning, accuracy, series, trend, memory, constants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from constellation.errors import ClosedError, ValidationError
from constellation.predictive import (
    MODELS,
    InsufficientDataError,
    NotTrainedError,
    PredictiveValidationError,
    Predictor,
    PredictorConfig,
)

from .._support import FakeClock
from .conftest import T0, cpu_series


def make(clock: FakeClock | None = None, **kw: object) -> Predictor:
    # "ets" keeps these tests quick where the model does not matter; the ensemble is
    # exercised in test_seed.py, test_intervals.py and the memory test below.
    cfg = PredictorConfig.from_value(
        {"metric_name": "m", "training_window": 0, "model": "ets", **kw}
    )
    return Predictor(cfg, clock or FakeClock())


def trained(n: int = 120, **kw: object) -> Predictor:
    p = make(**kw)
    p.add_samples(cpu_series(n))
    p.train()
    return p


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e200, "abc"])
def test_invalid_samples_are_rejected_and_change_nothing(bad: object) -> None:
    p = trained()
    before = p.predict(60)
    with pytest.raises(PredictiveValidationError) as err:
        p.add_sample(bad, T0 + 10_000)  # type: ignore[arg-type]
    assert err.value.field == "value" and isinstance(err.value, ValidationError)
    assert len(p) == 120
    p.train()
    assert p.predict(60).value == pytest.approx(before.value)


def test_invalid_samples_can_be_skipped_when_configured() -> None:
    p = make(invalid="skip")
    assert p.add_sample(float("nan"), T0) is False
    assert p.add_sample(1.0, T0) is True
    assert p.skipped == 1 and len(p) == 1
    assert p.get_stats()["skipped_samples"] == 1


def test_too_few_samples_says_how_many_are_needed() -> None:
    p = make(min_samples=10)
    p.add_samples(cpu_series(4))
    with pytest.raises(InsufficientDataError, match="4 usable samples; at least 10 are needed"):
        p.train()
    with pytest.raises(NotTrainedError, match="call train"):
        p.predict(60)


@pytest.mark.parametrize("horizon", [0, -5, float("nan"), float("inf"), "soon"])
def test_horizon_must_be_positive(horizon: object) -> None:
    p = trained()
    with pytest.raises(PredictiveValidationError, match="horizon_seconds") as err:
        p.predict(horizon)  # type: ignore[arg-type]
    assert err.value.field == "horizon_seconds"


def test_horizon_too_far_ahead_is_refused() -> None:
    with pytest.raises(PredictiveValidationError, match="too far ahead"):
        trained().predict(36.0 * 200_000)


def test_unknown_model_lists_the_models() -> None:
    with pytest.raises(PredictiveValidationError) as err:
        make(model="prophet")
    assert err.value.field == "model"
    for name in MODELS:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("level", 1.0, "level: 1.0 is out of range; expected (0, 1)"),
        ("confidence_threshold", 1.5, "confidence_threshold: 1.5 is out of range; expected [0, 1]"),
        ("max_samples", 5, "max_samples: 5 is out of range; expected an integer >= 10"),
        ("invalid", "drop", "invalid: 'drop' is not allowed; expected one of 'reject', 'skip'"),
        ("training_window", -1, "training_window: -1 is out of range; expected [0, 1e+12]"),
        ("colour", "red", "colour: unknown setting; known settings: accuracy_window"),
    ],
)
def test_config_errors_are_exact(key: str, value: object, message: str) -> None:
    with pytest.raises(PredictiveValidationError) as err:
        PredictorConfig.from_value({"metric_name": "m", key: value})
    assert str(err.value).startswith(message)


def test_seed_model_names_are_accepted_as_aliases() -> None:
    assert PredictorConfig("m", model="exponential").model == "ets"
    assert PredictorConfig("m", model="seasonal").model == "stl"


def test_constant_series_and_zeros_forecast_themselves() -> None:
    for level in (42.0, 0.0):
        p = make()
        p.add_samples((T0 + 10 * i, level) for i in range(30))
        assert p.train() == "constant"
        pred = p.predict(100)
        assert (pred.value, pred.lower_bound, pred.upper_bound) == (level, level, level)
        assert pred.confidence == 1.0 and p.get_stats()["constant"] is True


def test_very_large_but_finite_values_are_forecast_without_overflow() -> None:
    p = make()
    p.add_samples((ts, v * 1e120) for ts, v in cpu_series(100))
    p.train()
    pred = p.predict(60)
    assert math.isfinite(pred.value) and 1e121 < pred.value < 1e122


def test_irregular_duplicated_out_of_order_samples_with_a_gap() -> None:
    rng = np.random.default_rng(2)
    pts = cpu_series(200)
    del pts[80:95]  # a gap
    pts += pts[10:20]  # duplicates
    order = rng.permutation(len(pts))
    p = make()
    p.add_samples(pts[i] for i in order)
    p.train()
    stats = p.get_stats()
    assert stats["filled_gaps"] == 15 and stats["merged_samples"] == 10
    assert stats["step_seconds"] == 36.0
    assert 30 < p.predict(36).value < 70


def test_training_window_limits_the_history_used() -> None:
    p = make(training_window=36 * 50, model="seasonal_naive")
    p.add_samples(cpu_series(300))
    p.train()
    assert p.get_stats()["training_samples"] == 51


@pytest.mark.slow
def test_buffer_is_bounded_and_memory_stays_small() -> None:
    p = make(max_samples=10_000, model="ensemble")
    p.add_samples(cpu_series(12_000, period=24))
    assert len(p) == 10_000
    p.train()
    assert p.memory_bytes() < 1_000_000


def test_predict_series_and_interpolation_between_steps() -> None:
    p = trained(model="seasonal_naive")
    series = p.predict_series(360, 36)
    assert [s.horizon for s in series] == [36.0 * k for k in range(1, 11)]
    half = p.predict(18)  # half a step: between the last value and step 1
    last = cpu_series(120)[-1][1]
    assert half.value == pytest.approx((last + series[0].value) / 2)
    with pytest.raises(PredictiveValidationError, match="step_seconds"):
        p.predict_series(100, 0)


def test_accuracy_is_tracked_when_actuals_arrive() -> None:
    pts = cpu_series(160)
    p = make()
    p.add_samples(pts[:120])
    p.train()
    for k in range(1, 41):
        p.predict(36.0 * k)
    p.add_samples(pts[120:])
    acc = p.get_accuracy()
    assert acc["count"] == 40 and acc["pending"] == 0
    assert acc["mape"] is not None and acc["accuracy"] == pytest.approx(100 - acc["mape"])
    assert 0 <= acc["coverage"] <= 1 and acc["mase"] is not None  # type: ignore[operator]
    assert acc["smape"] is not None and acc["zero_actuals"] == 0


def test_mape_is_undefined_when_every_actual_is_zero() -> None:
    p = make(model="seasonal_naive")
    p.add_samples((T0 + 10 * i, float(i % 2)) for i in range(40))
    p.train()
    p.predict(20)
    p.add_sample(0.0, T0 + 410)  # the actual for T0 + 390 + 20
    acc = p.get_accuracy()
    assert acc["count"] == 1 and acc["zero_actuals"] == 1
    assert acc["mape"] is None and acc["accuracy"] is None


def test_trend_direction() -> None:
    up = make()
    up.add_samples((T0 + 60 * i, 10 + 0.5 * i + (i % 3)) for i in range(100))
    up.train()
    trend = up.get_trend()
    assert trend.direction == "up" and trend.slope == pytest.approx(0.5 / 60, rel=0.05)
    flat = trained()
    assert flat.get_trend().direction == "flat"


def test_destroyed_predictor_refuses_calls() -> None:
    p = trained()
    p.close()
    p.close()  # idempotent
    with pytest.raises(ClosedError):
        p.predict(60)
    with pytest.raises(ClosedError):
        p.add_sample(1.0, T0)


def test_failed_training_keeps_the_previous_model() -> None:
    p = make(training_window=36 * 50, min_samples=10)
    p.add_samples(cpu_series(100))
    p.train()
    before = p.predict(36).value
    p.add_sample(1.0, T0 + 36 * 10_000)  # the window now holds one sample
    with pytest.raises(InsufficientDataError):
        p.train()
    assert p.predict(36).value == before
