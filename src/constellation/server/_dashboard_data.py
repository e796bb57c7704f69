"""What each dashboard view shows, read from the platform's public APIs as JSON-ready dicts.

Every reader is a blocking call (SQLite, the capabilities' locks): the dashboard runs it
on a worker thread. Charts get columns (``{"t": [...], "y": [...]}``), not rows of
objects, which is what uPlot draws and what keeps a day of minutes small on the wire.
A platform part that was never started (no deployments made, no GPU manager) shows as
empty rather than being started by looking at it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import NotFoundError
from ..serverless import ServerlessService

if TYPE_CHECKING:
    from ..platform import Constellation

__all__ = ["PERIODS", "DashboardData"]

DAY_S = 86400.0
SPARK_MINUTES = 60
PERIODS = {"hour": 3600.0, "day": DAY_S, "week": 7 * DAY_S, "month": 30 * DAY_S}
_AROUND_S = 300.0  # an anomaly's chart: this long either side of it
_MAX_CHART_POINTS = 2000
# Minutes older than this are taken as settled: the overview reads each of them once.
# (An invocation is rolled up in the minute it started, when it ends: one that ran
# longer than this could still add to a settled minute, and the sparkline would miss it.)
SETTLE_MINUTES = 5


class _RecentCounts:
    """Every function's invocations, errors and cold starts per minute over the last
    hour as a (3, functions, 60) array, kept between calls: each call reads only the
    unsettled minutes of the rollups (1,000 functions: 5,000 rows rather than 60,000),
    and the settled minutes' array is rebuilt only when the hour moves on."""

    def __init__(self, service: ServerlessService) -> None:
        self.service = service
        self._settled: dict[int, dict[str, tuple[int, int, int]]] = {}
        self._settled_to: int | None = None  # minutes before this are in _settled
        self._base_key: tuple[Any, ...] | None = None
        self._base: npt.NDArray[np.int64] = np.zeros((3, 0, SPARK_MINUTES), dtype=np.int64)
        self._lock = threading.Lock()

    def read(self, first: int, current: int, ids: list[str]) -> npt.NDArray[np.int64]:
        with self._lock:
            start = first if self._settled_to is None else max(first, self._settled_to)
            fresh = self.service.get_minute_counts(start * 60.0, (current + 1) * 60.0)
            settle_to = current - SETTLE_MINUTES
            recent: dict[int, dict[str, tuple[int, int, int]]] = {}
            for function_id, cols in fresh.items():
                for minute, n, errors, cold in zip(
                    cols["minute"],
                    cols["invocations"],
                    cols["errors"],
                    cols["cold_starts"],
                    strict=True,
                ):
                    into = self._settled if minute < settle_to else recent
                    into.setdefault(minute, {})[function_id] = (n, errors, cold)
            for minute in [m for m in self._settled if m < first]:
                del self._settled[minute]
            self._settled_to = max(start, settle_to)
            index = {fid: i for i, fid in enumerate(ids)}
            key = (first, self._settled_to, tuple(ids))
            if key != self._base_key:
                self._base = _fill(np.zeros((3, len(ids), SPARK_MINUTES), np.int64), self._settled, index, first)  # fmt: skip
                self._base_key = key
            return _fill(self._base.copy(), recent, index, first)


def _fill(
    out: npt.NDArray[np.int64],
    table: dict[int, dict[str, tuple[int, int, int]]],
    index: dict[str, int],
    first: int,
) -> npt.NDArray[np.int64]:
    rows, cols, values = [], [], []
    for minute, counts in table.items():
        j = minute - first
        if not 0 <= j < SPARK_MINUTES:
            continue
        for function_id, row in counts.items():
            i = index.get(function_id)
            if i is not None:
                rows.append(i)
                cols.append(j)
                values.append(row)
    if values:
        out[:, rows, cols] = np.array(values, dtype=np.int64).T
    return out


def _columns(points: list[Any], since: float | None = None) -> dict[str, list[float]]:
    """Telemetry points as ``{"t", "y"}`` columns, thinned to at most _MAX_CHART_POINTS."""
    pts = [p for p in points if since is None or p.timestamp >= since]
    step = max(1, math.ceil(len(pts) / _MAX_CHART_POINTS))
    pts = pts[::step]
    return {"t": [round(p.timestamp, 3) for p in pts], "y": [p.value for p in pts]}


