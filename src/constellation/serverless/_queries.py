"""Read-only reports of the serverless service: metrics, bills, logs and platform stats.

They read the ledger's rollups and totals, never a scan of the raw rows: their cost
depends on the number of functions (and, for a bill, the minutes in its range), not on
the number of invocations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ._models import Billing, FunctionMetrics, ServerlessStats
from ._rollups import Aggregate

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import Store
    from ._async import AsyncQueue
    from ._ledger import Ledger
    from ._pool import FunctionPool
    from ._registry import FunctionRegistry

__all__ = ["QueriesMixin"]

_FAILED = ("error", "timeout", "memory_limit", "crashed")


class QueriesMixin:
    """Reports over the ledger, mixed into ServerlessService (which sets these attributes)."""

    registry: FunctionRegistry
    ledger: Ledger
    async_queue: AsyncQueue
    settings: Settings
    clock: Callable[[], float]
    _pools: dict[str, FunctionPool]
    _store: Store
    _running: bool

    def get_function_metrics(self, function: str) -> FunctionMetrics:
        """All-time figures from the ledger's totals. The percentiles come from a merged
        DDSketch: each is within 1% of the exact nearest-rank value."""
        info = self.registry.get(function)
        totals = self.ledger.totals(info.id)
        by_status = {status: t.agg.n for (_, status), t in totals.items()}
        ran_agg = Aggregate()
        for (_, status), t in totals.items():
            if status != "throttled":
                ran_agg.merge(t.agg)
        ran = ran_agg.n
        pool = self._pools.get(info.id)
        pc = pool.counts() if pool is not None else None
        cold = sum(t.agg.cold for t in totals.values())
        init_ms = sum(t.agg.init_ms for t in totals.values())
        return FunctionMetrics(
            function_id=info.id,
            function_name=info.name,
            total_invocations=ran,
            successful_invocations=by_status.get("success", 0),
            failed_invocations=sum(by_status.get(s, 0) for s in _FAILED),
            timeouts=by_status.get("timeout", 0),
            throttles=by_status.get("throttled", 0),
            average_duration_ms=ran_agg.duration_ms / ran if ran else 0.0,
            p50_duration_ms=ran_agg.sketch.quantile(0.50),
            p95_duration_ms=ran_agg.sketch.quantile(0.95),
            p99_duration_ms=ran_agg.sketch.quantile(0.99),
            cold_starts=cold,
            average_cold_start_ms=init_ms / cold if cold else 0.0,
            instances=pc.total if pc else 0,
            idle_instances=pc.idle if pc else 0,
            busy_instances=pc.busy if pc else 0,
        )

    def get_billing(
        self, function: str, start: float | None = None, end: float | None = None
    ) -> Billing:
        """The bill for invocations started in [start, end] (default: the last 24 hours)."""
        info = self.registry.get(function)
        stop = self.clock() if end is None else float(end)
        begin = stop - 86400.0 if start is None else float(start)
        if begin > stop:
            raise ValidationError("start", f"{begin} is after end ({stop})")
        return self.ledger.billing(info.id, info.name, begin, stop)

    def get_logs(self, function: str, limit: int = 20) -> list[dict[str, Any]]:
        """What the handler printed, per invocation, newest last."""
        return self.ledger.logs(self.registry.get(function).id, limit)

    def get_serverless_stats(self) -> ServerlessStats:
        functions = self.registry.list()
        counts = self.ledger.counts()
        by_status: dict[str, int] = counts["by_status"]
        idle = busy = 0
        for pool in list(self._pools.values()):
            pc = pool.counts()
            idle, busy = idle + pc.idle, busy + pc.busy + pc.starting
        queue = self.async_queue.counts()
        billed_ms = counts["billed_ms"]
        ran = sum(n for s, n in by_status.items() if s != "throttled")
        gb_seconds = counts["mb_ms"] / 1024.0 / 1000.0
        cost = (
            ran * self.settings.price_per_million_requests / 1e6
            + gb_seconds * self.settings.price_per_gb_second
        )
        return ServerlessStats(
            running=self._running,
            functions=len(functions),
            deployed_functions=sum(1 for f in functions if f.status == "deployed"),
            total_invocations=ran,
            successful_invocations=by_status.get("success", 0),
            failed_invocations=sum(by_status.get(s, 0) for s in _FAILED),
            instances=idle + busy,
            idle_instances=idle,
            busy_instances=busy,
            async_queued=queue.get("queued", 0) + queue.get("running", 0),
            dead_letters=queue.get("dead", 0),
            compute_time_ms=int(billed_ms),
            estimated_cost_usd=cost,
        )
