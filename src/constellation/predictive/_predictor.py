"""The seed's predictor: samples in, calibrated forecasts out.

A :class:`Predictor` keeps up to ``max_samples`` samples in a ring buffer. ``train()``
takes the last ``training_window`` seconds of them, regularizes them (``_series``),
detects seasonal periods (``_patterns``) and fits the configured model with
backtest-calibrated intervals (``_ensemble``). ``predict(h)`` forecasts ``h`` seconds
after the newest trained sample (or after ``now`` when given), interpolating between
grid steps. A failed ``train()`` raises and leaves the previous model in place; a
rejected sample changes nothing.

A series that never changes is not an error: it is forecast as that constant with a
zero-width interval and confidence 1 (``get_stats()["constant"]`` says so).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

from constellation.errors import ClosedError

from ._accuracy import AccuracyTracker
from ._base import FloatArray, approx_nbytes
from ._config import PredictorConfig
from ._ensemble import Forecaster
from ._errors import (
    InsufficientDataError,
    NotTrainedError,
    PredictiveValidationError,
    check_horizon,
    check_value,
)
from ._linear import huber_line
from ._naive import SeasonalNaive
from ._patterns import Period, detect_periods
from ._series import RegularSeries, SampleBuffer, regularize

__all__ = ["MAX_STEPS", "Prediction", "Predictor", "Trend"]

MAX_STEPS = 100_000  # a horizon this many sampling steps ahead is refused
CACHED_STEPS = 256  # forecast steps tabulated at train time


@dataclass(frozen=True)
class Prediction:
    """One forecast: the seed's fields plus the level, target time and model."""

    value: float
    confidence: float  # estimated P(|actual - value| <= tolerance * |value|)
    lower_bound: float
    upper_bound: float
    level: float  # the interval's nominal coverage, 0.95 unless configured
    horizon: float  # seconds ahead of the base time
    timestamp: float  # the time being predicted (unix seconds)
    model: str
    confident: bool  # confidence >= the predictor's confidence_threshold

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Trend:
    direction: str  # "up", "down" or "flat" (slope not distinguishable from noise)
    slope: float  # units per second
    slope_per_hour: float
    change_over_window: float  # slope times the trained span


@dataclass
class _Trained:
    series: RegularSeries
    periods: list[Period]
    forecaster: Forecaster | None  # None for a constant series
    trained_at: float
    duration_s: float
    # Forecast table (value, lower, upper, confidence) for grid steps 0..h, step 0 being
    # the last observation; computed once at train time so predict() only interpolates.
    table: FloatArray | None = None
    rows: list[list[float]] | None = None  # the table as Python lists, for predict()


