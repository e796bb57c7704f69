"""Each function's call metrics for the telemetry bus: duration and error rate.

The error rate is an exponentially weighted mean over roughly the last 10 invocations
(``function_error_rate``); each invocation's duration is published as it ends
(``function_duration_ms``). Both are labelled with the function's current name.
"""

from __future__ import annotations

from ..telemetry import MetricSeries, Telemetry

__all__ = ["CallMetrics"]

ERROR_RATE_WEIGHT = 0.1  # the weight of the newest call: a mean over about 10 calls


class CallMetrics:
    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self._series: dict[str, tuple[MetricSeries, MetricSeries]] = {}
        self._error_rates: dict[str, float] = {}

    def record(
        self,
        function_id: str,
        function_name: str,
        ok: bool,
        duration_ms: float,
        at: float,
    ) -> None:
        series = self._series.get(function_id)
        if series is None or series[0].labels["function"] != function_name:  # renamed
            labels = {"function": function_name}
            series = self._series[function_id] = (
                self._telemetry.series("function_duration_ms", labels),
                self._telemetry.series("function_error_rate", labels),
            )
        rate = self._error_rates.get(function_id, 0.0)
        rate += ERROR_RATE_WEIGHT * ((0.0 if ok else 1.0) - rate)
        self._error_rates[function_id] = rate
        self._telemetry.publish(series[0], duration_ms, at)
        self._telemetry.publish(series[1], rate, at)
