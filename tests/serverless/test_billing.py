"""Metrics and billing checked against a hand calculation."""

from __future__ import annotations

import math
from pathlib import Path

from constellation.serverless import ServerlessService

from .conftest import HANDLERS, FakeClock, make_platform


def test_bill_matches_a_hand_calculation(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    with make_platform(tmp_path / "home", clock) as platform:
        sls = platform.serverless
        f = sls.create_function("billed", "python", "sleep", HANDLERS, memory_mb=512)
        results = [sls.invoke_sync(f.id, {"seconds": s}) for s in (0.05, 0.0, 0.12)]
        clock.advance(10)
        late = sls.invoke_sync(f.id, {"seconds": 0.01})
        bill = sls.get_billing(f.id, start=clock.now - 5, end=clock.now + 1)
        assert bill.invocation_count == 1
        expected_ms = math.ceil(late.duration_ms)
        assert bill.compute_time_ms == late.billed_duration_ms == expected_ms

        bill = sls.get_billing(f.id, start=0, end=clock.now + 1)
        by_hand = [
            math.ceil(r.duration_ms + (r.init_duration_ms if r.cold_start else 0))
            for r in [*results, late]
        ]
        assert results[0].cold_start and results[0].billed_duration_ms == by_hand[0]
        assert bill.invocation_count == 4
        assert bill.compute_time_ms == sum(by_hand)
        gb_seconds = sum(by_hand) / 1000 * 512 / 1024
        assert math.isclose(bill.memory_gb_seconds, gb_seconds)
        cost = 4 * 0.20 / 1_000_000 + gb_seconds * 0.0000166667
        assert math.isclose(bill.estimated_cost_usd, cost)
        assert math.isclose(bill.request_cost_usd + bill.compute_cost_usd, cost)


def test_pricing_comes_from_settings(tmp_path: Path) -> None:
    with make_platform(
        tmp_path / "home", price_per_gb_second=1.0, price_per_million_requests=1_000_000.0
    ) as p:
        f = p.serverless.create_function("pricey", "python", "noop", HANDLERS, memory_mb=1024)
        r = p.serverless.invoke_sync(f.id)
        bill = p.serverless.get_billing(f.id, 0, math.inf)
        assert math.isclose(bill.estimated_cost_usd, 1.0 + r.billed_duration_ms / 1000)


def test_metrics_count_each_outcome(sls: ServerlessService) -> None:
    ok = sls.create_function("mixed", "python", "sleep", HANDLERS, timeout_s=1)
    for seconds in (0.0, 0.0, 0.0, 0.01):
        sls.invoke_sync(ok.id, {"seconds": seconds})
    sls.invoke_sync(ok.id, {"seconds": 5})  # timeout
    sls.invoke_sync(ok.id, "not a dict")  # TypeError in the handler
    m = sls.get_function_metrics(ok.id)
    assert (m.total_invocations, m.successful_invocations, m.failed_invocations, m.timeouts) == (
        6,
        4,
        2,
        1,
    )
    assert m.cold_starts == 2  # the first call, and the one after the timeout killed the worker
    assert m.average_cold_start_ms > 0
    assert m.p50_duration_ms <= m.p95_duration_ms <= m.p99_duration_ms
    # the timeout counted at its limit; percentiles come from a sketch accurate to 1%
    assert m.p99_duration_ms >= 1000 * 0.99
    assert math.isclose(m.success_rate, 4 / 6)
    stats = sls.get_serverless_stats()
    assert (stats.functions, stats.total_invocations, stats.failed_invocations) == (1, 6, 2)
    assert stats.estimated_cost_usd > 0
