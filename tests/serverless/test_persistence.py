"""A restarted platform has the same functions, settings, metrics and ledger."""

from __future__ import annotations

import math
from pathlib import Path

from .conftest import HANDLERS, make_platform


def test_restart_keeps_functions_settings_metrics_and_ledger(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_platform(home) as first:
        sls = first.serverless
        f = sls.create_function("durable", "python", "echo", HANDLERS, env={"TOKEN": "s3cret"})
        sls.set_memory(f.id, 512)
        sls.set_timeout(f.id, 60)
        sls.set_scaling_policy(f.id, {"max_instances": 7})
        sls.enable_cold_start_optimization(f.id)
        sls.deploy_function(f.id)
        results = [sls.invoke_sync(f.id, i) for i in range(5)]
        before_metrics = sls.get_function_metrics(f.id)
        before_bill = sls.get_billing(f.id, 0, math.inf)
        before = sls.get_function(f.id)
    with make_platform(home) as second:
        sls = second.serverless
        after = sls.get_function("durable")
        assert after == before
        assert after.env == {"TOKEN": "s3cret"} and after.cold_start_optimization
        metrics = sls.get_function_metrics(f.id)
        assert metrics.total_invocations == before_metrics.total_invocations == 5
        assert metrics.cold_starts == before_metrics.cold_starts == 1
        assert metrics.p99_duration_ms == before_metrics.p99_duration_ms
        assert sls.get_billing(f.id, 0, math.inf) == before_bill
        assert sls.get_invocation(results[-1].request_id).state == "succeeded"
        assert sls.invoke_sync("durable", "again").output["memory"] == 512


def test_shutdown_flushes_every_ledger_record(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_platform(home, ledger_flush_interval_s=3600.0) as first:
        sls = first.serverless
        f = sls.create_function("burst", "python", "noop", HANDLERS)
        for _ in range(200):
            sls.invoke_sync(f.id)
    with make_platform(home) as second:
        assert second.serverless.get_function_metrics("burst").total_invocations == 200
