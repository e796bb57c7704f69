"""The seed's serverless checks, through the module-level API on the default platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation import serverless
from constellation.errors import NotFoundError
from constellation.platform import reset_default_platform

from .conftest import HANDLERS


@pytest.fixture
def default_home(tmp_home: Path) -> Iterator[Path]:
    reset_default_platform()
    yield tmp_home
    reset_default_platform()


def test_seed_serverless_checks(default_home: Path) -> None:
    serverless.init()  # Serverless init
    assert serverless.is_running()  # Serverless is running
    func = serverless.create_function(
        name="process-order", runtime="python", handler="echo", code=HANDLERS
    )
    assert func.id and func.name == "process-order"  # Create function
    assert serverless.set_memory(func.id, 256).memory_mb == 256  # Set function memory
    assert serverless.set_timeout(func.id, 30).timeout_s == 30  # Set function timeout
    serverless.set_concurrency(func.id, 100)
    serverless.set_env_var(func.id, "DB_HOST", "db.example.com")  # Set environment variable
    serverless.set_env_var(func.id, "API_KEY", "secret-key")
    assert serverless.get_function(func.id).env == {
        "DB_HOST": "db.example.com",
        "API_KEY": "secret-key",
    }
    policy = serverless.set_scaling_policy(
        func.id,
        {
            "min_instances": 0,
            "max_instances": 50,
            "target_concurrency": 80,
            "enable_predictive_scaling": True,
        },
    )
    assert policy.scaling_policy.max_instances == 50  # Set scaling policy
    serverless.enable_cold_start_optimization(func.id)
    serverless.prewarm_function(func.id, instances=2)
    serverless.deploy_function(func.id)
    result = serverless.invoke_sync(func.id, {"order_id": 12345, "amount": 99.99}, timeout=5000)
    assert result.output["event"] == {"order_id": 12345, "amount": 99.99}
    metrics = serverless.get_function_metrics(func.id)  # Get function metrics
    assert metrics.total_invocations == 1 and metrics.successful_invocations == 1
    assert metrics.cold_starts == 0  # the two prewarmed instances served it warm
    billing = serverless.get_billing(func.id)
    assert billing.invocation_count == 1 and billing.estimated_cost_usd > 0
    stats = serverless.get_serverless_stats()  # Get serverless stats
    assert stats.functions == 1 and stats.total_invocations == 1 and stats.running
    serverless.delete_function(func.id)  # Delete function
    with pytest.raises(NotFoundError):
        serverless.get_function(func.id)
    serverless.shutdown()  # Serverless shutdown
    assert not serverless.is_running()
