"""ServerlessService: the functions API (the seed's ``serverless.*``) on one platform.

A thin front over the parts, each findable by name:

* :class:`~._catalog.FunctionCatalog`: create, read, update and delete functions;
* :class:`~._instances.InstanceManager`: each function's pool of instances, started by
  the backend (:mod:`constellation.backends`);
* :class:`~._invoker.Invoker`: sync, awaitable and queued calls, recorded in the ledger;
* :class:`~._trigger_service.TriggerService`: triggers, fired by
  :mod:`constellation.triggers`;
* :class:`~._scaler.Autoscaler` and the reports of :class:`~._queries.QueriesMixin`.

The front owns the lifecycle: ``init`` starts the background loops, ``shutdown`` ends them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from ..backends import GpuAllocate, GpuRelease, InstanceStartError, make_backend
from ..config import Settings
from ..errors import ClosedError
from ..store import Store
from ..telemetry import Telemetry
from ..triggers import Trigger
from ._call_metrics import CallMetrics
from ._catalog import FunctionCatalog
from ._instances import InstanceManager
from ._invoker import Invoker
from ._ledger import Ledger
from ._models import FunctionInfo, FunctionInstance, Invocation, InvocationResult
from ._pool import FunctionPool
from ._queries import QueriesMixin
from ._registry import FunctionRegistry
from ._scaler import Autoscaler, Forecaster
from ._secrets import SecretBox
from ._series import function_series, minute_counts, recent_invocations
from ._trigger_service import TriggerService

__all__ = ["ServerlessService"]


class ServerlessService(QueriesMixin):
    UPDATABLE = FunctionCatalog.UPDATABLE  # the settings update_function takes

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = True,
        gpu_allocate: GpuAllocate | None = None,
        gpu_release: GpuRelease | None = None,
        forecaster: Forecaster | None = None,
        on_code_mismatch: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.background = background
        self.clock = clock
        self.telemetry = telemetry or Telemetry()
        self._store = store
        self._lock = threading.Lock()
        self._running = False
        self._closed = False
        self._stop = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self.registry = FunctionRegistry(store, SecretBox(settings.secrets_key_path))
        self.ledger = Ledger(store, settings, clock)
        self.launcher = make_backend(
            settings,
            clock,
            gpu_allocate=gpu_allocate,
            gpu_release=gpu_release,
            on_code_mismatch=on_code_mismatch,
        )
        self.instances = InstanceManager(
            self.launcher, clock, background=background, ensure_started=self._ensure_started
        )
        self._pools = self.instances.by_function  # function id -> pool (read by the reports)
        self.invoker = Invoker(
            store,
            settings,
            self.registry,
            self.instances,
            self.ledger,
            CallMetrics(self.telemetry),
            clock,
            self._ensure_started,
        )
        self.async_queue = self.invoker.async_queue
        # The hot path: a call goes straight to the invoker, without the frame and keyword
        # arguments of the method below (about 0.3 us a call); the method stays the
        # documented signature.
        self.invoke_sync = self.invoker.invoke_sync  # type: ignore[method-assign]
        self.trigger_service = TriggerService(
            store, settings, self.registry, self._invoke_by_id, clock, is_running=self.is_running
        )
        self.triggers = self.trigger_service.registry
        self.timers = self.trigger_service.timers
        self.trigger_runners = self.trigger_service.runners
        self.catalog = FunctionCatalog(
            self.registry,
            settings,
            clock,
            self.launcher,
            self.instances,
            drop_triggers=self.trigger_service.remove_for_function,
            is_running=self.is_running,
        )
        self.autoscaler = Autoscaler(self, forecaster=forecaster)

    # -- lifecycle -------------------------------------------------------------------
    def init(self) -> None:
        """Start the background loops (async dispatch, idle reaping, warm pools)."""
        with self._lock:
            if self._closed:
                raise ClosedError("the serverless service is shut down")
            if self._running:
                return
        self.launcher.start()  # may fail (a Ray cluster out of reach) before anything runs
        with self._lock:
            if self._running:
                return
            self._running = True
        self.async_queue.start()
        self.autoscaler.start()
        for info in self.registry.list():
            if info.status == "deployed":
                self.instances.pool(info)
        self._housekeeper = threading.Thread(
            target=self._housekeep, name="serverless-housekeeping", daemon=True
        )
        self._housekeeper.start()
        self.trigger_service.start()

    def is_running(self) -> bool:
        return self._running

    def _ensure_started(self) -> None:
        # Without background loops (the CLI), nothing starts behind the caller's back.
        if not self._running and self.background:
            self.init()

    def shutdown(self) -> None:
        """Stop every loop and instance; flush the ledger. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._running = False
        pools = self.instances.detach()
        self._stop.set()
        self.trigger_service.close()
        self.async_queue.close()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=10.0)
        for pool in pools:
            pool.close()
        self.launcher.close()
        self.ledger.close()

    close = shutdown

    @property
    def closed(self) -> bool:
        return self._closed

    def _housekeep(self) -> None:
        # The first reap comes one interval after start, not at the first tick: a test (or
        # a caller) that sets a long interval and reaps by hand gets no reap of its own.
        last_reap = time.monotonic()
        while not self._stop.wait(1.0):
            try:
                for info in self.registry.refresh_if_changed():  # changed by another process
                    self.instances.apply(info, retire=True)
                    if info.status == "deployed":
                        self.instances.pool(info)
                if time.monotonic() - last_reap >= self.settings.reaper_interval_s:
                    last_reap = time.monotonic()
                    self.reap_idle()
                self.instances.fill_all()
                self.trigger_service.refresh()
            except (ClosedError, InstanceStartError):
                continue

    # -- functions (the catalog) -----------------------------------------------------
    def create_function(
        self,
        name: str,
        runtime: str = "python",
        handler: str = "handler",
        code: str | None = None,
        **options: Any,
    ) -> FunctionInfo:
        """Register a function (see :meth:`FunctionCatalog.create_function` for options)."""
        return self.catalog.create_function(name, runtime, handler, code, **options)

    def deploy_function(self, function: str) -> FunctionInfo:
        return self.catalog.deploy_function(function)

    def update_function(self, function: str, changes: Mapping[str, Any]) -> FunctionInfo:
        return self.catalog.update_function(function, changes)

    def set_memory(self, function: str, memory_mb: int) -> FunctionInfo:
        return self.catalog.set_memory(function, memory_mb)

    def set_timeout(self, function: str, timeout_s: int) -> FunctionInfo:
        return self.catalog.set_timeout(function, timeout_s)

    def set_gas_limit(self, function: str, gas_limit: int | None) -> FunctionInfo:
        return self.catalog.set_gas_limit(function, gas_limit)

    def set_resources(
        self, function: str, resources: Mapping[str, Any] | None = None, **options: Any
    ) -> FunctionInfo:
        return self.catalog.set_resources(function, resources, **options)

    def set_gpu(self, function: str, request: Mapping[str, Any] | None) -> FunctionInfo:
        return self.catalog.set_gpu(function, request)

    def set_concurrency(self, function: str, concurrency: int) -> FunctionInfo:
        return self.catalog.set_concurrency(function, concurrency)

    def set_env_var(self, function: str, name: str, value: str) -> FunctionInfo:
        return self.catalog.set_env_var(function, name, value)

    def unset_env_var(self, function: str, name: str) -> FunctionInfo:
        return self.catalog.unset_env_var(function, name)

    def set_scaling_policy(
        self, function: str, policy: Mapping[str, Any] | None = None, **options: Any
    ) -> FunctionInfo:
        return self.catalog.set_scaling_policy(function, policy, **options)

    def enable_cold_start_optimization(self, function: str, enabled: bool = True) -> FunctionInfo:
        return self.catalog.enable_cold_start_optimization(function, enabled)

    def prewarm_function(self, function: str, instances: int = 1) -> FunctionInfo:
        return self.catalog.prewarm_function(function, instances)

    def delete_function(self, function: str) -> None:
        self.catalog.delete_function(function)

    def get_function(self, function: str) -> FunctionInfo:
        return self.registry.get(function)

    def list_functions(self) -> list[FunctionInfo]:
        return self.registry.list()

    # -- instances -------------------------------------------------------------------
    def pools(self) -> list[FunctionPool]:
        return self.instances.pools()

    def get_scaling_decisions(self, function: str, limit: int = 50) -> list[dict[str, Any]]:
        """The autoscaler's recent decisions for a function, with their inputs."""
        return self.autoscaler.decisions(self.registry.get(function).id, limit)

    def get_minute_series(self, function: str, start: float, end: float) -> dict[str, list[Any]]:
        """One function's per-minute invocations, errors, cold starts and p50/p99 duration
        from ``start`` to ``end`` (unix seconds), read from the ledger's rollups."""
        info = self.registry.get(function)
        return function_series(self._store, info.id, int(start // 60), int(-(-end // 60)))

    def get_minute_counts(self, start: float, end: float) -> dict[str, dict[str, list[int]]]:
        """Every function's invocations, errors and cold starts per minute, by function id."""
        return minute_counts(self._store, int(start // 60), int(-(-end // 60)))

    def get_recent_invocations(self, function: str, limit: int = 20) -> list[dict[str, Any]]:
        """The function's newest invocations in the ledger (with their logs), newest first."""
        self.ledger.flush()
        return recent_invocations(self._store, self.registry.get(function).id, limit)

    def reap_idle(self, now: float | None = None) -> int:
        """Scale idle instances down to the warm target (to zero by default)."""
        return self.instances.reap_idle(self.clock() if now is None else now)

    def list_instances(self, function: str | None = None) -> list[FunctionInstance]:
        fid = self.registry.get(function).id if function else None
        return self.instances.listing(fid)

    def has_instance(self, instance_id: str) -> bool:
        return any(i.id == instance_id for i in self.list_instances())

    def restart_instance(self, instance_id: str) -> None:
        """Replace an instance with a fresh one (a busy one is replaced after its call)."""
        self.instances.restart(instance_id)

    # -- invocation (the invoker) ----------------------------------------------------
    def invoke_sync(
        self,
        function: str,
        input: Any = None,
        timeout: int | None = None,
        *,
        request_id: str | None = None,
        attempt: int = 1,
        trace_parent: str | None = None,
        trigger: str | None = None,
    ) -> InvocationResult:
        """Run the handler once and wait for it. ``timeout`` in ms (default: the function's).
        ``trace_parent`` (W3C ``traceparent``) becomes the handler's ``context.trace_parent``;
        ``trigger`` is the trigger type that fired it (for the invocation's span)."""
        return self.invoker.invoke_sync(
            function,
            input,
            timeout,
            request_id=request_id,
            attempt=attempt,
            trace_parent=trace_parent,
            trigger=trigger,
        )

    def _invoke_by_id(
        self,
        function_id: str,
        event: Any,
        trace_parent: str | None = None,
        trigger: str | None = None,
    ) -> InvocationResult:
        return self.invoker.invoke_sync(
            function_id, event, trace_parent=trace_parent, trigger=trigger
        )

    async def invoke_awaitable(
        self,
        function: str,
        input: Any = None,
        timeout: int | None = None,
        *,
        limiter: anyio.CapacityLimiter | None = None,
        trace_parent: str | None = None,
        trigger: str | None = None,
    ) -> InvocationResult:
        """:meth:`invoke_sync` for an asyncio event loop (the HTTP gateway)."""
        return await self.invoker.invoke_awaitable(
            function, input, timeout, limiter=limiter, trace_parent=trace_parent, trigger=trigger
        )

    def invoke_async(
        self, function: str, input: Any = None, *, max_retries: int | None = None
    ) -> str:
        """Queue an invocation durably; returns its request id at once."""
        return self.invoker.invoke_async(function, input, max_retries=max_retries)

    def get_invocation(self, request_id: str) -> Invocation:
        return self.invoker.get_invocation(request_id)

    def list_dead_letters(self, function: str | None = None) -> list[Invocation]:
        fid = self.registry.get(function).id if function else None
        return self.async_queue.dead_letters(fid)

    def redrive(self, request_id: str) -> Invocation:
        return self.async_queue.redrive(request_id)

    # -- triggers (the trigger service) ----------------------------------------------
    def add_trigger(self, function: str, spec: Mapping[str, Any]) -> Trigger:
        """Attach an http, timer, queue, stream or event trigger (validated, persisted)."""
        return self.trigger_service.add(function, spec)

    def remove_trigger(self, trigger_id: str) -> Trigger:
        return self.trigger_service.remove(trigger_id)

    def list_triggers(self, function: str | None = None) -> list[Trigger]:
        return self.trigger_service.list(function)

    def publish(
        self, queue: str, message: Any, *, broker: str = "sqlite", url: str | None = None
    ) -> str:
        """Put a message on a queue that queue triggers consume; returns its id."""
        return self.trigger_service.publish(queue, message, broker=broker, url=url)

    def emit(self, event_type: str, payload: Any, *, source: str = "constellation") -> int:
        """Send a custom event to the event triggers whose glob matches ``event_type``."""
        return self.trigger_service.emit(event_type, payload, source=source)

    def emit_cloudevents(
        self, envelopes: list[dict[str, Any]], *, trigger_id: str | None = None
    ) -> list[int]:
        """Send CloudEvents as they came (``POST /api/v1/events``) to the event triggers
        whose glob matches each one's type (only ``trigger_id`` when given); returns how
        many triggers each reached."""
        return list(self.trigger_service.emit_cloudevents(envelopes, trigger_id=trigger_id))
