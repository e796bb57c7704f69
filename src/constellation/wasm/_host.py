"""WasmHost: the registry of modules, instances and snapshots behind the module API.

One host owns its engines (one per engine settings), the compile cache directory, the
loaded modules, the live instances and the named snapshots. ``close()`` closes every
instance and engine; it is idempotent and the host is a context manager.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import wasmtime

from ._base import WasmInstance
from ._engine import EngineHandle, EngineSettings
from ._errors import (
    RuntimeUnavailableError,
    WasmClosedError,
    WasmNotFoundError,
    WasmStateError,
    WasmValidationError,
)
from ._instance import WasmtimeInstance
from ._limits import ResourceLimits, default_limits
from ._module import WasmModule, build_module, read_source
from ._runtimes import check_runtime
from ._snapshot import Snapshot, baked_module, capture, restore, start_from
from ._values import WasmValue
from ._wasi import WasiOptions, WasiResult

__all__ = ["WasmHost"]


_METERED = EngineSettings()
INITIALIZERS = ("wizer.initialize", "_initialize")  # run once before an init snapshot
_SETTINGS: dict[tuple[object, object], EngineSettings] = {}


def _settings(metering: object, interruptible: object) -> EngineSettings:
    """The (validated, shared) engine settings for a pair of switches."""
    found = _SETTINGS.get((metering, interruptible))
    if found is None or type(metering) is not bool or type(interruptible) is not bool:
        found = EngineSettings(metering=metering, interruptible=interruptible)  # type: ignore[arg-type]
        _SETTINGS[(metering, interruptible)] = found
    return found


def _env_defaults() -> ResourceLimits:
    return default_limits()


def _defaults_for(base: ResourceLimits, runtime: str, metering: object,
                  interruptible: object) -> ResourceLimits:  # fmt: skip
    """The host defaults an instance can honour: without metering there is no gas, without
    interruption (and on wasm3, which cannot interrupt a call) no timeout; gas then bounds
    a runaway call on wasm3, and an instance turned off both ways has only its memory cap."""
    drop: dict[str, None] = {}
    if metering is False:
        drop["max_instructions"] = None
    if interruptible is False or runtime == "wasm3":
        drop["timeout_ms"] = None
    return ResourceLimits.from_value(drop, base) if drop else base


def _default_cache_dir() -> Path:
    from constellation.config import default_home

    return default_home() / "wasm-cache"


class WasmHost:
    """Modules, instances and snapshots. ``cache_dir=None`` keeps compiled code in memory.

    ``default_limits`` (a mapping or :class:`ResourceLimits`; default: the environment's
    over :data:`DEFAULT_LIMITS`) is where every new instance's limits start.
    """

    def __init__(
        self,
        cache_dir: str | Path | None = "default",
        *,
        default_limits: Mapping[str, object] | ResourceLimits | None = None,
    ) -> None:
        base = _env_defaults()
        self.default_limits = (
            base if default_limits is None else ResourceLimits.from_value(default_limits, base)
        )
        if cache_dir == "default":
            cache_dir = _default_cache_dir()
        self.cache_dir: Path | None = None if cache_dir is None else Path(cache_dir)
        self._engines: dict[EngineSettings, EngineHandle] = {}
        self._modules: dict[str, WasmModule] = {}
        self._instances: dict[str, WasmInstance] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._lock = threading.RLock()
        self._closed = False

    # -- engines and modules ---------------------------------------------------------
    def engine(self, settings: EngineSettings | None = None) -> EngineHandle:
        settings = settings or _METERED
        with self._lock:
            self._check_open()
            handle = self._engines.get(settings)
            if handle is None:
                handle = self._engines[settings] = EngineHandle(settings, self.cache_dir)
            return handle

    def load_module(self, source: object, *, precompile: bool = True) -> WasmModule:
        """Load, validate and (by default) compile ahead of time into the disk cache."""
        wasm, where = read_source(source)
        handle = self.engine()
        module = build_module(wasm, where, handle.engine)
        with self._lock:
            module = self._modules.setdefault(module.id, module)
        if precompile:
            handle.module(module.id, module.wasm)
        return module

    def precompile(
        self, module_id: str, *, metering: bool = True, interruptible: bool = True
    ) -> Path | None:
        """Compile for the given engine settings now; return the cache file (if any)."""
        module = self.get_module(module_id)
        handle = self.engine(_settings(metering, interruptible))
        handle.module(module.id, module.wasm)
        return handle.cache_path(module.id)

    def get_module(self, module_id: object) -> WasmModule:
        if isinstance(module_id, WasmModule):
            module_id = module_id.id
        with self._lock:
            module = self._modules.get(str(module_id))
        if module is None:
            raise WasmNotFoundError("module", module_id)
        return module

    def list_modules(self) -> list[WasmModule]:
        with self._lock:
            return list(self._modules.values())

    def unload_module(self, module_id: object) -> None:
        """Forget a module and its compiled code in memory (the disk cache stays).

        Live instances of it keep running until closed.
        """
        module = self.get_module(module_id)
        with self._lock:
            del self._modules[module.id]
            for handle in self._engines.values():
                handle.forget(module.id)

    # -- instances ---------------------------------------------------------------------
    def create_instance(
        self,
        module_id: object,
        runtime: str = "wasmtime",
        *,
        limits: Mapping[str, object] | ResourceLimits | None = None,
        gas_limit: int | None = None,
        wasi: object = None,
        metering: bool = True,
        interruptible: bool = True,
        from_snapshot: str | Snapshot | None = None,
    ) -> WasmInstance:
        runtime = check_runtime(runtime)
        module = self.get_module(module_id)
        base = _defaults_for(self.default_limits, runtime, metering, interruptible)
        lim = ResourceLimits.from_value(limits, base) if limits is not None else base
        wasi_opts = WasiOptions.from_value(wasi) if wasi is not None else None
        snap = self._snapshot(from_snapshot) if from_snapshot is not None else None
        if snap is not None and snap.module_id != module.id:
            raise WasmValidationError(
                "from_snapshot", f"snapshot {snap.name!r} is of another module"
            )
        settings = _settings(metering, interruptible)
        if runtime == "wasm3":
            if snap is not None:
                raise RuntimeUnavailableError("wasm3 instances cannot start from snapshots")
            from ._wasm3 import Wasm3Instance

            inst: WasmInstance = Wasm3Instance(
                module, limits=lim, gas_limit=gas_limit, wasi=wasi_opts
            )
        else:
            handle = self.engine(settings)
            baked = snap is not None and runtime == "wasmtime" and not module.layout.memory_imported
            if baked:
                assert snap is not None
                digest, wasm = baked_module(snap, module)
                compiled = handle.module(digest, wasm)
            else:
                compiled = self._compiled(handle, module, aot_only=(runtime == "native"))
            inst = WasmtimeInstance(module, handle, compiled, limits=lim, wasi=wasi_opts,
                                    runtime=runtime)  # fmt: skip
            try:
                if snap is not None:
                    (start_from if baked else restore)(inst, snap)
                if gas_limit is not None:
                    inst.set_gas_limit(gas_limit)
            except BaseException:
                inst.close()
                raise
        with self._lock:
            self._check_open()
            self._instances[inst.id] = inst
        return inst

    def _compiled(
        self, handle: EngineHandle, module: WasmModule, *, aot_only: bool
    ) -> wasmtime.Module:
        if aot_only and not handle.has_precompiled(module.id):
            where = handle.cache_path(module.id) or "memory (no cache_dir)"
            raise WasmStateError(
                f"runtime 'native': module {module.id[:12]} has no precompiled code for these "
                f"engine settings (looked in {where}); run wasm.precompile(module_id) or load it "
                "with precompile=True first"
            )
        return handle.module(module.id, module.wasm, aot_only=aot_only)

    def get_instance(self, instance: object) -> WasmInstance:
        key = instance.id if isinstance(instance, WasmInstance) else instance
        with self._lock:
            found = self._instances.get(str(key))
        if found is None:
            raise WasmNotFoundError("instance", key)
        return found

    def list_instances(self) -> list[WasmInstance]:
        with self._lock:
            return list(self._instances.values())

    def destroy_instance(self, instance: object) -> None:
        inst = self.get_instance(instance)
        with self._lock:
            self._instances.pop(inst.id, None)
        inst.close()

    def set_resource_limits(self, instance: object, limits: object) -> ResourceLimits:
        inst = self.get_instance(instance)
        new = ResourceLimits.from_value(limits, base=inst.limits)
        inst.set_limits(new)
        return new

    def call_function(
        self, instance: object, name: str, params: Sequence[object] | None = None
    ) -> list[WasmValue]:
        if not isinstance(name, str):
            raise WasmValidationError("function", f"{name!r} is not a function name")
        return self.get_instance(instance).call(name, params)

    def run_wasi(
        self,
        module_id: object,
        *,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        preopens: Mapping[str, object] | None = None,
        stdin: bytes = b"",
        limits: Mapping[str, object] | ResourceLimits | None = None,
        gas_limit: int | None = None,
        entry: str = "_start",
    ) -> WasiResult:
        """Run a WASI command once in a fresh instance and return its exit code and output."""
        module = self.get_module(module_id)
        wasi = WasiOptions(argv=tuple(argv or (Path(module.source).name,)), env=dict(env or {}),
                           preopens=dict(preopens or {}), stdin=stdin)  # fmt: skip
        inst = self.create_instance(module, limits=limits, gas_limit=gas_limit, wasi=wasi)
        try:
            assert isinstance(inst, WasmtimeInstance)
            return inst.run_command(entry)
        finally:
            self.destroy_instance(inst)

    # -- snapshots ----------------------------------------------------------------------
    def _snapshot(self, name: object) -> Snapshot:
        if isinstance(name, Snapshot):
            return name
        with self._lock:
            snap = self._snapshots.get(str(name))
        if snap is None:
            raise WasmNotFoundError("snapshot", name)
        return snap

    def snapshot_create(self, instance: object, name: str) -> Snapshot:
        if not isinstance(name, str) or not name:
            raise WasmValidationError("name", f"{name!r} is not a snapshot name")
        inst = self.get_instance(instance)
        with inst._lock:
            inst._check_usable()
            snap = capture(inst, name)
        with self._lock:
            self._snapshots[name] = snap
        return snap

    def init_snapshot(self, module_id: object, *, env: Mapping[str, str] | None = None) -> Snapshot:
        """The module's state after instantiation and its initializer, made once and kept.

        The initializer is the export ``wizer.initialize`` (Wizer's convention) or, for a
        WASI reactor, ``_initialize``; a module with neither is snapshotted as instantiated
        (its start function and data segments). ``env`` reaches a WASI guest's environ.
        Instances made ``from_snapshot`` it start from a copy-on-write memory image.
        """
        import hashlib

        module = self.get_module(module_id)
        env = dict(env or {})
        key = hashlib.sha256(repr(sorted(env.items())).encode()).hexdigest()[:12]
        name = f"init:{module.id[:16]}:{key}"
        with self._lock:
            found = self._snapshots.get(name)
        if found is not None:
            return found
        wasi = {"env": env} if module.uses_wasi else None
        inst = self.create_instance(module, wasi=wasi)
        try:
            for entry in INITIALIZERS:
                export = module.export(entry)
                if export is not None and export.kind == "func":
                    inst.call(entry)
                    break
            return self.snapshot_create(inst, name)
        finally:
            self.destroy_instance(inst)

    def snapshot_restore(self, instance: object, name: str | Snapshot) -> None:
        inst = self.get_instance(instance)
        snap = self._snapshot(name)
        with inst._lock:
            if inst.closed:
                raise WasmClosedError(f"instance {inst.id} is closed")
            restore(inst, snap)

    def snapshot_save(self, name: str, path: str | Path) -> Path:
        return self._snapshot(name).save(path)

    def snapshot_load(self, path: str | Path) -> Snapshot:
        snap = Snapshot.load(path)
        with self._lock:
            self._snapshots[snap.name] = snap
        return snap

    def snapshot_delete(self, name: str) -> None:
        snap = self._snapshot(name)
        with self._lock:
            self._snapshots.pop(snap.name, None)

    def list_snapshots(self) -> list[Snapshot]:
        with self._lock:
            return list(self._snapshots.values())

    # -- lifecycle -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise WasmClosedError("the wasm host is closed")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            instances, self._instances = list(self._instances.values()), {}
            engines, self._engines = list(self._engines.values()), {}
        for inst in instances:
            inst.close()
        for handle in engines:
            handle.close()

    def __enter__(self) -> WasmHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
