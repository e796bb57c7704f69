"""The ``predictive`` replay's arrival forecasts: the live autoscaler's own model.

The model (idle-time histograms, the hazard of a call after ``g`` idle minutes, keep-alive
windows for memoryless functions) is :class:`constellation.serverless.ArrivalModel`, the
code the live autoscaler runs for each function with ``enable_predictive_scaling``; its
module documentation says how it decides. Here it steps every function of a trace at
once: before forecasting minute ``m`` it takes in the trace's minutes up to ``m - 1``.
"""

from __future__ import annotations

import numpy as np

from constellation.serverless import ArrivalModel

from ._replay_policies import ReplayConfig
from ._trace import Trace

__all__ = ["ArrivalForecasts"]


class ArrivalForecasts:
    """Per-minute arrival forecasts for every function of a replayed trace."""

    def __init__(self, trace: Trace, needed: np.ndarray, config: ReplayConfig) -> None:
        self.needed = needed
        self.config = config
        self.model = ArrivalModel(len(trace.functions), config.arrival_config())
        self.seen_until = -1

    @property
    def min_rate(self) -> float:
        """The lowest re-arrival rate given a keep-alive window (an idle budget moves it)."""
        return self.model.min_rate

    @min_rate.setter
    def min_rate(self, rate: float) -> None:
        self.model.min_rate = rate

    def at(self, minute: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(instances, hazard, threshold) for ``minute``; minutes come in order."""
        while self.seen_until < minute - 1:
            self.seen_until += 1
            self.model.observe(self.seen_until, self.needed[:, self.seen_until])
        return self.model.forecast(minute)

    def keepalive_minutes(self) -> np.ndarray:
        """Each function's keep-alive window (idle minutes; 0: none)."""
        return self.model.keepalive_minutes()
