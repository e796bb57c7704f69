"""The local backend: instances are processes forked from zygotes on this machine.

Without cold-start optimisation a new instance is forked from the root zygote and
imports the function's module itself. With it, the function gets its own zygote that
imported the module once, and a new instance is a single fork of that zygote.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...config import Settings
from ...errors import ClosedError
from .._base import Instance
from .._errors import InstanceStartError
from .._factory import GpuAllocate, GpuRelease
from .._spec import FunctionSpec, raise_for_check, worker_spec
from ._instance import WorkerInstance
from ._integrity import CodeVerifier
from ._sandbox import FunctionSandbox, UidPool, detect_isolation, make_readable, sandbox_command
from ._wasm_instance import WasmInstance, wasm_handler
from ._zygote_client import ExitRegistry, FunctionZygote, RootZygote

__all__ = ["LocalBackend"]

START_TIMEOUT_S = 60.0
# Sandboxes kept running while no instance holds them (scaled to zero, or only checked at
# create), so the next cold start is a fork; beyond this, the least recently used end.
IDLE_SANDBOXES = 32
# (function name, code hash): stored code no longer matches its hash
CodeMismatch = Callable[[str, str], None]


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
        on_code_mismatch: CodeMismatch | None = None,
    ) -> None:
        self._settings = settings
        self.isolation = detect_isolation(settings.sandbox)
        self._uids = UidPool(settings.sandbox_uid_base, settings.sandbox_uid_count)
        self._sandboxes: dict[str, FunctionSandbox] = {}
        self._verifier = CodeVerifier()
        self._code_roots: dict[str, Path] = {}  # code hash -> its folder (a Path hashes once)
        self._on_code_mismatch = on_code_mismatch
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
        dead = None
        with self._lock:
            if self._closed:
                raise ClosedError("the platform is shut down")
            if self._root is None or self._root.closed:
                dead, self._root = self._root, RootZygote(self.exits)
            root = self._root
        if dead is not None:
            dead.close()  # its process, socket and reader thread
        return root

    def start(self) -> None:
        """Start the root zygote now, so the first cold start does not pay for it; say
        in one line which isolation the functions get."""
        logging.getLogger("constellation.isolation").warning(self.isolation.describe())
        if not self.isolation.sandboxed:
            self._root_zygote()

    def _zygote_for(self, info: FunctionSpec) -> tuple[RootZygote, Callable[[], None] | None]:
        """The root zygote to fork the function's processes from (its sandbox's, or the
        shared one), and what lets go of the sandbox when the process ends."""
        self._verify_code(info)
        if not self.isolation.sandboxed:
            return self._root_zygote(), None
        with self._lock:
            if self._closed:
                raise ClosedError("the platform is shut down")
            sandbox = self._sandboxes.get(info.id)
            if sandbox is not None and sandbox.usable and sandbox.key == self._sandbox_key(info):
                return sandbox.zygote, sandbox.hold()
        fresh = self._start_sandbox(info)
        with self._lock:
            old = self._sandboxes.get(info.id)
            self._sandboxes[info.id] = fresh
            closed = self._closed
            idle = sorted((s.idle_since, fid) for fid, s in self._sandboxes.items() if s.idle_since)
            surplus = max(0, len(idle) - IDLE_SANDBOXES)
            evicted = [self._sandboxes.pop(fid) for _, fid in idle[:surplus]]
        if old is not None:
            old.retire()
        for sandbox in evicted:  # the least recently used of those no instance holds
            sandbox.retire()
        if closed:
            fresh.close()
            raise ClosedError("the platform is shut down")
        return fresh.zygote, fresh.hold()

    def _sandbox_key(self, info: FunctionSpec) -> tuple[str, bool, bool]:
        """What a sandbox is made for: a change of any needs a new one."""
        network = bool(self._settings.sandbox_network) and info.network
        return info.code_hash, network, info.gpu is not None

    def _start_sandbox(self, info: FunctionSpec) -> FunctionSandbox:
        code_root = self._code_root(info.code_hash)
        uid = self._uids.uid_for(info.id) if self.isolation.per_function_uid else None
        options: list[str] = []
        if uid is not None:
            make_readable(code_root)  # for the function's own uid; the bind is read-only
            options = ["--uid", str(uid)]
        if self.isolation.pid_limit:
            options += ["--max-pids", str(self._settings.sandbox_max_pids)]
        key = self._sandbox_key(info)
        prefix = sandbox_command(
            self._settings, self.isolation, code_root, uid, network=key[1], gpu=key[2]
        )
        zygote = RootZygote(ExitRegistry(), prefix=prefix, options=options)
        return FunctionSandbox(key, zygote)

    def _code_root(self, code_hash: str) -> Path:
        root = self._code_roots.get(code_hash)
        if root is None:
            root = self._code_roots[code_hash] = self._settings.code_dir / code_hash
        return root

    def _verify_code(self, info: FunctionSpec) -> None:
        if self._verifier.verify(self._code_root(info.code_hash), info.code_hash):
            return
        if self._on_code_mismatch is not None:
            self._on_code_mismatch(info.name, info.code_hash)
        raise InstanceStartError(
            f"the stored code of function {info.name!r} no longer matches its hash "
            f"{info.code_hash[:12]}: it was changed after deploy; refusing to start it "
            "(deploy the code again)"
        )

    def spec(
        self, info: FunctionSpec, instance_id: str, check_only: bool = False
    ) -> dict[str, Any]:
        return worker_spec(self._settings, info, instance_id, check_only)

    def check_handler(self, info: FunctionSpec) -> None:
        """Import the code in a throw-away worker; ValidationError if the handler is unusable."""
        if info.runtime == "wasm":
            self._wasm_handler(info).close()  # loads, validates and compiles the module
            return
        zygote, release = self._zygote_for(info)
        try:
            pid, sock = zygote.fork_worker(self.spec(info, "check", check_only=True))
        except BaseException:
            if release is not None:
                release()
            raise
        probe = WorkerInstance("check", info.id, 0, pid, sock, zygote.exits, self._clock())
        probe.on_close = release
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
        releases: list[Callable[[], None]] = []
        try:
            gpus = self._gpus_for(info, owner, spec)
            if gpus is not None:
                releases.append(gpus)
            root, sandbox = self._zygote_for(info)
            if sandbox is not None:
                releases.append(sandbox)
            exits = root.exits
            if info.cold_start_optimization:
                pid, sock, exits = self._fork_from_function_zygote(info, spec)
            else:
                pid, sock = root.fork_worker(spec)
        except BaseException:
            _release_all(releases)
            raise
        instance = WorkerInstance(instance_id, info.id, generation, pid, sock, exits, self._clock())
        instance.on_close = (lambda: _release_all(releases)) if releases else None
        instance.spin_s = self._settings.reply_spin_us / 1e6
        try:
            ready = instance.wait_ready(START_TIMEOUT_S)
        except BaseException:  # e.g. the socket reset: its end and holds go with it
            instance.close()
            raise
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
                pid, sock = zygote.fork_worker(spec)
                return pid, sock, zygote.exits
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
        root, release = self._zygote_for(info)
        try:
            zygote = root.fork_zygote(spec, START_TIMEOUT_S)
        except BaseException:
            if release is not None:
                release()
            raise
        zygote.exits = root.exits  # it reports its workers' exits on its root's socket
        zygote.on_close = release  # it lives in the sandbox: it holds it while it lives
        with self._lock:
            old = self._zygotes.get(info.id)
            self._zygotes[info.id] = (key, zygote)
        if old:
            old[1].close()
        return zygote

    def drop_function_zygote(self, function_id: str) -> None:
        """End the function's zygote; its sandbox ends once its last instance has."""
        with self._lock:
            found = self._zygotes.pop(function_id, None)
            sandbox = self._sandboxes.pop(function_id, None)
        if found:
            found[1].close()
        if sandbox is not None:
            sandbox.retire()

    def close(self) -> None:
        """Stop every zygote. Idempotent."""
        with self._lock:
            self._closed = True
            zygotes = [z for _, z in self._zygotes.values()]
            self._zygotes.clear()
            sandboxes = list(self._sandboxes.values())
            self._sandboxes.clear()
            root, self._root = self._root, None
        for zygote in zygotes:
            zygote.close()
        for sandbox in sandboxes:
            sandbox.close()  # its pid namespace ends: every process of the function with it
        if root is not None:
            root.close()
        if self._wasm_host is not None:
            self._wasm_host.close()


def _release_all(releases: list[Callable[[], None]]) -> None:
    for release in reversed(releases):
        release()
