"""The seed's "Serverless Functions" example (RADS ``main()``), in Python.

Run: ``.venv/bin/python examples/iguana/serverless_functions.py``. It uses a private
platform home in a temporary folder unless ``CONSTELLATION_HOME`` is set.
The seed also adds an HTTP and a timer trigger: triggers arrive with the HTTP gateway
(``constellation serve``), so this example invokes the function directly.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from constellation import serverless

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
    print("   Endpoint: none yet (HTTP triggers arrive with the gateway; invoking directly)")

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

    billing = serverless.get_billing(func.id, start=time.time() - 86400, end=time.time())
    print("\nBilling (last 24h):")
    print(f"  Invocations: {billing.invocation_count}")
    print(f"  Compute time: {billing.compute_time_ms}ms")
    print(f"  Estimated cost: ${billing.estimated_cost_usd:.10f}")
    serverless.shutdown()


if __name__ == "__main__":
    if "CONSTELLATION_HOME" not in os.environ:
        os.environ["CONSTELLATION_HOME"] = tempfile.mkdtemp(prefix="constellation-example-")
    main()
