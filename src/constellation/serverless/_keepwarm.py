"""The live side of the arrival forecasts: each predictive function's minutes, read from
its pool, fed to the shared :class:`~._arrivals.ArrivalModel` (the same code the trace
replayer's ``predictive`` policy runs over a whole trace).

Minutes here are the replay's minutes on the live clock: minute ``m`` is the seconds
``[60 m - lead_s, 60 m + 60 - lead_s)``, so they begin ``lead_s`` (10) seconds before the
clock's minutes and an instance warmed for minute ``m`` (a timer's tick at ``:00``) is
started before the minute does. A minute's need is the replay's ``ceil(n * d / 60000)``
with ``n * d`` the instance-seconds its calls were in flight (at least one instance when
a call started or ran in it). At each autoscaler tick in minute ``m`` every earlier
minute has been taken in, and the forecast is the model's for minute ``m``: what the
replay decides at the end of minute ``m - 1``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._arrivals import ArrivalConfig, ArrivalModel, combine_forecasts
from ._autoscaler import Forecast

__all__ = ["KeepWarm", "combine"]


class _Feed:
    """One function: its model and the minute being added up."""

    def __init__(self, config: ArrivalConfig) -> None:
        self.model = ArrivalModel(1, config)
        self.read_until = -(2**62)  # the last second read from the pool
        self.minute: int | None = None
        self.busy_seconds = 0.0
        self.starts = 0

    def flush(self) -> None:
        if self.minute is None:
            return
        need = math.ceil(self.busy_seconds / 60.0 - 1e-9)
        if self.starts or self.busy_seconds > 0:
            need = max(need, 1)
        self.model.observe(self.minute, np.array([need], dtype=np.int64))
        self.minute, self.busy_seconds, self.starts = None, 0.0, 0


class KeepWarm:
    """Arrival forecasts (and keep-alive windows) of the live autoscaler's functions."""

    def __init__(self, config: ArrivalConfig | None = None) -> None:
        self.config = config or ArrivalConfig()
        self._feeds: dict[str, _Feed] = {}
        self._lock = threading.Lock()  # a tick by hand may overlap the loop's

    def minute_of(self, moment: float) -> int:
        return math.floor((moment + self.config.lead_s) / 60.0)

    def forecast(self, function_id: str, pool: Any, moment: float) -> Forecast:
        """The arrival forecast of ``pool``'s function for the minute ``moment`` is in."""
        lead = self.config.lead_s
        current = self.minute_of(moment)
        with self._lock:
            feed = self._feeds.get(function_id)
            if feed is None:
                feed = self._feeds[function_id] = _Feed(self.config)
            for second, busy, starts in pool.activity(feed.read_until, moment):
                minute = (second + lead) // 60
                if feed.minute is not None and minute != feed.minute:
                    feed.flush()
                feed.minute = minute
                feed.busy_seconds += busy
                feed.starts += starts
                feed.read_until = second
            if feed.minute is not None and feed.minute < current:
                feed.flush()
            value, hazard, threshold = feed.model.forecast(current)
        return Forecast(float(value[0]), float(hazard[0]), float(threshold[0]))

    def keepalive_minutes(self, function_id: str) -> int:
        """The function's keep-alive window in idle minutes (0: none, or not seen yet)."""
        feed = self._feeds.get(function_id)
        return 0 if feed is None else int(feed.model.keepalive_minutes()[0])

    def forget_others(self, function_ids: Iterable[str]) -> None:
        """Drop what was learnt of functions not in ``function_ids`` (removed ones)."""
        keep = set(function_ids)
        with self._lock:
            for gone in [f for f in self._feeds if f not in keep]:
                del self._feeds[gone]


def combine(*forecasts: Forecast | None) -> Forecast | None:
    """:func:`~._arrivals.combine_forecasts` for one function; None when none is confident."""
    given = [f for f in forecasts if f is not None]
    if not given:
        return None
    value, confidence, threshold = combine_forecasts(
        [(np.array([f.value]), np.array([f.confidence]), np.array([f.threshold])) for f in given]
    )
    if confidence[0] <= 0:
        return None
    return Forecast(float(value[0]), float(confidence[0]), float(threshold[0]))
