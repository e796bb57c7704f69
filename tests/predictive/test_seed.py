"""The seed's predictive checks, as real tests (init ... shutdown), via the module API."""

from __future__ import annotations

import math

import pytest

from constellation import predictive

from .conftest import T0, cpu_series

pytestmark = pytest.mark.usefixtures("fresh_default")


def test_the_seed_example_end_to_end() -> None:
    # Predictive init / is running
    predictive.init()
    assert predictive.is_running()
    # Create predictor (the seed passes a dict)
    p = predictive.create(
        {
            "metric_name": "cpu_usage",
            "model": "ensemble",
            "training_window": 3600,
            "confidence_threshold": 0.8,
        }
    )
    assert p.metric_name == "cpu_usage" and predictive.get("cpu_usage") is p
    # Add training samples
    for ts, value in cpu_series(100):
        assert p.add_sample(value, ts)
    assert len(p) == 100
    # Train predictor
    chosen = p.train()
    assert chosen.startswith("ensemble(")
    # Make prediction 5 minutes ahead
    pred = p.predict(300)
    assert pred.horizon == 300 and pred.timestamp == T0 + 99 * 36 + 300
    assert pred.level == 0.95 and pred.model == chosen
    assert 35 < pred.value < 65
    # Prediction has confidence / bounds
    assert 0.0 <= pred.confidence <= 1.0
    assert pred.confident == (pred.confidence >= 0.8)
    assert pred.lower_bound < pred.value < pred.upper_bound
    # Get trend
    trend = p.get_trend()
    assert trend.direction in ("up", "down", "flat")
    assert math.isfinite(trend.slope) and trend.slope_per_hour == pytest.approx(trend.slope * 3600)
    # Get predictor stats
    stats = p.get_stats()
    assert stats["trained"] and stats["samples"] == 100 and stats["metric_name"] == "cpu_usage"
    assert [pat["samples"] for pat in stats["patterns"]] == [20]  # type: ignore[index, union-attr]
    assert sum(stats["weights"].values()) == pytest.approx(1.0)  # type: ignore[union-attr]
    # Destroy predictor
    assert predictive.destroy(p)
    assert not predictive.destroy(p)
    # Predictive shutdown
    predictive.shutdown()
    assert not predictive.is_running()


def test_predict_by_metric_name_uses_the_registered_predictor() -> None:
    p = predictive.create(metric_name="gpu_demand", model="auto", training_window=0)
    p.add_samples(cpu_series(120))
    pred = predictive.predict("gpu_demand", 600)  # trains on first use
    assert pred.horizon == 600 and p.trained
