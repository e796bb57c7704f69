"""Invoking functions: synchronously, from an event loop, or queued (asynchronously).

Every call ends in :meth:`Invoker._finish`, the one place a result is recorded: in the
ledger (what metrics and bills are computed from) and as telemetry. ``invoke_sync`` runs
on the caller's thread end to end.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import orjson

from ..backends import Instance, InstanceDied, InstanceStartError, InstanceTimedOut
from ..config import Settings
from ..errors import NotFoundError, ValidationError
from ..store import Store
from ..telemetry import InvocationTracer
from ._async import AsyncQueue
from ._call_metrics import CallMetrics
from ._instances import InstanceManager
from ._ledger import Ledger, billed_ms
from ._models import FunctionInfo, Invocation, InvocationResult
from ._outcome import Outcome
from ._pool import FunctionPool, Throttled
from ._registry import FunctionRegistry

__all__ = ["Invoker"]

log = logging.getLogger("constellation.serverless")

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_GAVE_UP: Any = object()  # what a loop waiter gets when its time limit passed first


def _give_up(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(_GAVE_UP)


class Invoker:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        registry: FunctionRegistry,
        instances: InstanceManager,
        ledger: Ledger,
        metrics: CallMetrics,
        clock: Callable[[], float],
        ensure_started: Callable[[], None],
    ) -> None:
        self._registry = registry
        self._instances = instances
        self._ledger = ledger
        self._metrics = metrics
        self._clock = clock
        self._ensure_started = ensure_started
        self.async_queue = AsyncQueue(store, settings, self._run_async, clock)
        self._rid_prefix = uuid.uuid4().hex[:16]
        # With the [otel] extra and OTEL_* asking for traces: a span per invocation.
        self.tracer: InvocationTracer | None = InvocationTracer.from_env()
        self._traced: dict[str, str | None] = {}  # request id -> its traceparent
        self._rid_counter = itertools.count(1)

    # -- synchronous -----------------------------------------------------------------
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
        ``trace_parent`` (a W3C ``traceparent``) is the handler's ``context.trace_parent``;
        ``trigger`` (http, timer, queue, stream, event) is what the span says fired it."""
        info, limit_ms, rid, request = self._prepare(
            function, input, timeout, request_id, attempt, trace_parent
        )
        self._ensure_started()
        pool = self._instances.by_function.get(info.id) or self._instances.pool(info)
        started_at = self._clock()
        t0 = time.monotonic()
        try:
            instance, cold = pool.acquire(t0 + limit_ms / 1000.0)
        except Throttled:
            waited_ms = (time.monotonic() - t0) * 1000.0
            return self._throttled(info, rid, started_at, pool, limit_ms, waited_ms, trigger)
        except InstanceStartError as exc:
            init_ms = (time.monotonic() - t0) * 1000.0
            failed = Outcome(
                "error",
                0.0,
                error=f"cold start failed: {exc}",
                error_type="InitError",
                cold=True,
                init_ms=init_ms,
            )
            return self._finish(info, rid, started_at, failed, trigger)
        t1 = time.monotonic()
        try:
            reply = instance.invoke_raw(request, limit_ms / 1000.0)
        except (InstanceTimedOut, InstanceDied) as exc:
            return self._failed(
                pool, instance, cold, info, rid, exc, limit_ms, started_at, t1, trigger
            )
        return self._answered(pool, instance, cold, info, rid, reply, started_at, trigger)

    def _prepare(
        self,
        function: str,
        input: Any,
        timeout: int | None,
        request_id: str | None,
        attempt: int,
        trace_parent: str | None = None,
    ) -> tuple[FunctionInfo, int, str, bytes]:
        """Check the call; returns the function, the time limit, the request id and body."""
        info = self._registry.get(function)
        limit_ms = info.timeout_s * 1000
        if timeout is not None:
            if (
                isinstance(timeout, bool)
                or not isinstance(timeout, int | float)
                or not 0 < timeout <= 900_000
            ):
                raise ValidationError(
                    "timeout", f"{timeout!r} must be a number of milliseconds in (0, 900000]"
                )
            limit_ms = min(limit_ms, int(timeout))
        rid = request_id or self._new_request_id()
        message = {"id": rid, "event": input, "timeout_ms": limit_ms, "attempt": attempt}
        if trace_parent is not None:
            message["tp"] = trace_parent
        if self.tracer is not None:  # what the span needs when the call is recorded
            if len(self._traced) > 100_000:  # calls cancelled before they were recorded
                self._traced.clear()
            self._traced[rid] = trace_parent
        try:
            request = orjson.dumps(message, option=_JSON_OPTIONS)
        except TypeError as exc:
            raise ValidationError("input", f"the event is not JSON-serialisable: {exc}") from None
        return info, limit_ms, rid, request

    def _new_request_id(self) -> str:
        # A random per-process prefix and a counter: unique, and cheaper than uuid4().
        return f"{self._rid_prefix}-{next(self._rid_counter):010x}"

    # -- from an event loop ----------------------------------------------------------
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
        """:meth:`invoke_sync` for an asyncio event loop (the HTTP gateway).

        With a warm Python instance free, the loop waits on the worker's socket itself: no
        thread hand-off. Otherwise (a cold start, a wait for a free instance, a WASM
        function) the call runs :meth:`invoke_sync` on a worker thread.
        """
        info, limit_ms, rid, request = self._prepare(
            function, input, timeout, None, 1, trace_parent
        )
        pool = self._instances.by_function.get(info.id)
        instance = None
        started_at = self._clock()
        t0 = time.monotonic()
        if pool is not None and info.runtime == "python":
            loop = asyncio.get_running_loop()
            instance, waiter = pool.acquire_or_wait(loop)
            if waiter is not None:  # at the limit: wait on the loop for a released one
                timer = loop.call_later(limit_ms / 1000.0, _give_up, waiter)
                try:
                    instance = await waiter
                finally:
                    timer.cancel()
                if instance is _GAVE_UP:
                    waited_ms = (time.monotonic() - t0) * 1000.0
                    return self._throttled(
                        info, rid, started_at, pool, limit_ms, waited_ms, trigger
                    )
        if instance is None or pool is None:
            call = functools.partial(
                self.invoke_sync,
                function,
                input,
                timeout,
                request_id=rid,
                trace_parent=trace_parent,
                trigger=trigger,
            )
            return await anyio.to_thread.run_sync(call, limiter=limiter)
        t1 = time.monotonic()
        try:
            reply = await instance.invoke_awaitable(request, limit_ms / 1000.0)
        except (InstanceTimedOut, InstanceDied) as exc:
            return self._failed(
                pool, instance, False, info, rid, exc, limit_ms, started_at, t1, trigger
            )
        except BaseException:
            pool.release(instance, self._clock(), healthy=False)  # cancelled mid-call
            instance.kill()
            raise
        return self._answered(pool, instance, False, info, rid, reply, started_at, trigger)

    # -- how a call ended --------------------------------------------------------------
    def _throttled(
        self,
        info: FunctionInfo,
        rid: str,
        started_at: float,
        pool: FunctionPool,
        limit_ms: int,
        waited_ms: float,
        trigger: str | None = None,
    ) -> InvocationResult:
        error = (
            f"throttled: function {info.name!r} is at its concurrency limit "
            f"({pool.limit}) and no instance freed up within {limit_ms} ms"
        )
        outcome = Outcome("throttled", waited_ms, error=error, error_type="Throttled")
        return self._finish(info, rid, started_at, outcome, trigger)

    def _failed(
        self,
        pool: FunctionPool,
        instance: Instance,
        cold: bool,
        info: FunctionInfo,
        rid: str,
        exc: Exception,
        limit_ms: int,
        started_at: float,
        t1: float,
        trigger: str | None = None,
    ) -> InvocationResult:
        """The worker timed out (and was killed) or died: the instance is replaced."""
        pool.release(instance, self._clock(), healthy=False)
        if isinstance(exc, InstanceTimedOut):
            status, error, kind = "timeout", f"timed out after {limit_ms} ms", "Timeout"
            ms = float(limit_ms)
        else:
            status, error, kind = "crashed", f"handler crashed: {exc}", "Crashed"
            ms = (time.monotonic() - t1) * 1000.0
        outcome = Outcome(
            status,
            ms,
            error=error,
            error_type=kind,
            cold=cold,
            init_ms=instance.init_ms if cold else 0.0,
            instance_id=instance.id,
        )
        return self._finish(info, rid, started_at, outcome, trigger)

    def _answered(
        self,
        pool: FunctionPool,
        instance: Instance,
        cold: bool,
        info: FunctionInfo,
        rid: str,
        reply: dict[str, Any],
        started_at: float,
        trigger: str | None = None,
    ) -> InvocationResult:
        kind = reply.get("kind")
        pool.release(instance, self._clock(), healthy=kind != "memory_limit")
        if reply["ok"]:
            status, error, error_type = "success", None, None
        elif kind == "memory_limit":
            status, error, error_type = "memory_limit", reply["error"], "MemoryLimitExceeded"
        elif kind == "output":
            status, error, error_type = "error", reply["error"], "OutputNotSerializable"
        else:
            status, error, error_type = "error", reply["error"], reply.get("type", "Error")
        # The hot path builds its result directly (an Outcome first cost ~0.5 us a call).
        result = InvocationResult(
            request_id=rid,
            function_id=info.id,
            function_name=info.name,
            status=status,
            output=reply.get("out"),
            error=error,
            error_type=error_type,
            duration_ms=reply.get("dur", 0.0),
            billed_duration_ms=0,
            memory_used_mb=reply.get("rss", 0.0),
            memory_limit_mb=info.memory_mb,
            cold_start=cold,
            init_duration_ms=instance.init_ms if cold else 0.0,
            started_at=started_at,
            instance_id=instance.id,
            logs=reply.get("logs", ""),
            traceback=reply.get("trace", ""),
        )
        return self._record(info, result, trigger)

    def _finish(
        self,
        info: FunctionInfo,
        rid: str,
        started_at: float,
        outcome: Outcome,
        trigger: str | None = None,
    ) -> InvocationResult:
        """Record a call that ended without an answer from the handler."""
        result = outcome.result(
            request_id=rid,
            function_id=info.id,
            function_name=info.name,
            memory_limit_mb=info.memory_mb,
            started_at=started_at,
        )
        return self._record(info, result, trigger)

    def _record(
        self, info: FunctionInfo, result: InvocationResult, trigger: str | None = None
    ) -> InvocationResult:
        """The one place a call is recorded: its bill, the ledger, then telemetry."""
        result.billed_duration_ms = billed_ms(result)
        self._ledger.append(result, trigger)
        ok = result.status == "success"
        self._metrics.record(info.id, info.name, ok, result.duration_ms, result.started_at)
        if self.tracer is not None:
            self._trace(info, result, trigger)
        return result

    def _trace(self, info: FunctionInfo, result: InvocationResult, trigger: str | None) -> None:
        trace_parent = self._traced.pop(result.request_id, None)
        try:
            self.tracer.record(  # type: ignore[union-attr]
                result, version=info.version, trace_parent=trace_parent, trigger=trigger
            )
        except Exception:  # a tracing failure must not fail the call
            log.exception("tracing the invocation %s failed", result.request_id)

    # -- queued ----------------------------------------------------------------------
    def invoke_async(
        self, function: str, input: Any = None, *, max_retries: int | None = None
    ) -> str:
        """Queue an invocation durably; returns its request id at once."""
        info = self._registry.get(function)
        request_id = self.async_queue.submit(info.id, info.name, input, max_retries)
        self._ensure_started()
        return request_id

    def _run_async(
        self, function_id: str, event: Any, request_id: str, attempt: int
    ) -> InvocationResult:
        try:
            return self.invoke_sync(function_id, event, request_id=request_id, attempt=attempt)
        except NotFoundError:  # deleted while queued: a failed attempt, billed nothing
            gone = Outcome(
                "error",
                0.0,
                error=f"function {function_id!r} no longer exists",
                error_type="NotFound",
            )
            return gone.result(
                request_id=request_id,
                function_id=function_id,
                function_name="?",
                memory_limit_mb=0,
                started_at=self._clock(),
            )

    def get_invocation(self, request_id: str) -> Invocation:
        found = self.async_queue.get(request_id)
        if found is not None:
            return found
        row = self._ledger.find(request_id)
        if row is None:
            raise NotFoundError("invocation", request_id)
        state = "succeeded" if row["status"] == "success" else "failed"
        return Invocation(
            request_id=request_id,
            function_id=row["function_id"],
            function_name=row["function_name"],
            state=state,
            attempts=1,
            max_attempts=1,
            created_at=row["started_at"],
            updated_at=row["started_at"],
            next_attempt_at=None,
            result=None,
            error=row["error"],
        )
