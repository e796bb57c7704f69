"""The module-level API: the seed's calls, acting on a default :class:`WasmHost`.

The default host is created on first use (compile cache under
``$CONSTELLATION_HOME/wasm-cache``); ``init()`` creates it explicitly, ``shutdown()``
closes every instance and forgets it; a later call starts a fresh one.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._base import WasmInstance
from ._host import WasmHost
from ._limits import ResourceLimits
from ._module import WasmModule
from ._snapshot import Snapshot
from ._values import WasmValue
from ._wasi import WasiResult

__all__ = [
    "call_function",
    "create_instance",
    "default_host",
    "destroy_instance",
    "get_gas_used",
    "init",
    "is_available",
    "is_running",
    "load_module",
    "precompile",
    "run_wasi",
    "set_gas_limit",
    "set_resource_limits",
    "shutdown",
    "snapshot_create",
    "snapshot_load",
    "snapshot_restore",
    "snapshot_save",
    "unload_module",
]

_lock = threading.Lock()
_host: WasmHost | None = None


def init(
    cache_dir: str | Path | None = "default",
    *,
    default_limits: Mapping[str, object] | ResourceLimits | None = None,
) -> WasmHost:
    """Start the default host (idempotent: an open host is returned as is).

    ``default_limits`` replaces the defaults every new instance starts from (see
    :data:`constellation.wasm.DEFAULT_LIMITS`); on an open host it is applied to it.
    """
    global _host
    with _lock:
        if _host is None or _host.closed:
            _host = WasmHost(cache_dir, default_limits=default_limits)
        elif default_limits is not None:
            _host.default_limits = ResourceLimits.from_value(default_limits, _host.default_limits)
        return _host


def default_host() -> WasmHost:
    return _host if _host is not None and not _host.closed else init()


def is_running() -> bool:
    return _host is not None and not _host.closed


def is_available() -> bool:
    """True when the primary runtime (wasmtime) can run here."""
    return importlib.util.find_spec("wasmtime") is not None


def shutdown() -> None:
    """Close every instance of the default host and forget it (idempotent)."""
    global _host
    with _lock:
        host, _host = _host, None
    if host is not None:
        host.close()


def load_module(source: object, *, precompile: bool = True) -> WasmModule:
    return default_host().load_module(source, precompile=precompile)


def unload_module(module_id: object) -> None:
    default_host().unload_module(module_id)


def precompile(
    module_id: object, *, metering: bool = True, interruptible: bool = True
) -> Path | None:
    host = default_host()
    return host.precompile(host.get_module(module_id).id, metering=metering,
                           interruptible=interruptible)  # fmt: skip


def create_instance(
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
    return default_host().create_instance(module_id, runtime, limits=limits, gas_limit=gas_limit,
                                          wasi=wasi, metering=metering, interruptible=interruptible,
                                          from_snapshot=from_snapshot)  # fmt: skip


def destroy_instance(instance: object) -> None:
    default_host().destroy_instance(instance)


def set_resource_limits(instance: object, limits: object) -> ResourceLimits:
    return default_host().set_resource_limits(instance, limits)


def set_gas_limit(instance: object, gas: int | None) -> None:
    default_host().get_instance(instance).set_gas_limit(gas)


def get_gas_used(instance: object) -> int:
    return default_host().get_instance(instance).gas_used


def call_function(
    instance: object, name: str, params: Sequence[object] | None = None
) -> list[WasmValue]:
    # The instance object itself: no registry lookup. Its class is remembered once seen,
    # because isinstance() against an abstract base class costs more than the check here.
    if type(instance) in _INSTANCE_TYPES and type(name) is str:
        return instance.call(name, params)  # type: ignore[attr-defined]
    if isinstance(instance, WasmInstance) and type(name) is str:
        _INSTANCE_TYPES.add(type(instance))
        return instance.call(name, params)
    return default_host().call_function(instance, name, params)


_INSTANCE_TYPES: set[type] = set()


def run_wasi(module_id: object, **options: object) -> WasiResult:
    return default_host().run_wasi(module_id, **options)  # type: ignore[arg-type]


def snapshot_create(instance: object, name: str) -> Snapshot:
    return default_host().snapshot_create(instance, name)


def snapshot_restore(instance: object, name: str | Snapshot) -> None:
    default_host().snapshot_restore(instance, name)


def snapshot_save(name: str, path: str | Path) -> Path:
    return default_host().snapshot_save(name, path)


def snapshot_load(path: str | Path) -> Snapshot:
    return default_host().snapshot_load(path)
