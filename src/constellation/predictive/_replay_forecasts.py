"""The ``predictive`` policy's forecasts: the platform's :class:`Predictor` per function.

At ``first_fit_minute`` and then every ``refit_minutes`` the replay fits a predictor per
function on its trailing ``forecast_history_minutes`` of concurrency, averaged over
``forecast_step_minutes`` (the live autoscaler feeds its predictor one sample per tick;
a per-minute replay of 1,000 functions for 14 days cannot afford a fit per minute), and
asks it for every step until the next fit. Functions active in fewer than
``min_active_steps`` of the steps, or needing under ``forecast_min_concurrency``
instances on average, get no concurrency forecast (the arrival forecasts of
``_arrivals`` cover them).
"""

from __future__ import annotations

import numpy as np

from ._config import PredictorConfig
from ._errors import PredictiveError
from ._predictor import Predictor
from ._replay_policies import ReplayConfig
from ._trace import Trace

__all__ = ["ReplayForecasts"]


class ReplayForecasts:
    def __init__(self, trace: Trace, config: ReplayConfig) -> None:
        self.trace = trace
        self.config = config
        functions = len(trace.functions)
        self.values = np.zeros((functions, config.refit_minutes))
        self.confidence = np.zeros((functions, config.refit_minutes))
        self.fitted_at: int | None = None
        self.fits = 0
        self.failures = 0

    def _due(self, minute: int) -> bool:
        cfg = self.config
        if minute < cfg.first_fit_minute:
            return False
        if self.fitted_at is None:
            return True
        return minute - self.fitted_at >= cfg.refit_minutes

    def at(self, minute: int) -> tuple[np.ndarray, np.ndarray]:
        if self._due(minute):
            self._fit(minute)
        if self.fitted_at is None or minute - self.fitted_at >= self.values.shape[1]:
            zero = self.values[:, 0] * 0.0
            return zero, zero
        k = minute - self.fitted_at
        return self.values[:, k], self.confidence[:, k]

    def _fit(self, minute: int) -> None:
        cfg = self.config
        step = cfg.forecast_step_minutes
        start = max(0, minute - cfg.forecast_history_minutes)
        start += (minute - start) % step  # whole steps ending at ``minute``
        inv = self.trace.invocations[:, start:minute]
        dur = self.trace.duration_ms[:, start:minute]
        concurrency = (inv * dur / 60_000.0).reshape(len(inv), -1, step).mean(axis=2)
        self.values[:] = 0.0
        self.confidence[:] = 0.0
        self.fitted_at = minute
        steps = concurrency.shape[1]
        horizon = cfg.refit_minutes
        count = -(-horizon // step)
        eligible = (concurrency > 0).sum(axis=1) >= cfg.min_active_steps
        eligible &= concurrency.mean(axis=1) >= cfg.forecast_min_concurrency
        for f in np.flatnonzero(eligible):
            predictor = Predictor(
                PredictorConfig(
                    f"replay:{f}",
                    model=cfg.forecast_model,
                    training_window=0,
                    backtest_origins=2,
                    confidence_threshold=cfg.confidence_threshold,
                    max_samples=max(10, steps),
                )
            )
            predictor.add_samples(
                ((start + i * step) * 60.0, float(v)) for i, v in enumerate(concurrency[f])
            )
            try:
                predictor.train(now=minute * 60.0)
                predictions = predictor.predict_series(count * step * 60.0, step * 60.0)
            except PredictiveError:
                self.failures += 1
                continue
            finally:
                predictor.close()
            self.fits += 1
            value = np.array([max(0.0, p.value) for p in predictions])
            conf = np.array([p.confidence for p in predictions])
            self.values[f] = np.repeat(value, step)[:horizon]
            self.confidence[f] = np.repeat(conf, step)[:horizon]