class DashboardData:
    """The dashboard's readers over one platform (or only its functions service)."""

    def __init__(
        self,
        service: ServerlessService,
        platform: Constellation | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.platform = platform
        self.clock = clock
        self._recent = _RecentCounts(service)

    # -- helpers -------------------------------------------------------------------
    def _series(self, key: str) -> list[Any]:
        telemetry = self.platform.telemetry if self.platform else self.service.telemetry
        for series in telemetry.find(key):
            if series.key == key:
                return series.points()
        return []

    def _deployments(self) -> Any:
        platform = self.platform
        return platform.deployments if platform is not None and not platform.closed else None

    def _anomalies(self) -> Any:
        return self.platform.anomaly if self.platform is not None else None

    # -- overview ------------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        now = self.clock()
        current = int(now // 60)
        first = current - SPARK_MINUTES + 1
        infos = self.service.list_functions()
        counts = self._recent.read(first, current, [f.id for f in infos])  # (3, F, 60)
        instances = self.service.list_instances()
        per_function: dict[str, int] = {}
        for inst in instances:
            per_function[inst.function_name] = per_function.get(inst.function_name, 0) + 1
        sparks = counts[0].tolist()
        sums = counts.sum(axis=2).tolist()  # per function: invocations, errors, cold starts
        rows = [
            {
                "name": info.name,
                "runtime": info.runtime,
                "memory_mb": info.memory_mb,
                "instances": per_function.get(info.name, 0),
                "invocations_1h": sums[0][i],
                "errors_1h": sums[1][i],
                "cold_starts_1h": sums[2][i],
                "spark": sparks[i],
            }
            for i, info in enumerate(infos)
        ]
        spark_total = counts[0].sum(axis=0).tolist()
        errors_total, cold_total = int(counts[1].sum()), int(counts[2].sum())
        # invocations/s over the last whole minute and the part of this one gone by
        elapsed = 60.0 + (now - current * 60.0)
        rate = (spark_total[-1] + spark_total[-2]) / elapsed
        anomalies = self._anomalies()
        deployments = self._deployments()
        return {
            "now": now,
            "first_minute": first,
            "totals": {
                "functions": len(rows),
                "deployments": len(deployments.list_deployments()) if deployments else 0,
                "instances": len(instances)
                + (len(deployments.list_instances()) if deployments else 0),
                "invocations_per_s": round(rate, 3),
                "errors_1h": errors_total,
                "cold_starts_1h": cold_total,
                "active_anomalies": len(anomalies.get_active()) if anomalies else 0,
                "gpus": len(self._gpus()),
            },
            "spark": spark_total,
            "functions": rows,
        }

    def overview_live(self) -> dict[str, Any]:
        """What the overview updates each second: the cards (not the table)."""
        full = self.overview()
        return {"now": full["now"], "totals": full["totals"], "spark": full["spark"]}

    # -- one function --------------------------------------------------------------
    def function(self, name: str, period: str = "day") -> dict[str, Any]:
        now = self.clock()
        info = self.service.get_function(name)
        span = PERIODS.get(period, DAY_S)
        data = info.to_dict()  # env values masked
        triggers = [t.to_dict() for t in self.service.list_triggers(info.id)]
        decisions = self.service.get_scaling_decisions(info.id, 500)
        return {
            "now": now,
            "function": data,
            "triggers": triggers,
            "series": self.service.get_minute_series(info.id, now - DAY_S, now + 60.0),
            "concurrency": _columns(
                self._series(f'function_concurrency{{function="{info.name}"}}'), now - DAY_S
            ),
            "decisions": decisions,
            "forecast": self._forecast(f'function_concurrency{{function="{info.name}"}}'),
            "instances": [i.to_dict() for i in self.service.list_instances(info.id)],
            "invocations": self.service.get_recent_invocations(info.id, 25),
            "dead_letters": [d.to_dict() for d in self.service.list_dead_letters(info.id)],
            "billing": {
                "period": period if period in PERIODS else "day",
                **self.service.get_billing(info.id, now - span, now).to_dict(),
            },
        }

    def function_live(self, name: str) -> dict[str, Any]:
        """What the function page updates each second: the last two minutes of the
        series, the instances and the newest invocations."""
        now = self.clock()
        info = self.service.get_function(name)
        return {
            "now": now,
            "series": self.service.get_minute_series(info.id, now - 120.0, now + 60.0),
            "instances": [i.to_dict() for i in self.service.list_instances(info.id)],
            "invocations": self.service.get_recent_invocations(info.id, 25),
            "dead_letters": len(self.service.list_dead_letters(info.id)),
        }

    def _predictor(self, metric: str) -> Any:
        predictive = self.platform.active_predictive if self.platform else None
        return predictive.find(metric) if predictive is not None else None

    def _forecast(self, metric: str) -> dict[str, Any] | None:
        """The next minute of forecasts with its interval from the metric's predictor
        (registered, or the one the autoscaler's forecasts made), if there is one."""
        predictor = self._predictor(metric)
        if predictor is None:
            return None
        try:
            predictions = predictor.predict_series(60.0, 12)
        except Exception as exc:  # not trained yet, too few samples: said, not raised
            return {"error": str(exc)}
        return {
            "t": [p.timestamp for p in predictions],
            "value": [p.value for p in predictions],
            "lower": [p.lower_bound for p in predictions],
            "upper": [p.upper_bound for p in predictions],
            "level": predictions[0].level if predictions else None,
            "model": predictions[0].model if predictions else None,
        }

    # -- anomalies -----------------------------------------------------------------
    def anomalies(self) -> dict[str, Any]:
        registry = self._anomalies()
        if registry is None:
            return {"active": [], "resolved": []}
        found = registry.history(limit=200)
        active = [a for a in found if a.resolved_at is None]
        seen = {a.id for a in active}
        active += [a for a in registry.get_active() if a.id not in seen]
        resolved = [a for a in found if a.resolved_at is not None]
        return {
            "active": [self._anomaly(a) for a in active],
            "resolved": [self._anomaly(a) for a in resolved[:50]],
        }

    def _anomaly(self, found: Any) -> dict[str, Any]:
        data = dataclasses.asdict(found)
        lo, hi = found.detected_at - _AROUND_S, found.last_seen_at + _AROUND_S
        points = [p for p in self._series(found.metric_name) if lo <= p.timestamp <= hi]
        chart = _columns(points)
        marked = {"t": [found.detected_at], "y": [found.detected_value]}
        low, high = found.expected_low, found.expected_high
        for p in points:  # the values in its span that lie outside the expected range
            if found.detected_at <= p.timestamp <= found.last_seen_at:
                outside = (low is not None and p.value < low) or (
                    high is not None and p.value > high
                )
                if outside:
                    marked["t"].append(p.timestamp)
                    marked["y"].append(p.value)
        data["chart"] = chart
        data["marked"] = marked
        return data

    # -- forecasts -----------------------------------------------------------------
    def forecasts(self) -> dict[str, Any]:
        """Every predictor: registered ones, and those the autoscaler's forecasts made."""
        predictive = self.platform.active_predictive if self.platform else None
        if predictive is None:
            return {"predictors": []}
        out = []
        for name in sorted({*predictive.names(), *predictive.derived_names()}):
            predictor = predictive.find(name)
            if predictor is None:  # destroyed meanwhile
                continue
            out.append(
                {
                    "metric": name,
                    "history": _columns(self._series(name), self.clock() - DAY_S),
                    "forecast": self._forecast(name),
                    "accuracy": predictor.get_accuracy(),
                    "stats": {k: v for k, v in predictor.get_stats().items() if _plain(v)},
                }
            )
        return {"predictors": out}

    # -- GPUs ----------------------------------------------------------------------
    def _gpus(self) -> list[Any]:
        manager = self.platform.active_gpu if self.platform else None
        return list(manager.discover()) if manager is not None else []

    def gpus(self) -> dict[str, Any]:
        since = self.clock() - DAY_S
        gpus = []
        for gpu in self._gpus():
            labels = f'{{gpu="{gpu.id}"}}'
            gpus.append(
                {
                    "id": gpu.id,
                    "name": gpu.name,
                    "memory_total": gpu.memory_total,
                    "mig_enabled": gpu.mig_enabled,
                    "charts": {
                        metric: _columns(self._series(metric + labels), since)
                        for metric in (
                            "gpu_utilization_percent",
                            "gpu_memory_used_mb",
                            "gpu_temperature_celsius",
                            "gpu_power_watts",
                        )
                    },
                }
            )
        allocations = []
        manager = self.platform.active_gpu if self.platform else None
        if manager is not None:
            for a in manager.allocations():
                allocations.append(
                    {
                        "owner": a.owner,
                        "gpu_ids": list(a.gpu_ids),
                        "sharing": a.sharing,
                        "memory_mb": a.memory_mb,
                        "mig_profile": a.mig_profile,
                        "created_at": a.created_at,
                    }
                )
        return {"gpus": gpus, "allocations": allocations}

    # -- WASM ----------------------------------------------------------------------
    def wasm(self) -> dict[str, Any]:
        from .. import wasm

        if not wasm.is_running():
            return {"running": False, "modules": [], "instances": []}
        host = wasm.default_host()
        modules = [
            {
                "id": m.id,
                "source": m.source,
                "size": m.size,
                "exports": [e.name for e in m.exports],
            }
            for m in host.list_modules()
        ]
        instances = [
            {"id": i.id, "module_id": i.module_id, "runtime": i.runtime, "closed": i.closed}
            for i in host.list_instances()
        ]
        return {"running": True, "modules": modules, "instances": instances}

    # -- deployments and clusters ----------------------------------------------------
    def deployments(self) -> dict[str, Any]:
        manager = self._deployments()
        if manager is None:
            return {"deployments": [], "instances": [], "clusters": []}
        return {
            "deployments": [_plain_dict(d) for d in manager.list_deployments()],
            "instances": [_plain_dict(i) for i in manager.list_instances()],
            "clusters": [_plain_dict(c) for c in manager.list_clusters()],
        }

    def restart_instance(self, instance_id: str) -> None:
        if self.platform is not None:
            self.platform.restart_instance(instance_id)
        elif self.service.has_instance(instance_id):
            self.service.restart_instance(instance_id)
        else:
            raise NotFoundError("instance", instance_id)

    def scale(self, deployment: str, instances: int) -> dict[str, Any]:
        manager = self._deployments()
        if manager is None:
            raise NotFoundError("deployment", deployment)
        return _plain_dict(manager.scale(deployment, instances))


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _plain_dict(obj: Any) -> dict[str, Any]:
    """A dataclass (or an object with ``to_dict``) as a dict of JSON-ready values."""
    if hasattr(obj, "to_dict"):
        data = obj.to_dict()
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = dataclasses.asdict(obj)
    else:
        data = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return {k: v if _plain(v) or isinstance(v, list | dict) else str(v) for k, v in data.items()}
