"""The public names of constellation.serverless and of the core package are frozen here."""

from __future__ import annotations

import constellation
from constellation import serverless

SERVERLESS = {
    "ArrivalConfig",
    "ArrivalModel",
    "AutoscalerConfig",
    "Billing",
    "Forecast",
    "FunctionInfo",
    "FunctionInstance",
    "FunctionMetrics",
    "InstanceStartError",
    "Invocation",
    "InvocationResult",
    "Resources",
    "ScalingContext",
    "ScalingDecision",
    "ScalingPolicy",
    "ServerlessError",
    "ServerlessService",
    "ServerlessStats",
    "Trigger",
    "add_trigger",
    "combine_forecasts",
    "create_function",
    "decide",
    "delete_function",
    "deploy_function",
    "emit",
    "enable_cold_start_optimization",
    "get_billing",
    "get_function",
    "get_function_metrics",
    "get_invocation",
    "get_logs",
    "get_serverless_stats",
    "init",
    "invoke_async",
    "invoke_sync",
    "is_running",
    "list_dead_letters",
    "list_functions",
    "list_instances",
    "list_triggers",
    "prewarm_function",
    "publish",
    "redrive",
    "remove_trigger",
    "rotate_secrets_key",
    "set_concurrency",
    "set_env_var",
    "set_gas_limit",
    "set_gpu",
    "set_resources",
    "set_memory",
    "set_scaling_policy",
    "set_timeout",
    "shutdown",
    "unset_env_var",
    "update_function",
}

CORE = {
    "Constellation",
    "__version__",
    "create_cluster",
    "deploy",
    "list_instances",
    "restart_instance",
    "restart_service",
    "scale_down",
    "scale_up",
    "undeploy",
}


def test_serverless_public_names() -> None:
    assert set(serverless.__all__) == SERVERLESS
    for name in serverless.__all__:
        assert getattr(serverless, name) is not None


def test_core_public_names() -> None:
    assert set(constellation.__all__) == CORE
    for name in constellation.__all__:
        assert getattr(constellation, name) is not None
