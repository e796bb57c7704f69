"""Serverless functions: register, deploy, invoke and bill Python functions.

Contract:

* A function is Python code (a file, a package or a directory of modules) plus a
  handler ``def handler(event, context)`` whose return value must be JSON-serialisable.
  Its code is copied into the platform's store under its content hash on create and on
  every deploy; later edits of the source change nothing until the next deploy.
* Handlers run in worker processes forked from a pre-imported zygote, never in the
  platform's process (:mod:`constellation.backends` starts them: on this machine, or as
  Ray actors; an instance that cannot start raises :class:`InstanceStartError`). Each
  instance serves one invocation at a time; the memory limit (RLIMIT_AS; RLIMIT_DATA for
  a function with a GPU request, since CUDA cannot start under RLIMIT_AS), timeout (the
  worker is killed) and concurrency limit are enforced per invocation. A handler that
  raises, exits or crashes gives a result with a status and an error; nothing else is
  affected.
* ``invoke_sync`` returns an :class:`InvocationResult`; ``invoke_async`` commits the
  invocation to SQLite and returns its request id, retries failures with backoff and
  dead-letters what keeps failing.
* Every invocation is in the ledger (SQLite); metrics and bills are computed from it.
* Environment values are secrets: every listing, repr and API answer masks them.
* ``add_trigger`` attaches an ``http`` route (served by ``constellation serve``), a
  ``timer`` (cron, macro or ``rate()``; fired by the running platform) or a ``queue``,
  ``stream`` or ``event`` trigger (run by :mod:`constellation.triggers`). A function's
  triggers are removed with it.

The module-level functions act on the default platform (found through
:mod:`constellation.defaults`); ``Constellation().serverless`` is an explicit
:class:`ServerlessService` with the same methods.

Inside, :class:`ServerlessService` (``_service.py``) is a thin front over named parts:
the function catalog (``_catalog.py``, over the registry ``_registry.py``), the invoker
(``_invoker.py``: sync, awaitable and queued calls, the durable queue ``_async.py``),
the instance pools (``_instances.py``, ``_pool.py``), the autoscaler (``_autoscaler.py``
policy, ``_scaler.py`` loop, ``_arrivals.py`` and ``_keepwarm.py`` the arrival forecasts
of predictive scaling, shared with the trace replayer), the ledger (``_ledger.py``) and the trigger service
(``_trigger_service.py``). It imports the base layer and the public names of
:mod:`constellation.backends`, :mod:`constellation.triggers` and (lazily, to check a GPU
request) :mod:`constellation.gpu`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..backends import InstanceStartError
from ._arrivals import ArrivalConfig, ArrivalModel, combine_forecasts
from ._autoscaler import AutoscalerConfig, Forecast, ScalingContext, ScalingDecision, decide
from ._errors import ServerlessError
from ._models import (
    Billing,
    FunctionInfo,
    FunctionInstance,
    FunctionMetrics,
    Invocation,
    InvocationResult,
    Resources,
    ScalingPolicy,
    ServerlessStats,
)

if TYPE_CHECKING:
    from ..triggers import Trigger
    from ._service import ServerlessService

__all__ = [
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
    "set_memory",
    "set_resources",
    "set_scaling_policy",
    "set_timeout",
    "shutdown",
    "unset_env_var",
    "update_function",
]


def rotate_secrets_key(settings: Any) -> int:
    """A new key for the function environments stored under ``settings`` (see
    ``_secrets.py``); returns how many functions were re-encrypted."""
    from ..store import Store
    from ._secrets import rotate_key

    with Store(settings.db_path) as store:
        return rotate_key(store, settings.secrets_key_path)


def __getattr__(name: str) -> Any:
    # The service and its loops load on first use: importing the value objects alone
    # (a client that only reads results) stays fast.
    if name == "ServerlessService":
        from ._service import ServerlessService

        return ServerlessService
    if name == "Trigger":
        from ..triggers import Trigger

        return Trigger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _default_service() -> ServerlessService:
    from ..defaults import default_platform

    return default_platform().serverless


def init() -> None:
    """Start the function pool's background loops (optional: first use starts them)."""
    _default_service().init()


def _active_service() -> ServerlessService | None:
    """The default platform's functions service if there is one; makes nothing."""
    from ..defaults import current_default_platform

    platform = current_default_platform()
    return platform.active_serverless if platform is not None else None


def is_running() -> bool:
    service = _active_service()
    return service is not None and service.is_running()


