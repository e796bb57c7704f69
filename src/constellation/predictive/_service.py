"""Predictors by name, forecasts by metric name, and the background retrain loop.

:class:`PredictiveService` is the registry behind the module-level API and the
:class:`ForecastProvider` the autoscaler calls. ``forecast(metric, horizon)`` uses the
predictor registered under that name when there is one; otherwise it reads the series
from the *series source* (``set_series_source``: a callable ``name -> [(timestamp,
value), ...]`` or a :class:`constellation.telemetry.Telemetry`), trains an ``auto``
predictor on it and caches that until the source has newer points and the cached
model is older than ``retrain_interval``.

With a store (``attach_store``, the platform's), predictors are saved after each
training and at shutdown, deleted with ``destroy``, and restored when attached: a
restarted platform forecasts at once, from the restored model, even before its
telemetry has a new point (see ``_persist``).

The retrain loop (``init`` / ``shutdown`` / ``is_running``) is a daemon thread that
every ``tick_seconds`` retrains each predictor that ``needs_retrain(now)``; ``now``
comes from the injected clock, and :meth:`PredictiveService.tick` runs one pass
synchronously, which is how tests drive it without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from constellation.errors import ConflictError, ConstellationError, NotFoundError
from constellation.store import Store
from constellation.telemetry import Telemetry

from ._config import PredictorConfig
from ._errors import NoSeriesError, PredictiveValidationError, check_horizon
from ._persist import PredictorStore
from ._predictor import Prediction, Predictor

__all__ = ["ForecastProvider", "PredictiveService", "SeriesSource", "telemetry_source"]

SeriesSource = Callable[[str], Sequence[tuple[float, float]]]


@runtime_checkable
class ForecastProvider(Protocol):
    """What the autoscaler needs: a forecast of a metric ``horizon_seconds`` ahead."""

    def forecast(self, metric_name: str, horizon_seconds: float) -> Prediction: ...


def telemetry_source(telemetry: Telemetry) -> SeriesSource:
    """A series source over a Telemetry registry.

    ``name`` is a full series key (``function_concurrency{function="resize"}``) or a
    bare name that only one series carries; a bare name shared by several labelled
    series is ambiguous, and the error lists their keys.
    """

    def read(name: str) -> list[tuple[float, float]]:
        found = telemetry.find(name)
        exact = [s for s in found if s.key == name]
        if exact:
            found = exact
        if len(found) > 1:
            keys = ", ".join(sorted(s.key for s in found))
            raise PredictiveValidationError(
                "metric_name", f"{name!r} matches several series; name one of: {keys}"
            )
        return [(p.timestamp, p.value) for p in found[0]] if found else []

    return read


class PredictiveService:
    """A registry of predictors plus the platform hook; implements ForecastProvider."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._predictors: dict[str, Predictor] = {}
        self._derived: dict[str, Predictor] = {}  # trained from the series source
        self._source: SeriesSource | None = None
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.tick_seconds = 1.0
        self.errors: list[str] = []  # last retrain failures, newest last (bounded)
        self._saved: PredictorStore | None = None

    # -- persistence -------------------------------------------------------------------
    def attach_store(self, store: Store) -> int:
        """Restore the predictors saved in ``store`` and save there from now on;
        returns how many were restored. Call after ``set_series_source``."""
        saved = PredictorStore(store)
        restored = saved.load(self.clock)
        with self._lock:
            self._saved = saved
            for kind, predictor in restored:
                table = self._predictors if kind == "registered" else self._derived
                table.setdefault(predictor.metric_name, predictor)
        return len(restored)

    def _save(self, predictor: Predictor, kind: str) -> None:
        saved = self._saved
        if saved is None or predictor.closed:
            return
        try:
            saved.save(predictor, kind, self.clock())
        except ConstellationError as exc:  # a closed store: the in-memory state still works
            self.errors = [*self.errors[-49:], f"{predictor.metric_name}: not saved: {exc}"]

    def save_all(self) -> None:
        """Save every predictor (with its newest samples) now."""
        with self._lock:
            rows = [("registered", p) for p in self._predictors.values()]
            rows += [("derived", p) for p in self._derived.values()]
        for kind, predictor in rows:
            self._save(predictor, kind)

    # -- predictors ------------------------------------------------------------------
    def create(
        self, config: Mapping[str, Any] | PredictorConfig | None = None, **kwargs: Any
    ) -> Predictor:
        cfg = (
            config
            if isinstance(config, PredictorConfig)
            else PredictorConfig.from_value(config, **kwargs)
        )
        with self._lock:
            if cfg.metric_name in self._predictors:
                raise ConflictError(f"a predictor for {cfg.metric_name!r} exists; destroy it first")
            predictor = Predictor(cfg, self.clock)
            self._predictors[cfg.metric_name] = predictor
        return predictor

    def get(self, metric_name: str) -> Predictor:
        with self._lock:
            found = self._predictors.get(metric_name)
        if found is None:
            raise NotFoundError("predictor", metric_name)
        return found

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._predictors)

    def derived_names(self) -> list[str]:
        """The series that ``forecast`` has made a predictor for (no registered one)."""
        with self._lock:
            return sorted(self._derived)

    def find(self, metric_name: str) -> Predictor | None:
        """The registered predictor of ``metric_name``, else the one ``forecast`` made
        from its series, else None; makes and trains nothing."""
        with self._lock:
            return self._predictors.get(metric_name) or self._derived.get(metric_name)

    def destroy(self, predictor: Predictor | str) -> bool:
        """Forget a predictor (or its name) and free it. False if it was not registered."""
        name = predictor if isinstance(predictor, str) else predictor.metric_name
        with self._lock:
            found = self._predictors.pop(name, None)
            if found is not None and not isinstance(predictor, str) and found is not predictor:
                self._predictors[name] = found  # a different predictor of that name: keep it
                found = None
        if found is None:
            return False
        found.close()
        if self._saved is not None:
            self._saved.delete(name)
        return True

    # -- the platform hook ----------------------------------------------------------------
    def set_series_source(self, source: SeriesSource | Telemetry | None) -> None:
        """Where ``forecast(name, ...)`` reads series that have no registered predictor."""
        with self._lock:
            self._source = telemetry_source(source) if isinstance(source, Telemetry) else source
            self._derived.clear()

    def forecast(self, metric_name: str, horizon_seconds: float) -> Prediction:
        check_horizon(horizon_seconds)
        with self._lock:
            registered = self._predictors.get(metric_name)
        if registered is not None:
            if not registered.trained:
                registered.train()
                self._save(registered, "registered")
            return registered.predict(horizon_seconds)
        return self._derived_predictor(metric_name).predict(horizon_seconds)

    predict = forecast

    def _derived_predictor(self, name: str) -> Predictor:
        with self._lock:
            source = self._source
            cached = self._derived.get(name)
        if source is None and cached is None:
            raise NoSeriesError("predictor or series", name)
        points = list(source(name)) if source is not None else []
        if not points:
            if cached is not None and cached.trained:
                return cached  # restored from the store: forecasts until new points come
            raise NoSeriesError("predictor or series", name)
        newest = max(ts for ts, _ in points)
        if cached is not None:
            trained_at = cached.get_stats().get("trained_at")
            fresh = newest <= (cached.newest_timestamp or newest)
            age = self.clock() - float(trained_at or 0)  # type: ignore[arg-type]
            if fresh or age < cached.config.retrain_interval:
                return cached
        predictor = Predictor(PredictorConfig(name, model="auto", training_window=0), self.clock)
        if cached is not None:  # keep the history the source no longer has (a restart)
            first = min(ts for ts, _ in points)
            ts, ys = cached.samples()
            keep = ts < first
            predictor.add_samples(zip(ts[keep].tolist(), ys[keep].tolist(), strict=True))
        predictor.add_samples(points)
        predictor.train()
        with self._lock:
            self._derived[name] = predictor
        self._save(predictor, "derived")
        return predictor

    # -- background retraining ---------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[str]:
        """Retrain every predictor that is due at ``now``; returns their names."""
        now = self.clock() if now is None else now
        with self._lock:
            predictors = list(self._predictors.values())
        done = []
        for predictor in predictors:
            if predictor.closed or not predictor.needs_retrain(now):
                continue
            try:
                predictor.train(now=now)
                done.append(predictor.metric_name)
                self._save(predictor, "registered")
            except ConstellationError as exc:  # keep the loop alive; the old model stays
                self.errors = [*self.errors[-49:], f"{predictor.metric_name}: {exc}"]
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick()

    def init(self, tick_seconds: float = 1.0) -> None:
        """Start the retrain loop (idempotent)."""
        with self._lock:
            if self.is_running():
                return
            self.tick_seconds = tick_seconds
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="predictive-retrain", daemon=True
            )
            self._thread.start()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def shutdown(self, destroy: bool = False) -> None:
        """Stop the loop (idempotent); ``destroy=True`` also frees every predictor."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        self._thread = None
        self.save_all()
        if destroy:
            with self._lock:
                predictors = list(self._predictors.values())
                self._predictors.clear()
                self._derived.clear()
            for p in predictors:
                p.close()

    def __enter__(self) -> PredictiveService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(destroy=True)
