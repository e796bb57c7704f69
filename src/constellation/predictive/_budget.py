"""An idle-time budget for the ``predictive`` policy's keep-alive windows.

Keep-alive windows for memoryless functions (:mod:`._arrivals`) cost about the same per
day whatever a function's rate, so how many functions get one is a question of budget.
The budget here is relative to the platform's ``reactive`` autoscaler: the policy
replays ``reactive`` beside itself (a shadow: same trace, its own warm instances) and
may spend ``budget_ratio`` times the idle instance-seconds ``reactive`` has spent so far.
Every ``budget_step_minutes`` it compares the two totals: over budget, the lowest rate
that gets a window (``ArrivalForecasts.min_rate``) goes up by ``budget_factor``; under,
down by it (between ``keepalive_min_rate`` and 1 call a minute). The densest functions
keep their windows longest: their rate is known soonest and a window costs them least.
"""

from __future__ import annotations

import numpy as np

from ._arrivals import ArrivalForecasts
from ._replay_policies import Autoscaled, ReplayConfig
from ._trace import Trace

__all__ = ["IdleBudget"]


class IdleBudget:
    """Wraps the ``predictive`` policy: steps it, the shadow ``reactive`` and the budget."""

    def __init__(
        self, policy: Autoscaled, arrivals: ArrivalForecasts, trace: Trace, config: ReplayConfig
    ) -> None:
        self.policy = policy
        self.arrivals = arrivals
        self.config = config
        self.shadow = Autoscaled(trace, config)
        self.shadow_warm = np.zeros(len(trace.functions), dtype=np.int64)
        self.busy_seconds = trace.invocations * trace.duration_ms / 1000.0
        self.spent = 0.0
        self.shadow_spent = 0.0
        #: the lowest rate given a window after each budget step (for the report)
        self.history: list[float] = []
        arrivals.min_rate = config.keepalive_min_rate

    def after_minute(self, t: int, demand: np.ndarray, alive: np.ndarray) -> np.ndarray:
        cfg = self.config
        busy = self.busy_seconds[:, t]
        shadow_alive = np.maximum(self.shadow_warm, demand)
        self.shadow_spent += float(np.maximum(shadow_alive * 60.0 - busy, 0.0).sum())
        self.spent += float(np.maximum(alive * 60.0 - busy, 0.0).sum())
        self.shadow_warm = self.shadow.after_minute(t, demand, shadow_alive)
        if (t + 1) % cfg.budget_step_minutes == 0:
            rate = self.arrivals.min_rate
            if self.spent > cfg.budget_ratio * self.shadow_spent:
                rate *= cfg.budget_factor
            else:
                rate /= cfg.budget_factor
            self.arrivals.min_rate = float(np.clip(rate, cfg.keepalive_min_rate, 1.0))
            self.history.append(self.arrivals.min_rate)
        return self.policy.after_minute(t, demand, alive)
