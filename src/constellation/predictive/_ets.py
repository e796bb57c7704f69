"""Exponential smoothing: simple, Holt (optionally damped), Holt-Winters.

Parameters minimise the sum of squared one-step errors (the Gaussian likelihood of
the additive-error model) with SLSQP inside the usual admissible region:
``0 < alpha < 1``, ``0 < beta < alpha``, ``0 < gamma < 1 - alpha``, ``0.8 <= phi <= 0.98``
(reparameterised as fractions so plain box bounds suffice). Initial states come from
the first cycles (the classical heuristic) rather than being optimised. The
optimiser sees at most the last ``FIT_WINDOW`` observations; the fitted parameters
are then run over the whole series. Additive models use the vectorized filter in
``_ets_filter``; the multiplicative Holt-Winters recursion is nonlinear and runs in
Python on a shorter window, so it is offered on request and not in the ensemble.

:class:`AutoETS` fits the additive variants that the data supports and keeps the one
with the lowest AICc.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from ._base import FloatArray, Model, sse_guard
from ._errors import FitError
from ._ets_filter import AdditiveSpec, final_state, horizon_weights, run_filter, state_forecast

__all__ = ["MAX_SEASON", "AutoETS", "ExponentialSmoothing"]

FIT_WINDOW = 1000
MAX_SEASON = 168  # a week of hourly samples; longer cycles go to the STL model
_MUL_WINDOW = 400


def _initial_state(y: FloatArray, trend: bool, m: int, mul: bool = False) -> FloatArray:
    if m:
        cycles = min(y.size // m, 4)
        first = y[:m]
        level = float(first.mean())
        slope = float((y[m : 2 * m].mean() - level) / m) if trend and cycles >= 2 else 0.0
        block = y[: cycles * m].reshape(cycles, m)
        means = block.mean(axis=1, keepdims=True)
        seas = (block / means).mean(axis=0) if mul else (block - means).mean(axis=0)
        parts = [level] + ([slope] if trend else []) + list(seas[::-1])
        return np.asarray(parts, dtype=np.float64)
    head = y[: min(y.size, 10)]
    if trend:
        t = np.arange(head.size)
        slope, level = np.polyfit(t, head, 1) if head.size > 1 else (0.0, head[0])
        return np.array([level, slope])
    return np.array([float(head.mean())])


class ExponentialSmoothing(Model):
    """One exponential-smoothing model; ``seasonal`` is None, "add" or "mul"."""

    def __init__(
        self, trend: bool = False, damped: bool = False, seasonal: str | None = None
    ) -> None:
        super().__init__()
        if seasonal not in (None, "add", "mul"):
            raise ValueError(f"seasonal must be None, 'add' or 'mul', not {seasonal!r}")
        self.trend = trend or damped
        self.damped = damped
        self.seasonal = seasonal
        base = "holt_winters" if seasonal else ("holt" if self.trend else "ses")
        self.name = base + ("_damped" if damped else "")
        self.name += "_mul" if seasonal == "mul" else ""
        self.params: FloatArray | None = None
        self.warm_start: FloatArray | None = None
        self.aicc = np.inf

    def min_samples(self, periods: Sequence[int]) -> int:
        if self.seasonal:
            if not periods or not 2 <= periods[0] <= MAX_SEASON:
                return 1 << 62  # cannot fit: no usable period (fit() says so)
            return 2 * periods[0] + 2
        return 4 if self.trend else 2

    def fit(self, y: FloatArray, periods: Sequence[int] = ()) -> ExponentialSmoothing:
        if self.seasonal and (not periods or not 2 <= periods[0] <= MAX_SEASON):
            raise FitError(
                f"{self.name}: needs a seasonal period of 2-{MAX_SEASON} steps; "
                f"none was detected or given (periods: {list(periods)})"
            )
        return super().fit(y, periods)

    # -- parameters -------------------------------------------------------------
    def _unpack(self, p: FloatArray) -> tuple[float, float, float, float]:
        alpha = float(p[0])
        i = 1
        beta = gamma = 0.0
        phi = 1.0
        if self.trend:
            beta, i = alpha * float(p[i]), i + 1
        if self.seasonal:
            gamma, i = (1 - alpha) * float(p[i]), i + 1
        if self.damped:
            phi = float(p[i])
        return alpha, beta, gamma, phi

    def _bounds(self) -> list[tuple[float, float]]:
        b = [(1e-4, 0.9999)]
        b += [(1e-4, 0.9999)] * (int(self.trend) + int(bool(self.seasonal)))
        return b + ([(0.8, 0.98)] if self.damped else [])

    def _start(self) -> FloatArray:
        x = [0.3] + [0.1] * int(self.trend) + [0.1] * int(bool(self.seasonal))
        return np.asarray(x + [0.95] * int(self.damped))

    def _spec(self, p: FloatArray) -> AdditiveSpec:
        a, b, g, phi = self._unpack(p)
        m = self.periods[0] if self.seasonal else 0
        return AdditiveSpec(a, b, g, phi, self.trend, m)

    # -- recursions ------------------------------------------------------------
    def _one_step(
        self, p: FloatArray, y: FloatArray, s0: FloatArray | None = None
    ) -> tuple[FloatArray, AdditiveSpec]:
        spec = self._spec(p)
        if s0 is None:
            s0 = _initial_state(y, self.trend, spec.m, self.seasonal == "mul")
        if self.seasonal == "mul":
            return self._mul_filter(spec, s0, y), spec
        return run_filter(spec, y, s0), spec

    def _mul_filter(self, spec: AdditiveSpec, s0: FloatArray, y: FloatArray) -> FloatArray:
        a, b, g, phi, m = spec.alpha, spec.beta, spec.gamma, spec.phi, spec.m
        level, slope = float(s0[0]), float(s0[1]) if spec.trend else 0.0
        seas = list(s0[1 + int(spec.trend) :][::-1])  # seas[k % m] pairs with y[k]
        out = np.empty(y.size)
        for k, obs in enumerate(y.tolist()):
            base = level + phi * slope
            s = seas[k % m]
            out[k] = pred = base * s
            e = obs - pred
            new_level = base + a * e / s
            slope = phi * slope + b * e / s
            seas[k % m] = s + g * e / base if base else s
            level = new_level
        self._mul_state = (level, slope, [seas[(y.size + i) % m] for i in range(m)])
        return out

    def _fit(self, y: FloatArray) -> None:
        if self.seasonal == "mul" and np.any(y <= 0):
            raise FitError(f"{self.name}: multiplicative seasonality needs positive values")
        window = _MUL_WINDOW if self.seasonal == "mul" else FIT_WINDOW
        tail = y[-window:]
        if self.params is None:
            # Scaled to be O(1) so the optimiser's absolute tolerance means the same
            # thing for every series.
            scale = tail.size * max(float(np.var(np.diff(tail))), 1e-12 * (1 + tail[-1] ** 2))

            m = self.periods[0] if self.seasonal else 0
            s0 = _initial_state(tail, self.trend, m, self.seasonal == "mul")

            def sse(p: FloatArray) -> float:
                yhat, _ = self._one_step(p, tail, s0)
                return sse_guard(float(np.sum((tail - yhat) ** 2)) / scale)

            res = minimize(
                sse,
                self._start() if self.warm_start is None else self.warm_start,
                method="SLSQP",
                bounds=self._bounds(),
                options={"ftol": 1e-7, "maxiter": 100},
            )
            self.params = np.asarray(res.x)
        yhat, spec = self._one_step(self.params, y)
        self.spec = spec
        self.residuals = y - yhat
        if not np.all(np.isfinite(self.residuals)):
            raise FitError(f"{self.name}: recursion diverged")
        if self.seasonal != "mul":
            s0 = _initial_state(y, self.trend, spec.m)
            self.state = final_state(spec, s0, self.residuals)
        n = tail.size
        k = len(self.params) + spec.k
        sse_tail = float(np.sum(self.residuals[-n:] ** 2))
        self.aicc = n * np.log(max(sse_tail, 1e-300) / n) + 2 * (k + 1)
        self.aicc += 2 * (k + 1) * (k + 2) / max(n - k - 2, 1)

    def refit(self, y: FloatArray) -> ExponentialSmoothing:
        """A copy run over ``y`` with these parameters (no optimisation): for backtests."""
        twin = ExponentialSmoothing(self.trend, self.damped, self.seasonal)
        twin.params = self.params
        twin.fit(y, self.periods)
        return twin

    def reestimate(self, y: FloatArray) -> ExponentialSmoothing:
        """This form fitted afresh on ``y``, the optimiser starting from these parameters."""
        twin = ExponentialSmoothing(self.trend, self.damped, self.seasonal)
        twin.warm_start = self.params
        twin.fit(y, self.periods)
        return twin

    def forecast(self, h: int) -> FloatArray:
        if self.seasonal == "mul":
            level, slope, seas = self._mul_state
            steps = np.arange(1, h + 1)
            phi = self.spec.phi
            damp = steps * 1.0 if phi == 1.0 else phi * (1 - phi**steps) / (1 - phi)
            out = (level + damp * slope) * np.resize(np.asarray(seas), h)
            return np.asarray(out, dtype=np.float64)
        return state_forecast(self.spec, self.state, h)

    def sigma(self, h: int) -> FloatArray:
        return np.sqrt(self.sigma2 * horizon_weights(self.spec, h))


class AutoETS(Model):
    """The additive exponential-smoothing variant with the lowest AICc."""

    name = "ets"
    min_obs = 2

    def __init__(self) -> None:
        super().__init__()
        self.best: ExponentialSmoothing | None = None

    def candidates(self, n: int, periods: Sequence[int]) -> list[ExponentialSmoothing]:
        out = [ExponentialSmoothing(), ExponentialSmoothing(damped=True)]
        if periods and 2 <= periods[0] <= MAX_SEASON and n >= 2 * periods[0] + 2:
            out += [
                ExponentialSmoothing(seasonal="add"),
                ExponentialSmoothing(trend=True, damped=True, seasonal="add"),
            ]
        return out

    def _fit(self, y: FloatArray) -> None:
        if self.best is not None:  # refit with the chosen form and parameters
            self.best = self.best.refit(y)
        else:
            fitted = []
            for model in self.candidates(y.size, self.periods):
                try:
                    fitted.append(model.fit(y, self.periods))
                except FitError:
                    continue
            if not fitted:
                raise FitError("ets: no exponential-smoothing variant could be fitted")
            self.best = min(fitted, key=lambda f: f.aicc)
        self.residuals = self.best.residuals

    def compact(self) -> None:
        super().compact()
        if self.best is not None:
            self.best.compact()

    def refit(self, y: FloatArray) -> AutoETS:
        twin = AutoETS()
        twin.best = self.best
        twin.fit(y, self.periods)
        return twin

    def reestimate(self, y: FloatArray) -> AutoETS:
        """The chosen form re-estimated on ``y`` (no new search)."""
        assert self.best is not None
        twin = AutoETS()
        twin.best = self.best.reestimate(y)
        twin.fit(y, self.periods)
        return twin

    def forecast(self, h: int) -> FloatArray:
        assert self.best is not None
        return self.best.forecast(h)

    def sigma(self, h: int) -> FloatArray:
        assert self.best is not None
        return self.best.sigma(h)
