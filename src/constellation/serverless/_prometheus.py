"""The platform's Prometheus registry: invocation series kept up to date by the ledger.

One :class:`prometheus_client.CollectorRegistry` per platform (tests build many platforms
in one process, so the global default registry is not used), holding the process and
platform collectors and :class:`InvocationCollector`. The collector's figures live in
memory: seeded at start from the ledger's all-time totals (so counters survive a
restart, as before) and added to by each ledger flush with that flush's aggregate. A
scrape reads memory only; it never scans the ledger.

Names follow the OpenTelemetry FaaS metric conventions where one fits (``faas.invocations``
is *successful* invocations, ``faas.errors`` failed ones other than timeouts), in
Prometheus form; the rest are Constellation's own, prefixed ``constellation_``. Labels:
``function`` (the function's name), ``trigger`` on the ``faas_*`` series (OTel's
``faas.trigger``: http, pubsub, timer, other; from the per-trigger totals,
``_trigger_totals.py``) and ``status`` (one of six outcomes) on
``constellation_function_invocations``, so the series count grows with the number of
functions only (times four triggers at most).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ._rollups import INIT_BUCKETS_S, INVOKE_BUCKETS_S, MEM_BUCKETS_BYTES, Total

__all__ = ["InvocationCollector", "LedgerMetrics"]

_ERRORS = ("error", "memory_limit", "crashed")


def _cumulative(
    bounds: tuple[float, ...], counts: list[int], total: float
) -> list[tuple[str, float]]:
    buckets, running = [], 0
    for bound, n in zip(bounds, counts, strict=False):
        running += n
        buckets.append((repr(float(bound)), float(running)))
    buckets.append(("+Inf", float(running + counts[-1])))
    return buckets


class InvocationCollector(Collector):
    """Invocation counters and histograms per function, from in-memory totals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str], Total] = {}
        self._by_trigger: dict[tuple[str, str, str], Total] = {}

    def add_by_trigger(self, totals: Mapping[tuple[str, str, str], Total]) -> None:
        """Add totals per (function id, faas.trigger, status)."""
        with self._lock:
            for key, total in totals.items():
                mine = self._by_trigger.get(key)
                if mine is None:
                    mine = self._by_trigger[key] = Total(total.function_name)
                mine.merge(total, sketch=False)

    def _per_function_trigger(self) -> dict[tuple[str, str], dict[str, Total]]:
        """Copies of the totals per (function name, trigger) and status."""
        with self._lock:
            out: dict[tuple[str, str], dict[str, Total]] = {}
            for (_, trigger, status), total in self._by_trigger.items():
                by_status = out.setdefault((total.function_name, trigger), {})
                copy = by_status.setdefault(status, Total(total.function_name))
                copy.merge(total, sketch=False)
            return out

    def add(self, totals: Mapping[tuple[str, str], Total]) -> None:
        """Add totals per (function id, status): a flush's, or the stored ones at start."""
        with self._lock:
            for key, total in totals.items():
                mine = self._totals.get(key)
                if mine is None:
                    mine = self._totals[key] = Total(total.function_name)
                mine.merge(total, sketch=False)

    def _per_function(self) -> dict[str, dict[str, Total]]:
        """Copies of the totals per function name and status (a name deleted and created
        again is one series: the label is the name)."""
        with self._lock:
            out: dict[str, dict[str, Total]] = {}
            for (_, status), total in self._totals.items():
                by_status = out.setdefault(total.function_name, {})
                copy = by_status.setdefault(status, Total(total.function_name))
                copy.merge(total, sketch=False)
            return out

    def collect(self) -> Iterator[Metric]:
        functions = sorted(self._per_function().items())
        statuses = CounterMetricFamily(
            "constellation_function_invocations",
            "Invocations by function and final status (throttled included).",
            labels=["function", "status"],
        )
        faas = ["function", "trigger"]
        ok = CounterMetricFamily("faas_invocations", "Successful invocations.", labels=faas)
        errors = CounterMetricFamily(
            "faas_errors",
            "Failed invocations other than timeouts (error, memory_limit, crashed).",
            labels=faas,
        )
        timeouts = CounterMetricFamily("faas_timeouts", "Invocation timeouts.", labels=faas)
        throttles = CounterMetricFamily(
            "constellation_function_throttles", "Invocations refused.", labels=["function"]
        )
        cold = CounterMetricFamily("faas_coldstarts", "Cold starts.", labels=faas)
        billed = CounterMetricFamily(
            "constellation_function_billed_seconds",
            "Billed duration (run time plus cold-start init, rounded up to 1 ms).",
            labels=["function"],
        )
        gb_s = CounterMetricFamily(
            "constellation_function_gigabyte_seconds",
            "Billed duration times configured memory, in GB-seconds.",
            labels=["function"],
        )
        invoke = HistogramMetricFamily(
            "faas_invoke_duration_seconds",
            "Handler run time per invocation (throttled calls excluded).",
            labels=faas,
        )
        init = HistogramMetricFamily(
            "faas_init_duration_seconds", "Cold-start init time.", labels=faas
        )
        mem = HistogramMetricFamily(
            "faas_mem_usage_bytes",
            "Peak memory (RSS) of the instance per invocation.",
            labels=faas,
        )
        for name, by_status in functions:
            every = Total(name)
            for status, total in sorted(by_status.items()):
                statuses.add_metric([name, status], total.agg.n)
                every.merge(total, sketch=False)
            throttles.add_metric(
                [name], by_status["throttled"].agg.n if "throttled" in by_status else 0
            )
            billed.add_metric([name], every.agg.billed_ms / 1000.0)
            gb_s.add_metric([name], every.agg.mb_ms / 1024.0 / 1000.0)
        for (name, trigger), by_status in sorted(self._per_function_trigger().items()):
            labels = [name, trigger]
            every = Total(name)
            for total in by_status.values():
                every.merge(total, sketch=False)
            ran = sum(t.agg.n for s, t in by_status.items() if s != "throttled")
            ok.add_metric(labels, by_status["success"].agg.n if "success" in by_status else 0)
            errors.add_metric(labels, sum(by_status[s].agg.n for s in _ERRORS if s in by_status))
            timeouts.add_metric(labels, by_status["timeout"].agg.n if "timeout" in by_status else 0)
            cold.add_metric(labels, every.agg.cold)
            invoke.add_metric(
                labels,
                _cumulative(INVOKE_BUCKETS_S, every.invoke, ran),
                every.agg.duration_ms / 1000.0,
            )
            init.add_metric(
                labels,
                _cumulative(INIT_BUCKETS_S, every.init, every.agg.cold),
                every.agg.init_ms / 1000.0,
            )
            mem_sum = every.mem_mb * 1024.0 * 1024.0
            mem.add_metric(labels, _cumulative(MEM_BUCKETS_BYTES, every.mem, ran), mem_sum)
        yield from (
            statuses,
            ok,
            errors,
            timeouts,
            throttles,
            cold,
            billed,
            gb_s,
            invoke,
            init,
            mem,
        )


class LedgerMetrics:
    """The platform's registry. ``close()`` unregisters the collectors; idempotent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.invocations = InvocationCollector()
        self._collectors: list[Collector] = [
            self.invocations,
            ProcessCollector(registry=None),
            PlatformCollector(registry=None),
        ]
        for collector in self._collectors:
            self.registry.register(collector)

    def close(self) -> None:
        for collector in self._collectors:
            try:
                self.registry.unregister(collector)
            except KeyError:
                pass
        self._collectors = []
