"""Model registry, rolling-origin backtests, the ensemble and ``model="auto"``.

:class:`Forecaster` is what a predictor trains. For the chosen model (or each ensemble
member) it runs a rolling-origin backtest: parameters are estimated once on the data
before the earliest origin, then the model is re-run with those parameters up to each
origin and asked for the next ``horizon`` steps, so no test window ever informs the
parameters that forecast it. Then the model is fitted on everything.

* ``ensemble`` combines the members (seasonal naive, ETS, ARIMA, STL) that fitted,
  weighting the best three by inverse squared backtest MAE; ``auto`` keeps the single
  member with the lowest backtest MAE.
* The chosen forecasts' backtest errors calibrate the intervals and the confidence
  (``_intervals``). With too little data for any backtest, intervals are the model's
  normal-theory ones and confidence is 0 (unknown).
* A model that fails to fit is skipped; if nothing fits, seasonal naive is used and
  ``fallback`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._arima import ARIMA
from ._base import FloatArray, Model
from ._decomposition import STLForecaster
from ._errors import FitError
from ._ets import AutoETS, ExponentialSmoothing
from ._intervals import Calibration, conformal_quantile, decay_weights
from ._linear import LinearTrend
from ._mseason import MultiSeasonal
from ._naive import SeasonalNaive

__all__ = ["ALIASES", "MODELS", "Forecast", "Forecaster", "make_model"]

_FACTORIES: dict[str, Callable[[], Model]] = {
    "linear": LinearTrend,
    "linear_robust": lambda: LinearTrend(robust=True),
    "ses": ExponentialSmoothing,
    "holt": lambda: ExponentialSmoothing(trend=True),
    "holt_damped": lambda: ExponentialSmoothing(damped=True),
    "holt_winters": lambda: ExponentialSmoothing(seasonal="add"),
    "holt_winters_damped": lambda: ExponentialSmoothing(damped=True, seasonal="add"),
    "holt_winters_mul": lambda: ExponentialSmoothing(seasonal="mul"),
    "ets": AutoETS,
    "arima": ARIMA,
    "stl": STLForecaster,
    "seasonal_naive": SeasonalNaive,
    "mseason": MultiSeasonal,
}
#: every accepted model name: the combinations first, then single models.
MODELS: tuple[str, ...] = ("auto", "ensemble", *_FACTORIES)
#: the seed's names for the same models.
ALIASES = {
    "linear_regression": "linear",
    "exponential": "ets",
    "exponential_smoothing": "ets",
    "seasonal": "stl",
    "seasonal_decomposition": "stl",
    "mstl": "stl",
    "naive": "seasonal_naive",
}
MEMBERS = ("seasonal_naive", "ets", "arima", "stl")
#: from this many samples on, or with a usable period of ``LONG_PERIOD`` samples or
#: more (a day at 5-minute steps or finer), ``ensemble`` and ``auto`` fit
#: ``LONG_MEMBERS`` instead: minute-scale metrics with daily and weekly cycles, where
#: ARIMA, ETS and STL take a second or more per fit and cannot use a season that long.
#: Both are above M4 Hourly's (960 samples, periods 24 and 168): that figure is unchanged.
LONG_SERIES = 2000
LONG_PERIOD = 288
LONG_MEMBERS = ("mseason",)
TOP_K = 3
#: Intervals of a model alone from its recent errors (``_recent_calibration``): the
#: origins' weights halve every ``RECENT_HALF_LIFE`` of the recent window, and the
#: out-of-sample/in-sample quantile ratio of the backtest enters as ratio **
#: ``RATIO_POWER`` (both ways). Chosen on the tuning series of
#: benchmarks/forecast_vs_mstl.py (48 origins each; BENCHMARKS.md).
RECENT_HALF_LIFE = 0.3
RATIO_POWER = 0.5


def make_model(name: str) -> Model:
    return _FACTORIES[ALIASES.get(name, name)]()


@dataclass(frozen=True)
class Forecast:
    """A calibrated forecast for steps 1..h."""

    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    confidence: FloatArray
    level: float
    model: str


@dataclass
class _Member:
    name: str
    model: Model
    forecasts: FloatArray  # (origins, horizon) backtest forecasts
    scales: FloatArray  # (origins, horizon) model error scale at each step
    mae: float


def _refit(model: Model, y: FloatArray) -> Model:
    refit = getattr(model, "refit", None)
    if callable(refit):
        result = refit(y)
        assert isinstance(result, Model)
        return result
    return (
        type(model)().fit(y, model.periods)
        if not isinstance(model, LinearTrend)
        else (LinearTrend(model.robust).fit(y, model.periods))
    )


class Forecaster:
    """Fits one model, ``ensemble`` or ``auto`` with backtest-calibrated intervals."""

    def __init__(
        self, model: str = "auto", horizon: int = 24, origins: int = 4, tolerance: float = 0.1
    ) -> None:
        self.model = ALIASES.get(model, model)
        self.horizon = max(1, int(horizon))
        self.origins = max(0, int(origins))
        self.tolerance = tolerance
        self.fallback: str | None = None
        self.weights: dict[str, float] = {}
        self.backtest_mae: dict[str, float] = {}
        self.calibration: Calibration | None = None
        self.members: list[_Member] = []
        self.chosen = ""

    # -- training --------------------------------------------------------------
    def _origins(self, n: int, need: int) -> list[int]:
        cuts = [n - k * self.horizon for k in range(self.origins, 0, -1)]
        return [c for c in cuts if c >= need]

    def _backtest(self, name: str, y: FloatArray, periods: Sequence[int]) -> _Member:
        proto = make_model(name)
        need = max(proto.min_samples(periods), 2 * max(periods, default=1), 10)
        cuts = self._origins(y.size, need)
        h = self.horizon
        fc = np.full((len(cuts), h), np.nan)
        sc = np.full((len(cuts), h), np.nan)
        final: Model | None = None
        if cuts:
            first = make_model(name).fit(y[: cuts[0]], periods)
            for i, cut in enumerate(cuts):
                at = first if i == 0 else _refit(first, y[:cut])
                fc[i] = at.forecast(h)
                sc[i] = at.sigma(h)
            # The form (orders, components) chosen before the first origin is kept and
            # only its parameters are re-estimated on all the data: half the search cost.
            reestimate = getattr(first, "reestimate", None)
            if callable(reestimate):
                try:
                    final = reestimate(y)
                except FitError:
                    final = None  # e.g. the MA part became non-invertible: search afresh
        if final is None:
            final = make_model(name).fit(y, periods)
        actual = self._actuals(y, cuts)
        err = np.abs(actual - fc)
        mae = float(np.nanmean(err)) if np.isfinite(err).any() else np.inf
        return _Member(name, final, fc, sc, mae)

    def _actuals(self, y: FloatArray, cuts: Sequence[int]) -> FloatArray:
        out = np.full((len(cuts), self.horizon), np.nan)
        for i, cut in enumerate(cuts):
            part = y[cut : cut + self.horizon]
            out[i, : part.size] = part
        return out

    def fit(self, y: FloatArray, periods: Sequence[int] = ()) -> Forecaster:
        y = np.asarray(y, dtype=np.float64)
        self.n = y.size
        self._cuts = self._origins(y.size, 0)
        names: Sequence[str]
        long_period = any(p >= LONG_PERIOD and 2 * p <= y.size for p in periods)
        if self.model in ("auto", "ensemble") and (y.size >= LONG_SERIES or long_period):
            names = list(LONG_MEMBERS)
        elif self.model in ("auto", "ensemble"):
            names = [m for m in MEMBERS if m != "stl" or periods]
        else:
            names = [self.model]
        members, errors = [], []
        for name in names:
            try:
                members.append(self._backtest(name, y, periods))
            except FitError as exc:
                errors.append(str(exc))  # FitError messages start with the model name
        if not members:
            self.fallback = "; ".join(errors) or "no model fitted"
            members = [self._backtest("seasonal_naive", y, periods)]
        elif errors:
            self.fallback = "; ".join(errors)
        self.members = members
        self.backtest_mae = {m.name: m.mae for m in members}
        self._combine(y)
        return self

    def _combine(self, y: FloatArray) -> None:
        members = self.members
        if self.model == "ensemble" and len(members) > 1:
            ranked = sorted(members, key=lambda m: m.mae)[:TOP_K]
            if all(np.isfinite(m.mae) for m in ranked):
                raw = np.array([1.0 / max(m.mae, 1e-12) ** 2 for m in ranked])
            else:
                raw = np.ones(len(ranked))
            w = raw / raw.sum()
            self.weights = {m.name: float(wi) for m, wi in zip(ranked, w, strict=True)}
            self.chosen = "ensemble(" + "+".join(self.weights) + ")"
        else:
            best = min(members, key=lambda m: m.mae)
            self.weights = {best.name: 1.0}
            self.chosen = best.name
        used = [m for m in members if m.name in self.weights]
        # Backtest cuts can differ by member (their minimum data differ): use the
        # common tail, the last rows of each matrix line up with the same origins.
        rows = min(m.forecasts.shape[0] for m in used)
        if rows:
            cuts = [y.size - k * self.horizon for k in range(rows, 0, -1)]
            fc = np.zeros((rows, self.horizon))
            sc = np.zeros((rows, self.horizon))
            for m in used:
                fc += self.weights[m.name] * m.forecasts[-rows:]
                sc += self.weights[m.name] * m.scales[-rows:]
            actual = self._actuals(y, cuts)
            self.calibration = Calibration.from_errors(actual - fc, sc)
            err = np.abs(actual - fc)
            self.backtest_mae[self.chosen] = float(np.nanmean(err))
        else:
            self.calibration = None
        recent = getattr(used[0].model, "recent_errors", None) if len(used) == 1 else None
        if callable(recent):
            self.calibration = self._recent_calibration(*recent())

    def _recent_calibration(self, errors: FloatArray, scales: FloatArray) -> Calibration | None:
        """A model alone that knows its recent k-step errors (at every origin of the
        recent window, not just the backtest's few): calibrate on those, the newer
        origins weighing more (half-life ``RECENT_HALF_LIFE`` of the window), scaled by
        the square root of how much larger (or smaller) the out-of-sample backtest
        errors were, as a 95% quantile of the scores over the same steps."""
        if not errors.size:
            return self.calibration
        n = errors.shape[0]
        own = Calibration.from_errors(errors, scales, decay_weights(n, RECENT_HALF_LIFE * n))
        if self.calibration is not None and self.calibration.size:
            steps = min(errors.shape[1], self.calibration.scores.shape[1])
            outside = self.calibration.scores[:, :steps]
            inside = own.scores[:, :steps]
            ratio = conformal_quantile(outside[np.isfinite(outside)], 0.95) / max(
                conformal_quantile(inside[np.isfinite(inside)], 0.95), 1e-300
            )
            if np.isfinite(ratio) and ratio > 0:
                own = own.scaled(float(ratio) ** RATIO_POWER)
        return own

    def compact(self) -> None:
        """Keep only the members in use, each without the history it no longer needs."""
        self.members = [m for m in self.members if m.name in self.weights]
        for member in self.members:
            member.model.compact()
        if self.calibration is not None:
            self.calibration.compact()

    def backtest_coverage(self, level: float) -> float | None:
        """Share of backtest errors inside the calibrated interval (leave-one-out check)."""
        if self.calibration is None or not self.calibration.size:
            return None
        return self.calibration.coverage(level)

    # -- forecasting -------------------------------------------------------------
    def forecast(self, h: int, level: float = 0.95) -> Forecast:
        used = [m for m in self.members if m.name in self.weights]
        mean = sum(self.weights[m.name] * m.model.forecast(h) for m in used)
        scales = sum(self.weights[m.name] * m.model.sigma(h) for m in used)
        assert isinstance(mean, np.ndarray) and isinstance(scales, np.ndarray)
        if self.calibration is not None and self.calibration.size:
            half = self.calibration.half_widths(scales, level)
            conf = self.calibration.confidence(mean, scales, self.tolerance)
        else:
            from ._base import normal_bounds

            lower, upper = normal_bounds(mean, scales, level)
            half = (upper - lower) / 2
            conf = np.zeros(h)
        return Forecast(mean, mean - half, mean + half, conf, level, self.chosen)
