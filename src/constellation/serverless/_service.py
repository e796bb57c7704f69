"""ServerlessService: the functions API (the seed's ``serverless.*``) on one platform.

It ties the registry (what functions exist), the launcher (how instances start), one
pool per function (which instances exist), the ledger (what every invocation did) and
the async queue together. ``invoke_sync`` runs on the caller's thread end to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
import orjson

from ..config import Settings
from ..errors import ClosedError, NotFoundError, ValidationError
from ..store import Store
from ..telemetry import MetricSeries, Telemetry
from . import _validation as check
from ._async import AsyncQueue
from ._codestore import CodeSnapshot, resolve_entry, snapshot_code
from ._errors import InstanceStartError
from ._instance import InstanceDied, InstanceTimedOut, WorkerInstance
from ._launcher import make_launcher
from ._ledger import Ledger, billed_ms
from ._models import (
    FunctionInfo,
    FunctionInstance,
    Invocation,
    InvocationResult,
    Resources,
    ScalingPolicy,
)
from ._pool import FunctionPool, Throttled
from ._queries import QueriesMixin
from ._registry import FunctionRegistry
from ._scaler import Autoscaler
from ._timers import TimerScheduler
from ._triggers import Trigger, TriggerRegistry, TriggerRunners

__all__ = ["ServerlessService"]

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_GAVE_UP: Any = object()  # what a loop waiter gets when its time limit passed first


def _give_up(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(_GAVE_UP)


class ServerlessService(QueriesMixin):
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        self.settings = settings
        self.background = background
        self.clock = clock
        self.telemetry = telemetry or Telemetry()
        self._store = store
        self.registry = FunctionRegistry(store)
        self.ledger = Ledger(store, settings, clock)
        self.launcher = make_launcher(settings, clock)
        self.async_queue = AsyncQueue(store, settings, self._run_async, clock)
        self.autoscaler = Autoscaler(self)
        self._pools: dict[str, FunctionPool] = {}
        self._series: dict[str, tuple[MetricSeries, MetricSeries]] = {}
        self._error_rates: dict[str, float] = {}
        self._rid_prefix = uuid.uuid4().hex[:16]
        self._rid_counter = itertools.count(1)
        self._lock = threading.Lock()
        self._running = False
        self._closed = False
        self._stop = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self.triggers = TriggerRegistry(store, clock)
        self.timers = TimerScheduler(self.triggers, self._invoke_for_trigger, clock=clock)
        self.trigger_runners = TriggerRunners(
            self.triggers, self._invoke_for_trigger, store=store, settings=settings, clock=clock
        )

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
                self._pool(info)
        self._housekeeper = threading.Thread(
            target=self._housekeep, name="serverless-housekeeping", daemon=True
        )
        self._housekeeper.start()
        self.timers.start()
        self.trigger_runners.sync()

    def is_running(self) -> bool:
        return self._running

    def shutdown(self) -> None:
        """Stop every loop and instance; flush the ledger. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._running = False
            pools, self._pools = list(self._pools.values()), {}
        self._stop.set()
        self.timers.close()
        self.trigger_runners.close()
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
        last_reap = 0.0
        while not self._stop.wait(1.0):
            try:
                for info in self.registry.refresh_if_changed():  # changed by another process
                    self._apply(info, retire=True)
                    if info.status == "deployed":
                        self._pool(info)
                if time.monotonic() - last_reap >= self.settings.reaper_interval_s:
                    last_reap = time.monotonic()
                    self.reap_idle()
                for pool in list(self._pools.values()):
                    pool.fill()
                changed = self.triggers.refresh_if_changed()  # by another process
                if changed or self.trigger_runners.retry_due(time.monotonic()):
                    self.trigger_runners.sync()  # also retries brokers that were down
                if changed:
                    self.timers.wake()
            except (ClosedError, InstanceStartError):
                continue

    # -- functions -------------------------------------------------------------------
    def create_function(
        self,
        name: str,
        runtime: str = "python",
        handler: str = "handler",
        code: str | None = None,
        *,
        memory_mb: int | None = None,
        timeout_s: int | None = None,
        concurrency: int | None = None,
        env: Mapping[str, str] | None = None,
        scaling_policy: Mapping[str, Any] | None = None,
        cold_start_optimization: bool = False,
        gas_limit: int | None = None,
        resources: Mapping[str, Any] | None = None,
        gpu: Mapping[str, Any] | None = None,
    ) -> FunctionInfo:
        """Register a function; its code is copied into the store and its handler checked.

        ``runtime="wasm"`` takes a ``.wasm`` (or ``.wat``) file: a WASI command module
        (handler ``"_start"``) gets the event as JSON on stdin and answers on stdout; a core
        module's exported function (the handler) takes and returns numbers. ``gas_limit`` is
        a WASM function's gas budget per invocation. ``resources`` (``num_cpus``,
        ``num_gpus``, ``custom``) is what each instance asks a Ray cluster for. ``gpu`` is a
        GPU request (``{"gpu_count": 1, "memory_mb": 4096}``, see :mod:`constellation.gpu`)
        allocated for each instance while it lives; its environment reaches the worker.
        """
        s = self.settings
        check.check_name(name)
        check.check_runtime(runtime)
        memory = check.check_memory(s.default_memory_mb if memory_mb is None else memory_mb)
        timeout = check.check_timeout(s.default_timeout_s if timeout_s is None else timeout_s)
        conc = check.check_concurrency(
            s.default_concurrency if concurrency is None else concurrency
        )
        variables = check.check_env(env)
        base = ScalingPolicy(idle_timeout_s=s.idle_timeout_s)
        policy = ScalingPolicy.from_mapping(scaling_policy, base)
        gas = check.check_gas_limit(gas_limit, runtime)
        wants = Resources.from_mapping(resources)
        gpu_request = check.check_gpu(gpu, runtime)
        if code is None:
            raise ValidationError("code", "required: the path of a .py file or a directory")
        if self.registry.find(name) is not None:
            raise ValidationError("name", f"a function called {name!r} already exists")
        snapshot = snapshot_code(code, s.code_dir)
        if (runtime == "wasm") != (snapshot.kind == "wasm"):
            self._discard_unused(snapshot.code_hash)
            wanted = (
                "a .wasm or .wat file" if runtime == "wasm" else "Python code (.py or a directory)"
            )
            raise ValidationError("code", f"runtime {runtime!r} needs {wanted}; got {str(code)!r}")
        entry = self._entry(snapshot, handler)
        now = self.clock()
        info = FunctionInfo(
            id="fn-" + uuid.uuid4().hex[:12],
            name=name,
            runtime=runtime,
            handler=handler,
            source=str(code),
            code_hash=snapshot.code_hash,
            entry=entry,
            memory_mb=memory,
            timeout_s=timeout,
            concurrency=conc,
            env=variables,
            scaling_policy=policy,
            cold_start_optimization=bool(cold_start_optimization),
            prewarm_instances=0,
            version=1,
            status="created",
            created_at=now,
            updated_at=now,
            gas_limit=gas,
            resources=wants,
            gpu=gpu_request,
        )
        self._check_code(info)
        return self.registry.insert(info)

    def _entry(self, snapshot: CodeSnapshot, handler: str) -> str:
        try:
            module, attr = resolve_entry(snapshot, handler)
        except ValidationError:
            self._discard_unused(snapshot.code_hash)
            raise
        return f"{module}:{attr}"

    def _check_code(self, info: FunctionInfo) -> None:
        try:
            self.launcher.check_handler(info)
        except (ValidationError, InstanceStartError):
            self._discard_unused(info.code_hash)
            raise

    def _discard_unused(self, code_hash: str) -> None:
        """A refused function leaves no code behind (unless another function uses it)."""
        if not any(f.code_hash == code_hash for f in self.registry.list()):
            shutil.rmtree(self.settings.code_dir / code_hash, ignore_errors=True)

    def deploy_function(self, function: str) -> FunctionInfo:
        """Snapshot the current source, replace the instances, and warm the pool."""
        info = self.registry.get(function)
        snapshot = snapshot_code(info.source, self.settings.code_dir)
        entry = self._entry(snapshot, info.handler)
        changed = snapshot.code_hash != info.code_hash or entry != info.entry
        new = self._replace(
            info,
            code_hash=snapshot.code_hash,
            entry=entry,
            status="deployed",
            deployed_at=self.clock(),
            version=info.version + int(changed),
        )
        if changed:
            self._check_code(new)
        self.registry.save(new)
        self._apply(new, retire=changed)
        self._warm(new)
        return new

    def _replace(self, info: FunctionInfo, **changes: Any) -> FunctionInfo:
        return dataclasses.replace(info, updated_at=self.clock(), **changes)

    def _update(self, function: str, retire: bool, **changes: Any) -> FunctionInfo:
        info = self.registry.get(function)
        new = self.registry.save(self._replace(info, **changes))
        self._apply(new, retire=retire)
        return new

    def _apply(self, info: FunctionInfo, retire: bool) -> None:
        with self._lock:
            pool = self._pools.get(info.id)
        if pool is not None:
            pool.update(info, retire=retire)
        if retire:
            self.launcher.drop_function_zygote(info.id)

    # Fields update_function takes; those that change what an instance is replace them.
    UPDATABLE = (
        "memory_mb",
        "timeout_s",
        "concurrency",
        "env",
        "scaling_policy",
        "cold_start_optimization",
        "prewarm_instances",
        "resources",
        "gpu",
        "gas_limit",
    )
    _RETIRING = frozenset({"memory_mb", "env", "resources", "gpu", "gas_limit"})

    def update_function(self, function: str, changes: Mapping[str, Any]) -> FunctionInfo:
        """Change several settings at once: every value is checked before any is applied,
        the function is saved once, and its instances are replaced at most once.

        ``env`` is merged into the current variables (a value of ``None`` unsets one);
        ``scaling_policy`` and ``resources`` are merged into the current ones; ``gpu`` is
        a request or ``None``. A refused change leaves the function as it was.
        """
        if not isinstance(changes, Mapping):
            raise ValidationError("changes", "must be a mapping of setting: value")
        unknown = sorted(set(changes) - set(self.UPDATABLE))
        if unknown:
            raise ValidationError(
                unknown[0], f"cannot be changed; allowed: {', '.join(self.UPDATABLE)}"
            )
        info = self.registry.get(function)
        fields: dict[str, Any] = {}
        if "memory_mb" in changes:
            fields["memory_mb"] = check.check_memory(changes["memory_mb"])
        if "timeout_s" in changes:
            fields["timeout_s"] = check.check_timeout(changes["timeout_s"])
        if "concurrency" in changes:
            fields["concurrency"] = check.check_concurrency(changes["concurrency"])
        if "env" in changes:
            fields["env"] = self._merged_env(info, changes["env"])
        if "scaling_policy" in changes:
            fields["scaling_policy"] = ScalingPolicy.from_mapping(
                changes["scaling_policy"], info.scaling_policy
            )
        if "cold_start_optimization" in changes:
            enabled = changes["cold_start_optimization"]
            if not isinstance(enabled, bool):
                raise ValidationError("cold_start_optimization", "must be true or false")
            fields["cold_start_optimization"] = enabled
        if "prewarm_instances" in changes:
            fields["prewarm_instances"] = check.check_prewarm(changes["prewarm_instances"])
        if "resources" in changes:
            wanted = changes["resources"]
            if not isinstance(wanted, Mapping):
                raise ValidationError("resources", "must be an object: num_cpus, num_gpus, custom")
            fields["resources"] = Resources.from_mapping({**info.resources.to_dict(), **wanted})
        if "gpu" in changes:
            fields["gpu"] = check.check_gpu(changes["gpu"], info.runtime)
        if "gas_limit" in changes:
            fields["gas_limit"] = check.check_gas_limit(changes["gas_limit"], info.runtime)
        changed = {k: v for k, v in fields.items() if getattr(info, k) != v}
        if not changed:
            return info
        new = self._update(function, bool(self._RETIRING & set(changed)), **changed)
        if changed.get("cold_start_optimization") and self._running and new.status == "deployed":
            self.launcher.function_zygote(new)  # ready before the next cold start
        if "prewarm_instances" in changed:
            self._warm(new)
        return new

    @staticmethod
    def _merged_env(info: FunctionInfo, raw: Any) -> dict[str, str]:
        if not isinstance(raw, Mapping):
            raise ValidationError("env", "must be an object of NAME: value (null to unset)")
        for key, value in raw.items():
            if value is None and key not in info.env:
                raise ValidationError(f"env.{key}", "is not set, so it cannot be unset")
        setting = check.check_env({k: v for k, v in raw.items() if v is not None})
        kept = {k: v for k, v in info.env.items() if raw.get(k, v) is not None}
        return {**kept, **setting}

    def set_memory(self, function: str, memory_mb: int) -> FunctionInfo:
        return self._update(function, True, memory_mb=check.check_memory(memory_mb))

    def set_timeout(self, function: str, timeout_s: int) -> FunctionInfo:
        return self._update(function, False, timeout_s=check.check_timeout(timeout_s))

    def set_gas_limit(self, function: str, gas_limit: int | None) -> FunctionInfo:
        """A WASM function's gas budget per invocation (None: unmetered)."""
        info = self.registry.get(function)
        return self._update(
            function, True, gas_limit=check.check_gas_limit(gas_limit, info.runtime)
        )

    def set_resources(
        self, function: str, resources: Mapping[str, Any] | None = None, **options: Any
    ) -> FunctionInfo:
        """What each instance asks the cluster for: ``num_cpus``, ``num_gpus``, ``custom``.

        Options not given keep their current value; the instances are replaced.
        """
        info = self.registry.get(function)
        merged = {**info.resources.to_dict(), **(resources or {}), **options}
        return self._update(function, True, resources=Resources.from_mapping(merged))

    def set_gpu(self, function: str, request: Mapping[str, Any] | None) -> FunctionInfo:
        """A GPU request for each instance (None: no GPU); the instances are replaced."""
        info = self.registry.get(function)
        return self._update(function, True, gpu=check.check_gpu(request, info.runtime))

    def set_concurrency(self, function: str, concurrency: int) -> FunctionInfo:
        return self._update(function, False, concurrency=check.check_concurrency(concurrency))

    def set_env_var(self, function: str, name: str, value: str) -> FunctionInfo:
        variables = check.check_env({name: value})
        info = self.registry.get(function)
        return self._update(function, True, env={**info.env, **variables})

    def unset_env_var(self, function: str, name: str) -> FunctionInfo:
        info = self.registry.get(function)
        if name not in info.env:
            raise NotFoundError("environment variable", name)
        return self._update(function, True, env={k: v for k, v in info.env.items() if k != name})

    def set_scaling_policy(
        self, function: str, policy: Mapping[str, Any] | None = None, **options: Any
    ) -> FunctionInfo:
        info = self.registry.get(function)
        merged = ScalingPolicy.from_mapping({**(policy or {}), **options}, info.scaling_policy)
        return self._update(function, False, scaling_policy=merged)

    def enable_cold_start_optimization(self, function: str, enabled: bool = True) -> FunctionInfo:
        info = self._update(function, False, cold_start_optimization=bool(enabled))
        if enabled and self._running and info.status == "deployed":
            self.launcher.function_zygote(info)  # ready before the next cold start
        return info

    def prewarm_function(self, function: str, instances: int = 1) -> FunctionInfo:
        """Keep ``instances`` idle instances ready (at most the function's limit)."""
        info = self._update(
            function, False, prewarm_instances=check.check_prewarm(instances, "instances")
        )
        self._warm(info)
        return info

    def _warm(self, info: FunctionInfo) -> None:
        """Fill the warm pool now (only where this process runs the platform's loops)."""
        if self.background:
            self._ensure_started()
            self._pool(info).fill()

    def delete_function(self, function: str) -> None:
        info = self.registry.get(function)
        self.registry.delete(info.id)
        for trigger in self.triggers.remove_for_function(info.id):
            self.timers.forget(trigger.id)
        self.trigger_runners.sync()
        with self._lock:
            pool = self._pools.pop(info.id, None)
        if pool is not None:
            pool.close()
        self.launcher.drop_function_zygote(info.id)

    def get_function(self, function: str) -> FunctionInfo:
        return self.registry.get(function)

    def list_functions(self) -> list[FunctionInfo]:
        return self.registry.list()

    # -- instances -------------------------------------------------------------------
    def _ensure_started(self) -> None:
        # Without background loops (the CLI), nothing starts behind the caller's back.
        if not self._running and self.background:
            self.init()

    def _pool(self, info: FunctionInfo) -> FunctionPool:
        pool = self._pools.get(info.id)
        if pool is None:
            with self._lock:
                if self._closed:
                    raise ClosedError("the serverless service is shut down")
                pool = self._pools.get(info.id)
                if pool is None:
                    pool = self._pools[info.id] = FunctionPool(
                        info, self.launcher.launch, self.clock
                    )
        return pool

    def pools(self) -> list[FunctionPool]:
        return list(self._pools.values())

    def get_scaling_decisions(self, function: str, limit: int = 50) -> list[dict[str, Any]]:
        """The autoscaler's recent decisions for a function, with their inputs."""
        return self.autoscaler.decisions(self.registry.get(function).id, limit)

    def reap_idle(self, now: float | None = None) -> int:
        """Scale idle instances down to the warm target (to zero by default)."""
        moment = self.clock() if now is None else now
        return sum(pool.reap(moment) for pool in list(self._pools.values()))

    def list_instances(self, function: str | None = None) -> list[FunctionInstance]:
        now = self.clock()
        pools = (
            [self._pools.get(self.registry.get(function).id)]
            if function
            else list(self._pools.values())
        )
        out = []
        for pool in pools:
            if pool is None:
                continue
            for inst, status in pool.instances():
                out.append(
                    FunctionInstance(
                        inst.id,
                        pool.info.id,
                        pool.info.name,
                        status,
                        inst.pid,
                        inst.created_at,
                        max(0.0, now - inst.created_at),
                        inst.invocations,
                        pool.info.version,
                        inst.node,
                    )
                )
        return out

    def has_instance(self, instance_id: str) -> bool:
        return any(i.id == instance_id for i in self.list_instances())

    def restart_instance(self, instance_id: str) -> None:
        """Replace an instance with a fresh one (a busy one is replaced after its call)."""
        for pool in list(self._pools.values()):
            instance = pool.remove_instance(instance_id)
            if instance is not None:
                if instance.generation != -1:
                    instance.close()
                pool.fill(max(pool.warm_target, 1))
                return
        raise NotFoundError("instance", instance_id)

    # -- invocation ------------------------------------------------------------------
    def invoke_sync(
        self,
        function: str,
        input: Any = None,
        timeout: int | None = None,
        *,
        request_id: str | None = None,
        attempt: int = 1,
    ) -> InvocationResult:
        """Run the handler once and wait for it. ``timeout`` in ms (default: the function's)."""
        info, limit_ms, rid, request = self._prepare(function, input, timeout, request_id, attempt)
        if not self._running:
            self._ensure_started()
        pool = self._pools.get(info.id) or self._pool(info)
        started_at = self.clock()
        t0 = time.monotonic()
        try:
            instance, cold = pool.acquire(t0 + limit_ms / 1000.0)
        except Throttled:
            waited_ms = (time.monotonic() - t0) * 1000.0
            return self._throttled(info, rid, started_at, pool, limit_ms, waited_ms)
        except InstanceStartError as exc:
            return self._finish(
                info,
                rid,
                started_at,
                "error",
                None,
                f"cold start failed: {exc}",
                "InitError",
                0.0,
                cold=True,
                init_ms=(time.monotonic() - t0) * 1000.0,
            )
        return self._run_on(pool, instance, cold, info, rid, request, limit_ms, started_at)

    def _prepare(
        self, function: str, input: Any, timeout: int | None, request_id: str | None, attempt: int
    ) -> tuple[FunctionInfo, int, str, bytes]:
        """Check the call; returns the function, the time limit, the request id and body."""
        info = self.registry.get(function)
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
        try:
            request = orjson.dumps(
                {"id": rid, "event": input, "timeout_ms": limit_ms, "attempt": attempt},
                option=_JSON_OPTIONS,
            )
        except TypeError as exc:
            raise ValidationError("input", f"the event is not JSON-serialisable: {exc}") from None
        return info, limit_ms, rid, request

    async def invoke_awaitable(
        self,
        function: str,
        input: Any = None,
        timeout: int | None = None,
        *,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> InvocationResult:
        """:meth:`invoke_sync` for an asyncio event loop (the HTTP gateway).

        With a warm Python instance free, the loop waits on the worker's socket itself: no
        thread hand-off. Otherwise (a cold start, a wait for a free instance, a WASM
        function) the call runs :meth:`invoke_sync` on a worker thread.
        """
        info, limit_ms, rid, request = self._prepare(function, input, timeout, None, 1)
        pool = self._pools.get(info.id)
        instance = None
        started_at = self.clock()
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
                    return self._throttled(info, rid, started_at, pool, limit_ms, waited_ms)
        if instance is None or pool is None:
            call = functools.partial(self.invoke_sync, function, input, timeout, request_id=rid)
            return await anyio.to_thread.run_sync(call, limiter=limiter)
        t1 = time.monotonic()
        try:
            reply = await instance.invoke_awaitable(request, limit_ms / 1000.0)
        except (InstanceTimedOut, InstanceDied) as exc:
            return self._failed(pool, instance, False, info, rid, exc, limit_ms, started_at, t1)
        except BaseException:
            pool.release(instance, self.clock(), healthy=False)  # cancelled mid-call
            instance.kill()
            raise
        return self._answered(pool, instance, False, info, rid, reply, started_at)

    def _throttled(
        self,
        info: FunctionInfo,
        rid: str,
        started_at: float,
        pool: FunctionPool,
        limit_ms: int,
        waited_ms: float,
    ) -> InvocationResult:
        return self._finish(
            info,
            rid,
            started_at,
            "throttled",
            None,
            f"throttled: function {info.name!r} is at its concurrency limit "
            f"({pool.limit}) and no instance freed up within {limit_ms} ms",
            "Throttled",
            waited_ms,
        )

    def _new_request_id(self) -> str:
        # A random per-process prefix and a counter: unique, and cheaper than uuid4().
        return f"{self._rid_prefix}-{next(self._rid_counter):010x}"

    def _run_on(
        self,
        pool: FunctionPool,
        instance: WorkerInstance,
        cold: bool,
        info: FunctionInfo,
        rid: str,
        request: bytes,
        limit_ms: int,
        started_at: float,
    ) -> InvocationResult:
        t1 = time.monotonic()
        try:
            reply = instance.invoke_raw(request, limit_ms / 1000.0)
        except (InstanceTimedOut, InstanceDied) as exc:
            return self._failed(pool, instance, cold, info, rid, exc, limit_ms, started_at, t1)
        return self._answered(pool, instance, cold, info, rid, reply, started_at)

    def _failed(
        self,
        pool: FunctionPool,
        instance: WorkerInstance,
        cold: bool,
        info: FunctionInfo,
        rid: str,
        exc: Exception,
        limit_ms: int,
        started_at: float,
        t1: float,
    ) -> InvocationResult:
        """The worker timed out (and was killed) or died: the instance is replaced."""
        pool.release(instance, self.clock(), healthy=False)
        init_ms = instance.init_ms if cold else 0.0
        if isinstance(exc, InstanceTimedOut):
            status, error, kind = "timeout", f"timed out after {limit_ms} ms", "Timeout"
            ms = float(limit_ms)
        else:
            status, error, kind = "crashed", f"handler crashed: {exc}", "Crashed"
            ms = (time.monotonic() - t1) * 1000.0
        return self._finish(
            info, rid, started_at, status, None, error, kind, ms, cold, init_ms, instance.id
        )

    def _answered(
        self,
        pool: FunctionPool,
        instance: WorkerInstance,
        cold: bool,
        info: FunctionInfo,
        rid: str,
        reply: dict[str, Any],
        started_at: float,
    ) -> InvocationResult:
        kind = reply.get("kind")
        pool.release(instance, self.clock(), healthy=kind != "memory_limit")
        if reply["ok"]:
            status, error, error_type = "success", None, None
        elif kind == "memory_limit":
            status, error, error_type = "memory_limit", reply["error"], "MemoryLimitExceeded"
        elif kind == "output":
            status, error, error_type = "error", reply["error"], "OutputNotSerializable"
        else:
            status, error, error_type = "error", reply["error"], reply.get("type", "Error")
        return self._finish(
            info,
            rid,
            started_at,
            status,
            reply.get("out"),
            error,
            error_type,
            reply.get("dur", 0.0),
            cold,
            instance.init_ms if cold else 0.0,
            instance.id,
            reply.get("rss", 0.0),
            reply.get("logs", ""),
            reply.get("trace", ""),
        )

    def _finish(
        self,
        info: FunctionInfo,
        rid: str,
        started_at: float,
        status: str,
        output: Any,
        error: str | None,
        error_type: str | None,
        duration_ms: float,
        cold: bool = False,
        init_ms: float = 0.0,
        instance_id: str | None = None,
        rss: float = 0.0,
        logs: str = "",
        trace: str = "",
    ) -> InvocationResult:
        result = InvocationResult(
            rid,
            info.id,
            info.name,
            status,
            output,
            error,
            error_type,
            duration_ms,
            0,
            rss,
            info.memory_mb,
            cold,
            init_ms,
            started_at,
            instance_id,
            logs,
            trace,
        )
        result.billed_duration_ms = billed_ms(result)
        self.ledger.append(result)
        series = self._series.get(info.id)
        if series is None or series[0].labels["function"] != info.name:
            labels = {"function": info.name}
            series = self._series[info.id] = (
                self.telemetry.series("function_duration_ms", labels),
                self.telemetry.series("function_error_rate", labels),
            )
        # Error rate: an exponentially weighted mean over roughly the last 10 invocations.
        rate = self._error_rates.get(info.id, 0.0)
        rate += 0.1 * ((0.0 if status == "success" else 1.0) - rate)
        self._error_rates[info.id] = rate
        self.telemetry.publish(series[0], duration_ms, started_at)
        self.telemetry.publish(series[1], rate, started_at)
        return result

    def invoke_async(
        self, function: str, input: Any = None, *, max_retries: int | None = None
    ) -> str:
        """Queue an invocation durably; returns its request id at once."""
        info = self.registry.get(function)
        request_id = self.async_queue.submit(info.id, info.name, input, max_retries)
        self._ensure_started()
        return request_id

    def _run_async(
        self, function_id: str, event: Any, request_id: str, attempt: int
    ) -> InvocationResult:
        try:
            return self.invoke_sync(function_id, event, request_id=request_id, attempt=attempt)
        except NotFoundError:
            now = self.clock()
            return InvocationResult(
                request_id,
                function_id,
                "?",
                "error",
                None,
                f"function {function_id!r} no longer exists",
                "NotFound",
                0.0,
                0,
                0.0,
                0,
                False,
                0.0,
                now,
            )

    def publish(
        self, queue: str, message: Any, *, broker: str = "sqlite", url: str | None = None
    ) -> str:
        """Put a message on a queue that queue triggers consume; returns its id."""
        from ..triggers import publish

        return publish(
            queue, message, broker=broker, url=url, store=self._store, settings=self.settings
        )

    def emit(self, event_type: str, payload: Any, *, source: str = "constellation") -> int:
        """Send a custom event (CloudEvents envelope) to the event triggers whose glob
        matches ``event_type``; returns how many it was queued for."""
        from ..triggers import emit

        return emit(event_type, payload, source=source, store=self._store)

    def get_invocation(self, request_id: str) -> Invocation:
        found = self.async_queue.get(request_id)
        if found is not None:
            return found
        row = self.ledger.find(request_id)
        if row is None:
            raise NotFoundError("invocation", request_id)
        state = "succeeded" if row["status"] == "success" else "failed"
        return Invocation(
            request_id,
            row["function_id"],
            row["function_name"],
            state,
            1,
            1,
            row["started_at"],
            row["started_at"],
            None,
            None,
            row["error"],
        )

    def list_dead_letters(self, function: str | None = None) -> list[Invocation]:
        fid = self.registry.get(function).id if function else None
        return self.async_queue.dead_letters(fid)

    def redrive(self, request_id: str) -> Invocation:
        return self.async_queue.redrive(request_id)

    # -- triggers --------------------------------------------------------------------
    def add_trigger(self, function: str, spec: Mapping[str, Any]) -> Trigger:
        """Attach an http, timer, queue, stream or event trigger (validated, persisted)."""
        info = self.registry.get(function)
        trigger = self.triggers.add(info.id, spec)
        if self._running:
            self.trigger_runners.sync()
            self.timers.wake()
        return trigger

    def remove_trigger(self, trigger_id: str) -> Trigger:
        trigger = self.triggers.remove(trigger_id)
        self.timers.forget(trigger.id)
        if self._running:
            self.trigger_runners.sync()
        return trigger

    def list_triggers(self, function: str | None = None) -> list[Trigger]:
        self.triggers.refresh_if_changed()
        fid = self.registry.get(function).id if function else None
        return self.triggers.list(fid)

    def _invoke_for_trigger(self, function_id: str, event: Any) -> InvocationResult:
        try:
            return self.invoke_sync(function_id, event)
        except NotFoundError:
            # Deleted by another process: its triggers go too.
            for trigger in self.triggers.remove_for_function(function_id):
                self.timers.forget(trigger.id)
            raise
