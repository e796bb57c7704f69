"""Prometheus text exposition (format 0.0.4) of the functions' metrics.

Names follow OpenTelemetry's FaaS conventions in Prometheus form:

* ``constellation_function_invocations_total{function,status}``: counter (from the ledger,
  so it survives restarts);
* ``constellation_function_duration_seconds{function}``: histogram of run times;
* ``constellation_function_cold_starts_total{function}``: counter;
* ``constellation_function_instances{function,state}``: gauge, idle and busy instances;
* ``constellation_function_inflight{function}``: gauge, invocations running now;
* ``constellation_http_trigger_requests_total{route,method,code}``: counter (this process);
* ``constellation_async_invocations{state}``: gauge, queued and dead-lettered.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from ..serverless import ServerlessService

__all__ = ["BUCKETS_S", "render_metrics"]

BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + inner + "}"


def _header(lines: list[str], name: str, kind: str, text: str) -> None:
    lines.append(f"# HELP {name} {text}")
    lines.append(f"# TYPE {name} {kind}")


def _histogram(lines: list[str], function: str, durations_ms: Iterable[float]) -> None:
    ordered = sorted(durations_ms)
    name = "constellation_function_duration_seconds"
    for bound in BUCKETS_S:
        count = bisect.bisect_right(ordered, bound * 1000.0)
        lines.append(f"{name}_bucket{_labels(function=function, le=str(bound))} {count}")
    lines.append(f"{name}_bucket{_labels(function=function, le='+Inf')} {len(ordered)}")
    lines.append(f"{name}_sum{_labels(function=function)} {sum(ordered) / 1000.0!r}")
    lines.append(f"{name}_count{_labels(function=function)} {len(ordered)}")


def render_metrics(
    service: ServerlessService, http_requests: dict[tuple[str, str, int], int] | None = None
) -> str:
    functions = service.list_functions()
    instances = service.list_instances()
    lines: list[str] = []
    _header(
        lines,
        "constellation_function_invocations_total",
        "counter",
        "Invocations by function and final status.",
    )
    cold: dict[str, int] = {}
    for info in functions:
        counts = service.ledger.counts(info.id)
        cold[info.name] = counts["cold_starts"]
        for status, n in sorted(counts["by_status"].items()):
            labels = _labels(function=info.name, status=status)
            lines.append(f"constellation_function_invocations_total{labels} {n}")
    _header(
        lines,
        "constellation_function_duration_seconds",
        "histogram",
        "Handler run time per invocation (throttled calls excluded).",
    )
    for info in functions:
        _histogram(lines, info.name, service.ledger.durations(info.id))
    _header(lines, "constellation_function_cold_starts_total", "counter", "Cold starts.")
    for name, n in cold.items():
        lines.append(f"constellation_function_cold_starts_total{_labels(function=name)} {n}")
    by_function: dict[str, dict[str, int]] = {f.name: {"idle": 0, "busy": 0} for f in functions}
    for inst in instances:
        by_function.setdefault(inst.function_name, {"idle": 0, "busy": 0})[inst.status] += 1
    _header(lines, "constellation_function_instances", "gauge", "Instances by state.")
    for name, states in by_function.items():
        for state, n in states.items():
            labels = _labels(function=name, state=state)
            lines.append(f"constellation_function_instances{labels} {n}")
    _header(lines, "constellation_function_inflight", "gauge", "Invocations running now.")
    for name, states in by_function.items():
        lines.append(f"constellation_function_inflight{_labels(function=name)} {states['busy']}")
    stats = service.get_serverless_stats()
    _header(lines, "constellation_async_invocations", "gauge", "Async invocations by state.")
    lines.append(f'constellation_async_invocations{{state="queued"}} {stats.async_queued}')
    lines.append(f'constellation_async_invocations{{state="dead"}} {stats.dead_letters}')
    _header(
        lines,
        "constellation_http_trigger_requests_total",
        "counter",
        "HTTP trigger requests served by this process.",
    )
    for (route, method, code), n in sorted((http_requests or {}).items()):
        labels = _labels(route=route, method=method, code=str(code))
        lines.append(f"constellation_http_trigger_requests_total{labels} {n}")
    return "\n".join(lines) + "\n"
