"""``/metrics``: Prometheus text exposition (format 0.0.4) through ``prometheus_client``.

Two parts, one text:

* the platform's registry (``service.ledger.metrics.registry``): invocation counters and
  histograms kept up to date by the ledger as invocations are recorded (see
  :mod:`constellation.serverless._prometheus` for the names; they follow the
  OpenTelemetry FaaS conventions where one fits), and the process and platform
  collectors (``process_*``, ``python_info``);
* the state of this moment, gathered per scrape into a throwaway registry:
  ``constellation_function_instances{function,state}``,
  ``constellation_function_inflight{function}``, ``constellation_async_invocations{state}``
  and ``constellation_http_trigger_requests_total{route,method,code}`` (this process).

A scrape costs the number of functions and instances, not the number of invocations.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..serverless import ServerlessService

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class _LiveState(Collector):
    """Instances, in-flight calls, the async queue and HTTP trigger requests, now."""

    def __init__(
        self, service: ServerlessService, http_requests: dict[tuple[str, str, int], int]
    ) -> None:
        self._service = service
        self._http = http_requests

    def collect(self) -> Iterator[Metric]:
        service = self._service
        states: dict[str, dict[str, int]] = {
            f.name: {"idle": 0, "busy": 0} for f in service.list_functions()
        }
        for inst in service.list_instances():
            states.setdefault(inst.function_name, {"idle": 0, "busy": 0})[inst.status] += 1
        instances = GaugeMetricFamily(
            "constellation_function_instances", "Instances by state.", labels=["function", "state"]
        )
        inflight = GaugeMetricFamily(
            "constellation_function_inflight", "Invocations running now.", labels=["function"]
        )
        for name, by_state in sorted(states.items()):
            for state, n in by_state.items():
                instances.add_metric([name, state], n)
            inflight.add_metric([name], by_state["busy"])
        queue = service.async_queue.counts()
        waiting = GaugeMetricFamily(
            "constellation_async_invocations", "Async invocations by state.", labels=["state"]
        )
        waiting.add_metric(["queued"], queue.get("queued", 0) + queue.get("running", 0))
        waiting.add_metric(["dead"], queue.get("dead", 0))
        http = CounterMetricFamily(
            "constellation_http_trigger_requests",
            "HTTP trigger requests served by this process.",
            labels=["route", "method", "code"],
        )
        for (route, method, code), n in sorted(self._http.items()):
            http.add_metric([route, method, str(code)], n)
        yield from (instances, inflight, waiting, http)


def render_metrics(
    service: ServerlessService, http_requests: dict[tuple[str, str, int], int] | None = None
) -> str:
    service.ledger.flush()  # the invocations that have returned are in the counters
    live = CollectorRegistry(auto_describe=False)
    live.register(_LiveState(service, http_requests or {}))
    text = generate_latest(service.ledger.metrics.registry) + generate_latest(live)
    return text.decode()