def shutdown() -> None:
    """Stop every instance and loop of the default platform's functions service."""
    service = _active_service()
    if service is not None:
        service.shutdown()


def create_function(
    name: str,
    runtime: str = "python",
    handler: str = "handler",
    code: str | None = None,
    **options: Any,
) -> FunctionInfo:
    return _default_service().create_function(name, runtime, handler, code, **options)


def deploy_function(function: str) -> FunctionInfo:
    return _default_service().deploy_function(function)


def delete_function(function: str) -> None:
    _default_service().delete_function(function)


def get_function(function: str) -> FunctionInfo:
    return _default_service().get_function(function)


def list_functions() -> list[FunctionInfo]:
    return _default_service().list_functions()


def update_function(function: str, changes: Mapping[str, Any]) -> FunctionInfo:
    """Change several settings at once: all checked first, saved once, instances
    replaced at most once (see :meth:`ServerlessService.update_function`)."""
    return _default_service().update_function(function, changes)


def set_memory(function: str, memory_mb: int) -> FunctionInfo:
    return _default_service().set_memory(function, memory_mb)


def set_timeout(function: str, timeout_s: int) -> FunctionInfo:
    return _default_service().set_timeout(function, timeout_s)


def set_concurrency(function: str, concurrency: int) -> FunctionInfo:
    return _default_service().set_concurrency(function, concurrency)


def set_resources(
    function: str, resources: Mapping[str, Any] | None = None, **options: Any
) -> FunctionInfo:
    return _default_service().set_resources(function, resources, **options)


def set_gpu(function: str, request: Mapping[str, Any] | None) -> FunctionInfo:
    return _default_service().set_gpu(function, request)


def set_gas_limit(function: str, gas_limit: int | None) -> FunctionInfo:
    return _default_service().set_gas_limit(function, gas_limit)


def set_env_var(function: str, name: str, value: str) -> FunctionInfo:
    return _default_service().set_env_var(function, name, value)


def unset_env_var(function: str, name: str) -> FunctionInfo:
    return _default_service().unset_env_var(function, name)


def set_scaling_policy(
    function: str, policy: dict[str, Any] | None = None, **options: Any
) -> FunctionInfo:
    return _default_service().set_scaling_policy(function, policy, **options)


def enable_cold_start_optimization(function: str, enabled: bool = True) -> FunctionInfo:
    return _default_service().enable_cold_start_optimization(function, enabled)


def prewarm_function(function: str, instances: int = 1) -> FunctionInfo:
    return _default_service().prewarm_function(function, instances)


def invoke_sync(function: str, input: Any = None, timeout: int | None = None) -> InvocationResult:
    return _default_service().invoke_sync(function, input, timeout)


def invoke_async(function: str, input: Any = None, *, max_retries: int | None = None) -> str:
    return _default_service().invoke_async(function, input, max_retries=max_retries)


def publish(queue: str, message: Any, *, broker: str = "sqlite", url: str | None = None) -> str:
    """Put a message on a queue (``"sqlite"``, ``"redis"`` or ``"nats"``) for queue triggers."""
    return _default_service().publish(queue, message, broker=broker, url=url)


def emit(event_type: str, payload: Any, *, source: str = "constellation") -> int:
    """Send a custom event to the event triggers whose glob matches ``event_type``."""
    return _default_service().emit(event_type, payload, source=source)


def get_invocation(request_id: str) -> Invocation:
    return _default_service().get_invocation(request_id)


def list_dead_letters(function: str | None = None) -> list[Invocation]:
    return _default_service().list_dead_letters(function)


def redrive(request_id: str) -> Invocation:
    return _default_service().redrive(request_id)


def get_function_metrics(function: str) -> FunctionMetrics:
    return _default_service().get_function_metrics(function)


def get_billing(function: str, start: float | None = None, end: float | None = None) -> Billing:
    return _default_service().get_billing(function, start, end)


def get_logs(function: str, limit: int = 20) -> list[dict[str, Any]]:
    return _default_service().get_logs(function, limit)


def get_serverless_stats() -> ServerlessStats:
    return _default_service().get_serverless_stats()


def list_instances(function: str | None = None) -> list[FunctionInstance]:
    return _default_service().list_instances(function)


def add_trigger(function: str, spec: dict[str, Any]) -> Trigger:
    return _default_service().add_trigger(function, spec)


def remove_trigger(trigger_id: str) -> Trigger:
    return _default_service().remove_trigger(trigger_id)


def list_triggers(function: str | None = None) -> list[Trigger]:
    return _default_service().list_triggers(function)
