"""The Ray backend: function instances run as Ray actors on a Ray cluster.

The control plane stays in this (the head's) process: registry, pools, autoscaler,
ledger, triggers and gateway are the local ones. Only instances move: a cold start
creates an actor (placed by Ray's scheduler with the function's resources), a warm pool
is a set of idle actors, scale-to-zero ends them. Each actor hosts a constellation worker
process on its node (see ``_host``), so timeouts and memory limits hold there too.
A watcher notices actors lost with their node; pools then replace them. WASM functions
run in this process, as on the local backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..._resources import ray_gpus_of
from ...config import Settings
from ...errors import ClosedError
from .._base import Instance
from .._errors import InstanceStartError
from .._spec import FunctionSpec, raise_for_check, worker_spec
from ..local import LocalBackend, WorkerInstance
from ._codeship import pack_code
from ._connect import acquire, release
from ._host import FunctionHost
from ._instance import RayInstance
from ._placement import NodeView
from ._watch import ActorWatcher

__all__ = ["RayBackend"]

MB = 1024 * 1024
START_ATTEMPTS = 3  # a start lost with its node is tried on another


class RayBackend:
    """Starts function instances as Ray actors. ``close`` is idempotent."""

    name = "ray"

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._local = LocalBackend(settings, clock)  # WASM functions run in this process
        self._ray: ModuleType | None = None
        self._host: Any = None
        self._watcher: ActorWatcher | None = None
        self._code: dict[str, Any] = {}  # code hash -> ObjectRef of its zip
        self._nodes: NodeView | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> ModuleType:
        with self._lock:
            if self._closed:
                raise ClosedError("the platform is shut down")
            if self._ray is None:
                ray = acquire(self._settings.ray_address)
                self._host = ray.remote(FunctionHost)
                self._nodes = NodeView(ray)
                self._watcher = ActorWatcher(ray)
                self._ray = ray
            return self._ray

    def start(self) -> None:
        """Join (or start) the Ray cluster now, so the first cold start does not pay for it."""
        self._connect()

    # -- instances -------------------------------------------------------------------
    def actor_options(self, info: FunctionSpec) -> dict[str, Any]:
        """What Ray is asked for per instance: CPUs, GPUs, memory, custom resources."""
        wants = info.resources
        options: dict[str, Any] = {
            "num_cpus": wants.cpus_for(info.memory_mb),
            "memory": info.memory_mb * MB,
            "max_restarts": 0,  # a lost instance is replaced by the pool, not restarted
            "max_concurrency": 2,  # one invocation, plus the watcher's call
        }
        gpus = wants.num_gpus or ray_gpus_of(info.gpu)
        if gpus:
            options["num_gpus"] = gpus
        if wants.custom:
            options["resources"] = dict(wants.custom)
        if self._settings.ray_placement == "spread":
            options["scheduling_strategy"] = "SPREAD"
        return options

    def launch(self, info: FunctionSpec, generation: int) -> Instance:
        if info.runtime == "wasm":
            return self._local.launch(info, generation)
        self._connect()
        started = time.perf_counter()
        options = self.actor_options(info)
        self._check_placeable(info, options)
        instance_id = WorkerInstance.new_id()
        instance, ready = self._start_host(info, self._spec(info, instance_id), options)
        if not ready.get("ready"):
            raise InstanceStartError(str(ready.get("error", "the instance failed to start")))
        instance.init_ms = (time.perf_counter() - started) * 1000.0
        instance.generation = generation
        assert self._watcher is not None
        self._watcher.watch(instance)
        return instance

    def _start_host(
        self, info: FunctionSpec, spec: dict[str, Any], options: dict[str, Any]
    ) -> tuple[RayInstance, dict[str, Any]]:
        """Create the actor and wait for its worker; a start lost to the cluster (the node
        died under it) is tried again, a failure of the code is not."""
        assert self._ray is not None
        timeout = self._settings.ray_start_timeout_s
        attempts = 0
        while True:
            attempts += 1
            actor = self._host.options(**options).remote(
                spec, self._code_ref(info.code_hash), info.code_hash, timeout
            )
            instance = RayInstance(self._ray, actor, spec["instance_id"], info.id, 0, self._clock())
            ready = instance.wait_ready(timeout)
            if ready.get("ready"):
                return instance, ready
            instance.close()
            if ready.get("cluster") != "lost" or attempts == START_ATTEMPTS:
                return instance, ready

    def check_handler(self, info: FunctionSpec) -> None:
        """Load the code once on the cluster, in a throw-away actor that asks for nothing."""
        if info.runtime == "wasm":
            self._local.check_handler(info)
            return
        self._connect()
        spec = self._spec(info, "check", check_only=True)
        probe, ready = self._start_host(info, spec, {"num_cpus": 0, "max_restarts": 0})
        probe.close()
        if ready.get("cluster"):
            raise InstanceStartError(f"the code could not be checked: {ready.get('error')}")
        raise_for_check(ready)

    def _spec(self, info: FunctionSpec, instance_id: str, check_only: bool = False) -> dict:
        spec = worker_spec(self._settings, info, instance_id, check_only)
        # No polling between the actor and its worker: next to a Ray call (about 1 ms) the
        # wake-up it saves is small, and the CPU it burns is taken from Ray's own threads.
        spec["spin_s"] = 0.0
        spec["reply_spin_s"] = 0.0
        return spec

    def _code_ref(self, code_hash: str) -> Any:
        with self._lock:
            ref = self._code.get(code_hash)
        if ref is None:
            assert self._ray is not None
            ref = self._ray.put(pack_code(self._settings.code_dir / code_hash))
            with self._lock:
                ref = self._code.setdefault(code_hash, ref)
        return ref

    def _check_placeable(self, info: FunctionSpec, options: dict[str, Any]) -> None:
        """InstanceStartError naming the resource when no node could ever host it."""
        assert self._nodes is not None
        why = self._nodes.why_not(options)
        if why is not None:
            raise InstanceStartError(f"{why}, for function {info.name!r}")

    # -- cold-start optimisation: an actor is the unit of start-up here ----------------
    def function_zygote(self, info: FunctionSpec) -> None:
        if info.runtime == "wasm":
            self._local.function_zygote(info)

    def drop_function_zygote(self, function_id: str) -> None:
        self._local.drop_function_zygote(function_id)

    def close(self) -> None:
        """End the watcher and let go of Ray (a local Ray started for this process ends
        with its last user). Idempotent; the pools end their own actors first."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ray, self._ray = self._ray, None
            code, self._code = self._code, {}
        self._local.close()
        if self._watcher is not None:
            self._watcher.close()
        if ray is not None:
            if code:
                try:
                    ray.internal.free(list(code.values()))
                except Exception:  # freeing is an optimisation; Ray may be gone already
                    pass
            release()
