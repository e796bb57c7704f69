"""Predictive scaling: forecasts of a metric with calibrated intervals.

Contract:

* ``create(metric_name=..., model="ensemble", training_window=3600,
  confidence_threshold=0.8, ...)`` (or ``create({...})``) registers a
  :class:`Predictor`; ``add_sample(value, timestamp)`` buffers samples (bounded),
  ``train()`` fits, ``predict(horizon_seconds)`` returns a :class:`Prediction` with
  ``value``, ``confidence`` (0-1), ``lower_bound``/``upper_bound`` at ``level`` (0.95),
  ``horizon``, ``timestamp`` and ``model``; ``predict_series``, ``get_trend``,
  ``get_stats``, ``get_accuracy``; ``destroy(predictor)`` frees it.
* Models (``MODELS``): linear trend (least squares or robust), exponential smoothing
  (simple, Holt, damped, Holt-Winters additive and multiplicative, AICc-chosen
  ``ets``), ARIMA (AICc over a small grid), STL/MSTL decomposition, ``mseason`` (median
  seasonal profiles + adaptive level with level-shift resets), seasonal naive (the
  fallback), ``ensemble`` (weights from rolling-origin backtests) and ``auto`` (the
  best member by backtest). Seasonal periods are detected with a significance test.
* Intervals come from conformal quantiles of backtest errors; ``confidence`` is the
  estimated probability that the actual lands within ``confidence_tolerance`` (10%)
  of ``value``.
* Bad input raises :class:`PredictiveValidationError` (a ``ValidationError``) naming
  the field, and changes nothing. Errors derive from :class:`PredictiveError`.
* Platform hook: ``set_series_source(fn_or_telemetry)`` and
  ``forecast(metric_name, horizon_seconds)`` (the module function ``predict``);
  :class:`ForecastProvider` is that interface, and :class:`PredictiveService` implements
  it. The platform makes its own service over its telemetry (``Constellation.predictive``)
  and its autoscaler asks it for each predictive function's concurrency; the module
  functions act on a separate process-wide ``default_service()``.
* Trace replay: ``simulate(trace, policies="all")`` replays per-minute invocation
  counts (:class:`Trace`, ``read_trace(s)`` for CSV) through ``REPLAY_POLICIES`` on a
  simulated clock, with the serverless autoscaler's own ``decide``; see docs/predictive.md.
* ``init()`` / ``shutdown()`` / ``is_running()`` run the background retrain loop; time
  comes from an injectable clock (``PredictiveService(clock=...)``).

Imports: the base layer and ``constellation.serverless``'s public autoscaler policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from constellation.telemetry import Telemetry

from ._arima import ARIMA
from ._base import Model, ModelForecast
from ._config import PredictorConfig
from ._decomposition import STLForecaster
from ._ensemble import ALIASES, MODELS, Forecast, Forecaster, make_model
from ._errors import (
    FitError,
    InsufficientDataError,
    NoSeriesError,
    NotTrainedError,
    PredictiveError,
    PredictiveValidationError,
)
from ._ets import AutoETS, ExponentialSmoothing
from ._linear import LinearTrend
from ._mseason import MultiSeasonal
from ._naive import Naive2, SeasonalNaive
from ._patterns import Period, detect_periods
from ._predictor import Prediction, Predictor, Trend
from ._replay import POLICIES as REPLAY_POLICIES
from ._replay import PolicyReport, ReplayConfig, ReplayReport, simulate
from ._series import RegularSeries, regularize
from ._service import ForecastProvider, PredictiveService, SeriesSource, telemetry_source
from ._stl import mstl, stl
from ._trace import Trace, TraceError, read_trace, read_traces

__all__ = [
    "ALIASES",
    "ARIMA",
    "MODELS",
    "REPLAY_POLICIES",
    "AutoETS",
    "ExponentialSmoothing",
    "FitError",
    "Forecast",
    "ForecastProvider",
    "Forecaster",
    "InsufficientDataError",
    "LinearTrend",
    "Model",
    "ModelForecast",
    "MultiSeasonal",
    "Naive2",
    "NoSeriesError",
    "NotTrainedError",
    "Period",
    "PolicyReport",
    "Prediction",
    "PredictiveError",
    "PredictiveService",
    "PredictiveValidationError",
    "Predictor",
    "PredictorConfig",
    "RegularSeries",
    "ReplayConfig",
    "ReplayReport",
    "STLForecaster",
    "SeasonalNaive",
    "SeriesSource",
    "Trace",
    "TraceError",
    "Trend",
    "create",
    "default_service",
    "destroy",
    "detect_periods",
    "get",
    "init",
    "is_running",
    "make_model",
    "mstl",
    "predict",
    "read_trace",
    "read_traces",
    "regularize",
    "set_series_source",
    "shutdown",
    "simulate",
    "stl",
    "telemetry_source",
]

_default: PredictiveService | None = None


def default_service() -> PredictiveService:
    """The process-wide service behind the module-level functions (created on first use)."""
    global _default
    if _default is None:
        _default = PredictiveService()
    return _default


def create(config: Mapping[str, Any] | PredictorConfig | None = None, **kwargs: Any) -> Predictor:
    """Register a predictor: keywords, a dict (the seed's form) or a PredictorConfig."""
    return default_service().create(config, **kwargs)


def get(metric_name: str) -> Predictor:
    return default_service().get(metric_name)


def destroy(predictor: Predictor | str) -> bool:
    return default_service().destroy(predictor)


def predict(metric_name: str, horizon_seconds: float) -> Prediction:
    """Forecast a registered predictor's metric, or a series from the series source."""
    return default_service().forecast(metric_name, horizon_seconds)


def set_series_source(source: SeriesSource | Telemetry | None) -> None:
    """Where ``predict(name, ...)`` reads metrics that have no registered predictor."""
    default_service().set_series_source(source)


def init(tick_seconds: float = 1.0) -> None:
    """Start the background retrain loop (optional: predictors work without it)."""
    default_service().init(tick_seconds)


def is_running() -> bool:
    return default_service().is_running()


def shutdown() -> None:
    """Stop the loop and free every predictor of the default service."""
    global _default
    if _default is not None:
        _default.shutdown(destroy=True)
        _default = None
