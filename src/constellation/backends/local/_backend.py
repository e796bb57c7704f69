"""The local backend: instances are processes forked from zygotes on this machine.

Without cold-start optimisation a new instance is forked from the root zygote and
imports the function's module itself. With it, the function gets its own zygote that
imported the module once, and a new instance is a single fork of that zygote.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ...config import Settings
from ...errors import ClosedError
from .._base import Instance
from .._errors import InstanceStartError
from .._factory import GpuAllocate, GpuRelease
from .._spec import FunctionSpec, raise_for_check, worker_spec
from ._instance import WorkerInstance
from ._wasm_instance import WasmInstance, wasm_handler
from ._zygote_client import ExitRegistry, FunctionZygote, RootZygote

__all__ = ["LocalBackend"]

START_TIMEOUT_S = 60.0


class LocalBackend:
    """The local backend: instances are processes forked on this machine."""

    name = "local"

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float],
        *,
        gpu_allocate: GpuAllocate | None = None,
        gpu_release: GpuRelease | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.exits = ExitRegistry()
        self._root: RootZygote | None = None
        self._wasm_host: Any = None
        self._zygotes: dict[str, tuple[tuple[Any, ...], FunctionZygote]] = {}
        self._lock = threading.Lock()
        self._closed = False
        # The platform's GPU manager, for functions with a GPU request.
        self._gpu_allocate = gpu_allocate
        self._gpu_release = gpu_release

    def _root_zygote(self) -> RootZygote:
        with self._lock:
            if self._closed:
                raise ClosedError("the platform is shut down")
            if self._root is None or self._root.closed:
                self._root = RootZygote(self.exits)
            return self._root

    def start(self) -> None:
        """Start the root zygote now, so the first cold start does not pay for it."""
        self._root_zygote()

    def spec(
        self, info: FunctionSpec, instance_id: str, check_only: bool = False
    ) -> dict[str, Any]:
        return worker_spec(self._settings, info, instance_id, check_only)

    def check_handler(self, info: FunctionSpec) -> None:
        """Import the code in a throw-away worker; ValidationError if the handler is unusable."""
        if info.runtime == "wasm":
            self._wasm_handler(info).close()  # loads, validates and compiles the module
            return
        pid, sock = self._root_zygote().fork_worker(self.spec(info, "check", check_only=True))
        probe = WorkerInstance("check", info.id, 0, pid, sock, self.exits, self._clock())
        try:
            ready = probe.wait_ready(START_TIMEOUT_S)
        finally:
            probe.close()
        raise_for_check(ready)

    def launch(self, info: FunctionSpec, generation: int) -> Instance:
        """Start one instance and wait until it is ready (a cold start)."""
        started = time.perf_counter()
        instance_id = WorkerInstance.new_id()
        if info.runtime == "wasm":
            handler = self._wasm_handler(info)
            handler.prewarm()
            wasm = WasmInstance(
                instance_id, info.id, generation, handler, info.memory_mb, self._clock()
            )
            wasm.init_ms = (time.perf_counter() - started) * 1000.0
            return wasm  # the same interface, in-process
        spec = self.spec(info, instance_id)
        owner = f"function:{info.name}:{instance_id}"
        release = self._gpus_for(info, owner, spec)
        try:
            if info.cold_start_optimization:
                pid, sock = self._fork_from_function_zygote(info, spec)
            else:
                pid, sock = self._root_zygote().fork_worker(spec)
        except BaseException:
            if release is not None:
                release()
            raise
        instance = WorkerInstance(
            instance_id, info.id, generation, pid, sock, self.exits, self._clock()
        )
        instance.on_close = release
        instance.spin_s = self._settings.reply_spin_us / 1e6
        ready = instance.wait_ready(START_TIMEOUT_S)
        if not ready.get("ready"):
            instance.close()
            raise InstanceStartError(str(ready.get("error", "the instance failed to start")))
        instance.init_ms = (time.perf_counter() - started) * 1000.0
        return instance

    def _gpus_for(
        self, info: FunctionSpec, owner: str, spec: dict[str, Any]
    ) -> Callable[[], None] | None:
        """Allocate the function's GPU request for one instance; its env goes to the worker.
        Returns what gives the GPUs back (called when the instance ends)."""
        if info.gpu is None:
            return None
        if self._gpu_allocate is None or self._gpu_release is None:
            raise InstanceStartError(f"function {info.name!r} asks for a GPU: no GPU manager here")
        try:
            env = self._gpu_allocate(owner, dict(info.gpu))
        except ValueError as exc:
            raise InstanceStartError(f"no GPU for function {info.name!r}: {exc}") from None
        spec["env"] = {**spec["env"], **env}
        release = self._gpu_release
        return lambda: release(owner)

    def _fork_from_function_zygote(self, info: FunctionSpec, spec: dict[str, Any]) -> Any:
        for _ in range(2):
            zygote = self._zygote_of(info)
            try:
                return zygote.fork_worker(spec)
            except (InstanceStartError, ClosedError):
                self.drop_function_zygote(info.id)  # it died: make a new one
        raise InstanceStartError(f"the zygote of function {info.name!r} keeps failing")

    def _wasm_handler(self, info: FunctionSpec) -> Any:
        from ...wasm import WasmHost

        with self._lock:
            if self._closed:
                raise ClosedError("the platform is shut down")
            if self._wasm_host is None:
                self._wasm_host = WasmHost(cache_dir=self._settings.home / "wasm-cache")
            host = self._wasm_host
        return wasm_handler(host, info, self._settings.code_dir)

    def function_zygote(self, info: FunctionSpec) -> None:
        """Start the function's zygote now, so the next cold start is a single fork
        (a WASM function: take its init snapshot now)."""
        if info.runtime == "wasm":
            self._wasm_handler(info).close()
            return
        self._zygote_of(info)

    def _zygote_of(self, info: FunctionSpec) -> FunctionZygote:
        """The function's zygote, (re)made when its code, env or version changed."""
        key = (info.code_hash, info.entry, info.version, tuple(sorted(info.env.items())))
        with self._lock:
            found = self._zygotes.get(info.id)
            if found and found[0] == key and not found[1].closed:
                return found[1]
        spec = self.spec(info, "zygote")
        zygote = self._root_zygote().fork_zygote(spec, START_TIMEOUT_S)
        with self._lock:
            old = self._zygotes.get(info.id)
            self._zygotes[info.id] = (key, zygote)
        if old:
            old[1].close()
        return zygote

    def drop_function_zygote(self, function_id: str) -> None:
        with self._lock:
            found = self._zygotes.pop(function_id, None)
        if found:
            found[1].close()

    def close(self) -> None:
        """Stop every zygote. Idempotent."""
        with self._lock:
            self._closed = True
            zygotes = [z for _, z in self._zygotes.values()]
            self._zygotes.clear()
            root, self._root = self._root, None
        for zygote in zygotes:
            zygote.close()
        if root is not None:
            root.close()
        if self._wasm_host is not None:
            self._wasm_host.close()