class Predictor:
    """Forecasts one metric. Build with ``predictive.create(...)``."""

    def __init__(self, config: PredictorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._buffer = SampleBuffer(config.max_samples)
        self._accuracy = AccuracyTracker(config.accuracy_window)
        self._trained: _Trained | None = None
        self._lock = threading.Lock()
        self._train_lock = threading.Lock()
        self.skipped = 0
        self.closed = False

    @property
    def metric_name(self) -> str:
        return self.config.metric_name

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError(f"predictor {self.metric_name!r} was destroyed")

    # -- samples ------------------------------------------------------------------
    def add_sample(self, value: float, timestamp: float | None = None) -> bool:
        """Buffer one sample (unix seconds; default now). False when skipped as invalid."""
        self._check_open()
        ts = self.clock() if timestamp is None else check_value(timestamp, "timestamp")
        try:
            number = check_value(value)
        except PredictiveValidationError:
            if self.config.invalid == "skip":
                self.skipped += 1
                return False
            raise
        self._buffer.append(ts, number)
        self._accuracy.observe(ts, number)
        return True

    def add_samples(self, samples: Iterable[tuple[float, float]]) -> int:
        """Add (timestamp, value) pairs; returns how many were kept."""
        return sum(self.add_sample(value, ts) for ts, value in samples)

    def __len__(self) -> int:
        return len(self._buffer)

    def samples(self) -> tuple[FloatArray, FloatArray]:
        """Copies of the buffered (timestamps, values), oldest first."""
        return self._buffer.arrays()

    @property
    def newest_timestamp(self) -> float | None:
        """Timestamp of the newest buffered sample."""
        return self._buffer.last_timestamp()

    # -- training -------------------------------------------------------------------
    def _training_series(self) -> RegularSeries:
        last = self._buffer.last_timestamp()
        window = self.config.training_window
        since = None if last is None or window <= 0 else last - window
        ts, ys = self._buffer.arrays(since)
        if ts.size < self.config.min_samples:
            raise InsufficientDataError(self.config.min_samples, int(ts.size))
        return regularize(ts, ys)

    def _backtest_steps(self, series: RegularSeries, periods: list[Period]) -> int:
        if self.config.backtest_horizon is not None:
            steps = math.ceil(self.config.backtest_horizon / series.step)
        elif periods:
            steps = max(p.samples for p in periods)
        else:
            steps = 12
        # keep enough history before the earliest backtest origin
        return max(1, min(steps, len(series) // (2 * (self.config.backtest_origins + 1))))

    def train(self, now: float | None = None) -> str:
        """Fit on the buffered window; returns the model chosen. Raises, keeping the old one."""
        self._check_open()
        started = time.perf_counter()
        with self._train_lock:
            series = self._training_series()
            y = series.values
            periods: list[Period] = []
            forecaster: Forecaster | None = None
            if np.ptp(y) > 0:
                # strongest first: single-season models use the first period
                found = detect_periods(y, series.step, self.config.periods)
                periods = sorted(found, key=lambda p: p.strength, reverse=True)
                steps = self._backtest_steps(series, periods)
                forecaster = Forecaster(
                    self.config.model,
                    steps,
                    self.config.backtest_origins,
                    self.config.confidence_tolerance,
                )
                forecaster.fit(y, [p.samples for p in periods])
                forecaster.compact()
                scale = SeasonalNaive().fit(y, [p.samples for p in periods][:1])
                self._accuracy.mase_scale = float(np.mean(np.abs(scale.residuals))) or None
            trained = _Trained(
                series,
                periods,
                forecaster,
                self.clock() if now is None else now,
                time.perf_counter() - started,
            )
            if forecaster is not None:
                trained.table = self._table(trained, max(CACHED_STEPS, 2 * forecaster.horizon))
            self._accuracy.tolerance = series.step / 2
            with self._lock:
                self._trained = trained
            return forecaster.chosen if forecaster else "constant"

    @property
    def trained(self) -> bool:
        return self._trained is not None

    # -- forecasting --------------------------------------------------------------------
    def _state(self) -> _Trained:
        self._check_open()
        with self._lock:
            trained = self._trained
        if trained is None:
            raise NotTrainedError(f"predictor {self.metric_name!r} is not trained: call train()")
        return trained

    def _forecast_at(self, trained: _Trained, offsets: list[float]) -> list[tuple[float, ...]]:
        """(value, lower, upper, confidence) at fractional grid offsets past the series end."""
        if trained.forecaster is None:
            last = float(trained.series.values[-1])
            return [(last, last, last, 1.0) for _ in offsets]
        h = math.ceil(max(offsets))
        if trained.table is None or trained.table.shape[1] <= h:
            trained.table = self._table(trained, max(h, CACHED_STEPS))  # a longer one
            trained.rows = None
        if trained.rows is None:
            trained.rows = [row.tolist() for row in trained.table]
        rows = trained.rows
        # Linear interpolation between the grid steps around each offset, in plain
        # Python: for one horizon this is several times cheaper than numpy calls.
        top = len(rows[0]) - 2
        out = []
        for offset in offsets:
            low = min(int(offset), top)
            frac = offset - low
            out.append(tuple(r[low] + (r[low + 1] - r[low]) * frac for r in rows))
        return out

    def _table(self, trained: _Trained, h: int) -> FloatArray:
        assert trained.forecaster is not None
        fc = trained.forecaster.forecast(h, self.config.level)
        last = trained.series.values[-1]
        # step 0 is the last observation: exact, fully confident
        return np.vstack(
            [
                np.r_[last, fc.mean],
                np.r_[last, fc.lower],
                np.r_[last, fc.upper],
                np.r_[1.0, fc.confidence],
            ]
        )

    def predict(self, horizon_seconds: float, now: float | None = None) -> Prediction:
        """Forecast ``horizon_seconds`` after the newest trained sample (or after ``now``)."""
        horizon = check_horizon(horizon_seconds)
        return self._predict_many([horizon], now)[0]

    def predict_series(
        self, horizon_seconds: float, step_seconds: float, now: float | None = None
    ) -> list[Prediction]:
        """Predictions every ``step_seconds`` up to ``horizon_seconds`` ahead."""
        horizon = check_horizon(horizon_seconds)
        step = check_horizon(step_seconds, "step_seconds")
        count = math.floor(horizon / step + 1e-9)
        if count > MAX_STEPS:
            raise PredictiveValidationError(
                "step_seconds", f"{count} points requested; expected at most {MAX_STEPS}"
            )
        return self._predict_many([step * (i + 1) for i in range(count)], now)

    def _predict_many(self, horizons: list[float], now: float | None) -> list[Prediction]:
        trained = self._state()
        series = trained.series
        base = series.end if now is None else check_value(now, "now")
        targets = [base + h for h in horizons]
        offsets = [max(0.0, (t - series.end) / series.step) for t in targets]
        if max(offsets) > MAX_STEPS:
            limit = MAX_STEPS * series.step
            raise PredictiveValidationError(
                "horizon_seconds",
                f"too far ahead; expected at most {limit:g} seconds past "
                f"the newest sample ({MAX_STEPS} sampling steps)",
            )
        model = trained.forecaster.chosen if trained.forecaster else "constant"
        out = []
        for h, target, (value, lo, hi, conf) in zip(
            horizons, targets, self._forecast_at(trained, offsets), strict=True
        ):
            pred = Prediction(
                value,
                conf,
                lo,
                hi,
                self.config.level,
                h,
                target,
                model,
                conf >= self.config.confidence_threshold,
            )
            self._accuracy.expect(pred.timestamp, value, lo, hi)
            out.append(pred)
        return out

    # -- introspection ------------------------------------------------------------------
    def get_trend(self) -> Trend:
        """Robust (Huber) straight-line trend over the trained window."""
        series = self._state().series
        y = series.values
        t = np.arange(y.size, dtype=np.float64)
        _, slope = huber_line(t, y) if y.size > 2 else (0.0, 0.0)
        resid = y - slope * t
        sd = float(np.std(resid - resid.mean()))
        span = (y.size - 1) * series.step
        change = slope * (y.size - 1)
        sxx = float(np.sum((t - t.mean()) ** 2)) or 1.0
        t_stat = abs(slope) / (sd / math.sqrt(sxx)) if sd > 0 else math.inf * abs(slope)
        flat = slope == 0 or t_stat < 2.0 or abs(change) < 0.5 * sd
        direction = "flat" if flat else ("up" if slope > 0 else "down")
        per_second = slope / series.step
        return Trend(direction, per_second, per_second * 3600.0, per_second * span)

    def get_accuracy(self) -> dict[str, float | int | None]:
        """Rolling accuracy of past predictions against the actuals that arrived."""
        return self._accuracy.summary()

    def needs_retrain(self, now: float) -> bool:
        """Due by the retrain interval, or tracked coverage fell below the threshold."""
        trained = self._trained
        if trained is None:
            return len(self._buffer) >= self.config.min_samples
        if now - trained.trained_at >= self.config.retrain_interval:
            return True
        coverage = self._accuracy.coverage()
        summary_count = self._accuracy.summary()["count"]
        floor = self.config.retrain_coverage_below
        return bool(
            coverage is not None and summary_count and summary_count >= 20 and coverage < floor
        )

    def memory_bytes(self) -> int:
        """Approximate bytes held: the sample buffer plus the trained model's arrays."""
        return self._buffer.nbytes + approx_nbytes(self._trained)

    def get_stats(self) -> dict[str, object]:
        trained = self._trained
        stats: dict[str, object] = {
            "metric_name": self.metric_name,
            "model": self.config.model,
            "samples": len(self._buffer),
            "skipped_samples": self.skipped,
            "trained": trained is not None,
            "memory_bytes": self.memory_bytes(),
            "accuracy": self.get_accuracy(),
        }
        if trained is None:
            return stats
        fc = trained.forecaster
        stats.update(
            {
                "chosen_model": fc.chosen if fc else "constant",
                "constant": fc is None,
                "trained_at": trained.trained_at,
                "train_seconds": trained.duration_s,
                "training_samples": len(trained.series),
                "step_seconds": trained.series.step,
                "filled_gaps": trained.series.filled,
                "merged_samples": trained.series.merged,
                "patterns": [p.as_dict() for p in trained.periods],
                "weights": dict(fc.weights) if fc else {},
                "backtest_mae": dict(fc.backtest_mae) if fc else {},
                "backtest_coverage": fc.backtest_coverage(self.config.level) if fc else None,
                "fallback": fc.fallback if fc else None,
            }
        )
        return stats

    # -- persistence (see _persist) --------------------------------------------------
    def export_state(self) -> dict[str, object]:
        """Samples, fitted model and accuracy history: plain data and numpy arrays, no
        locks (what the store pickles)."""
        self._check_open()
        ts, ys = self._buffer.arrays()
        trained = self._trained
        if trained is not None:  # the Python-list copy of the table is rebuilt on demand
            trained = _Trained(**{**trained.__dict__, "rows": None})
        accuracy = {k: v for k, v in self._accuracy.__dict__.items() if k != "_lock"}
        return {
            "timestamps": ts,
            "values": ys,
            "trained": trained,
            "accuracy": accuracy,
            "skipped": self.skipped,
        }

    def load_state(self, state: dict[str, object]) -> None:
        """The inverse of :meth:`export_state` (on a new predictor of the same config)."""
        self._check_open()
        ts = np.asarray(state["timestamps"], dtype=np.float64)
        ys = np.asarray(state["values"], dtype=np.float64)
        for t, y in zip(
            ts[-self.config.max_samples :], ys[-self.config.max_samples :], strict=True
        ):
            self._buffer.append(float(t), float(y))
        self._accuracy.__dict__.update(state["accuracy"])  # type: ignore[call-overload]
        self.skipped = int(state["skipped"])  # type: ignore[call-overload]
        trained = state["trained"]
        with self._lock:
            self._trained = trained if isinstance(trained, _Trained) else None

    def close(self) -> None:
        """Drop samples and model; idempotent. Later calls raise ClosedError."""
        self.closed = True
        self._trained = None
        self._buffer.clear()

    def __repr__(self) -> str:
        state = "trained" if self._trained else "untrained"
        return f"<Predictor {self.metric_name!r} {self.config.model} {state} n={len(self)}>"
