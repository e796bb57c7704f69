"""The seed's "Serverless Functions" example (RADS ``main()``), in Python.

Run: ``.venv/bin/python examples/iguana/serverless_functions.py`` (it uses a private
platform home in a temporary folder unless ``CONSTELLATION_HOME`` is set). A plain script
in library mode: the default platform behind ``serverless.*`` runs what ``serve`` runs
(the autoscaler with the forecaster, so ``enable_predictive_scaling`` is live; the default
anomaly detectors, whose findings ``anomaly.get_active()`` lists) and is closed at exit.
It serves the
function's HTTP trigger on a free local port for the length of the run and posts one order
to it; with ``--serve`` it then keeps serving on 127.0.0.1:8080 (no auth, loopback only),
so ``curl -X POST localhost:8080/api/orders -d '{"order_id": 1, "amount": 5}'`` reaches it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from constellation import anomaly, serverless
from constellation.platform import default_platform
from constellation.server import ServerThread, create_app, serve

HERE = Path(__file__).resolve().parent


def main() -> None:
    func = serverless.create_function(
        name="process-order",
        runtime="python",
        handler="handle_order",
        code=str(HERE / "order_processor.py"),
    )
    serverless.set_memory(func.id, 256)  # 256MB
    serverless.set_timeout(func.id, 30)  # 30 seconds
    serverless.set_concurrency(func.id, 100)  # Max 100 concurrent
    serverless.set_env_var(func.id, "DB_HOST", "db.example.com")
    serverless.set_env_var(func.id, "API_KEY", "secret-key")

    # Add HTTP trigger
    serverless.add_trigger(func.id, {"type": "http", "path": "/api/orders", "method": "POST"})
    # Add timer trigger (run every hour)
    serverless.add_trigger(func.id, {"type": "timer", "schedule": "0 * * * *"})
    serverless.set_scaling_policy(
        func.id,
        {
            "min_instances": 0,
            "max_instances": 50,
            "target_concurrency": 80,
            "enable_predictive_scaling": True,
        },
    )
    serverless.enable_cold_start_optimization(func.id)
    serverless.prewarm_function(func.id, instances=2)
    serverless.deploy_function(func.id)

    print("✅ Function deployed!")
    platform = default_platform()
    with ServerThread(create_app(platform.serverless, token=None)) as server:
        print(f"   Endpoint: {server.url}/api/orders")
        request = urllib.request.Request(
            f"{server.url}/api/orders",
            data=json.dumps({"order_id": 1, "amount": 5}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            print(f"   POST /api/orders -> {response.status} {response.read().decode()}")

    result = serverless.invoke_sync(func.id, {"order_id": 12345, "amount": 99.99}, timeout=5000)
    print("Result: " + str(result.output))
    print(f"Duration: {result.duration_ms:.3f}ms")
    print(f"Memory used: {result.memory_used_mb:.1f}MB")

    metrics = serverless.get_function_metrics(func.id)
    print("\nMetrics:")
    print(f"  Total invocations: {metrics.total_invocations}")
    rate = metrics.successful_invocations / metrics.total_invocations * 100
    print(f"  Success rate: {rate:.1f}%")
    print(f"  Avg duration: {metrics.average_duration_ms:.3f}ms")
    print(f"  Cold starts: {metrics.cold_starts}")
    print(f"  Avg cold start: {metrics.average_cold_start_ms:.3f}ms")

    # Predictive scaling is live in library mode: the autoscaler asks the platform's
    # forecaster for the concurrency one lead time ahead (two invocations are too little
    # history for a forecast yet, so the reactive count decides for now).
    info = serverless.get_function(func.id)
    forecast = platform.forecast_concurrency(info, 60.0)
    print(
        f"\nPredictive scaling: {'on' if info.scaling_policy.enable_predictive_scaling else 'off'}"
    )
    if forecast is None:
        print("  Forecast in 60s: not enough history yet (the reactive count decides)")
    else:
        print(f"  Forecast in 60s: {forecast.value:.1f} in flight")
    print(f"  Active anomalies: {len(anomaly.get_active())}")  # the default detectors' finds

    billing = serverless.get_billing(func.id, start=time.time() - 86400, end=time.time())
    print("\nBilling (last 24h):")
    print(f"  Invocations: {billing.invocation_count}")
    print(f"  Compute time: {billing.compute_time_ms}ms")
    print(f"  Estimated cost: ${billing.estimated_cost_usd:.10f}")
    if "--serve" in sys.argv:
        serve(platform, "127.0.0.1", 8080, auth=False)  # until Ctrl-C
    else:
        serverless.shutdown()


if __name__ == "__main__":
    if "CONSTELLATION_HOME" not in os.environ:
        os.environ["CONSTELLATION_HOME"] = tempfile.mkdtemp(prefix="constellation-example-")
    main()
