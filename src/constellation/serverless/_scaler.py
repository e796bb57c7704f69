"""The autoscaler loop: every tick, decide each function's instance count and apply it.

Applying means: start instances up to the decision (in the background, so a slow cold
start never delays the tick), and let the pool keep at least that many when it reaps
idle ones. Instances above the decision are closed once idle for the policy's
``idle_timeout_s``. Each decision that changes something is logged with the inputs that
decided it (``scaling_decisions`` table; ``constellation functions scaling NAME``).

A function with ``enable_predictive_scaling`` gets, besides the forecaster's forecast of
its concurrency, an arrival forecast of its own (:mod:`._keepwarm`: keep-alive windows
for memoryless functions, warm-ups at a timer's tick), the two combined as the trace
replayer's ``predictive`` policy combines them; its idle instances above the decision go
after ``ArrivalConfig.idle_timeout_s`` (60 s), as in the replay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..backends import InstanceStartError
from ..errors import ClosedError
from ._arrivals import ArrivalConfig
from ._autoscaler import AutoscalerConfig, Forecast, ScalingContext, ScalingDecision, decide
from ._keepwarm import KeepWarm, combine
from ._models import FunctionInfo

log = logging.getLogger("constellation.serverless")

if TYPE_CHECKING:
    from ._service import ServerlessService

__all__ = ["Autoscaler", "Forecaster"]

# (function, lead time in seconds) -> the forecast of its concurrency, or None
Forecaster = Callable[[FunctionInfo, float], Forecast | None]


class Autoscaler:
    def __init__(
        self,
        service: ServerlessService,
        config: AutoscalerConfig | None = None,
        *,
        forecaster: Forecaster | None = None,
        arrivals: ArrivalConfig | None = None,
    ) -> None:
        self.service = service
        self.config = config or AutoscalerConfig()
        self.forecaster = forecaster  # predictive scaling's concurrency forecasts
        self.keep_warm = KeepWarm(arrivals)  # predictive scaling's arrival forecasts
        self._panicking_since: dict[str, float | None] = {}
        self._last: dict[str, tuple[int, int, bool]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="autoscaler", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.config.tick_s):
            try:
                self.tick()
            except ClosedError:
                return
            except Exception:  # the loop outlives a bad tick: the next one tries again
                log.exception("autoscaler tick failed")

    def tick(self, now: float | None = None) -> dict[str, ScalingDecision]:
        """Decide and apply once for every function with a pool; returns the decisions."""
        moment = self.service.clock() if now is None else now
        decisions = {}
        pools = list(self.service.pools())
        self.keep_warm.forget_others(p.info.id for p in pools)
        for pool in pools:
            try:
                decisions[pool.info.id] = self._decide(pool, moment)
            except ClosedError:
                raise
            except Exception:  # one function's failure must not stop the others' scaling
                log.exception("autoscaling function %r failed", pool.info.name)
        return decisions

    def _decide(self, pool: Any, moment: float) -> ScalingDecision:
        """One function's decision, applied (a target for its pool, a fill, a log row)."""
        info = pool.info
        stable = pool.demand(self.config.stable_window_s, moment)
        panic = pool.demand(self.config.panic_window_s, moment)
        # The demand series the forecaster learns from (one point per tick).
        self.service.telemetry.record(
            "function_concurrency",
            pool.demand(self.config.tick_s, moment),
            moment,
            {"function": info.name},
        )
        forecast = None
        if info.scaling_policy.enable_predictive_scaling:
            concurrency = None
            if self.forecaster is not None:
                concurrency = self.forecaster(info, self.config.lead_time_s)
            arrival = self.keep_warm.forecast(info.id, pool, moment)
            forecast = combine(concurrency, arrival)
            pool.reap_after_s = self.keep_warm.config.idle_timeout_s
        else:
            pool.reap_after_s = None
        current = pool.counts().total
        ctx = ScalingContext(
            moment,
            current,
            stable,
            panic,
            info.scaling_policy,
            self._panicking_since.get(info.id),
            forecast,
        )
        decision = decide(ctx, self.config)
        self._panicking_since[info.id] = decision.panicking_since
        pool.autoscale_target = decision.desired
        if decision.desired > current:
            threading.Thread(target=self._fill, args=(pool, decision.desired), daemon=True).start()
        self._log(info, moment, current, stable, panic, decision)
        return decision

    @staticmethod
    def _fill(pool: Any, target: int) -> None:
        try:
            pool.fill(target)
        except (ClosedError, InstanceStartError):
            pass  # the next tick tries again

    def _log(
        self,
        info: FunctionInfo,
        now: float,
        current: int,
        stable: float,
        panic: float,
        d: ScalingDecision,
    ) -> None:
        key = (current, d.desired, d.panic)
        if self._last.get(info.id) == key:
            return
        self._last[info.id] = key
        self.service._store.execute(
            "INSERT INTO scaling_decisions VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                info.id,
                now,
                current,
                d.desired,
                d.reactive,
                d.predicted,
                int(d.panic),
                stable,
                panic,
                d.reason,
            ),
        )

    def decisions(self, function_id: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.service._store.query(
            "SELECT * FROM scaling_decisions WHERE function_id = ? ORDER BY at DESC LIMIT ?",
            (function_id, limit),
        )
        return [dict(r) for r in reversed(rows)]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
