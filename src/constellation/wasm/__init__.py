"""WASM instances: run WebAssembly modules sandboxed, with limits, gas, WASI and snapshots.

Contract:

* ``load_module(path | bytes | WAT text)`` validates the module (a malformed one raises
  :class:`InvalidModuleError` with the reason) and compiles it ahead of time into the disk
  cache (``$CONSTELLATION_HOME/wasm-cache``, keyed by content hash and engine settings).
  ``module.id`` is the SHA-256 of the binary; ``module.exports``/``imports`` list names,
  kinds and signatures.
* ``create_instance(module_id, runtime)`` with runtime ``"wasmtime"`` (default),
  ``"native"`` (precompiled code only), ``"wasm3"`` (interpreter, no WASI) or ``"wasmer"``
  (always :class:`RuntimeUnavailableError`: no wheel for Python >= 3.11).
  :func:`get_runtimes` says which run here.
* Every instance starts with :data:`DEFAULT_LIMITS` (10 s timeout per call, 256 MiB of
  memory, 10**11 gas per call; configurable per host, by ``init(default_limits=...)`` and
  by ``CONSTELLATION_WASM_*`` environment variables), so an infinite loop ends on its own.
* ``set_resource_limits(i, {"max_memory", "max_instructions", "max_table_elements",
  "timeout_ms"})``, ``set_gas_limit``/``get_gas_used`` (fuel), ``call_function(i, name,
  params)`` with typed or plain params, returning :class:`WasmValue` results. A trap raises
  :class:`WasmTrap` (``code``: out_of_gas, timeout, out_of_bounds, unreachable,
  stack_overflow, ...) and the instance refuses calls until a snapshot is restored.
* WASI: ``create_instance(..., wasi={"argv", "env", "preopens", "stdin"})`` or
  ``run_wasi(module_id, ...)`` -> :class:`WasiResult` (exit code, captured stdout/stderr).
  Preopens are read-only unless ``(path, "rw")``; nothing else is reachable.
* ``snapshot_create(i, name)`` / ``snapshot_restore(i, name)``: memory (pages that differ
  from the initial image), mutable globals and gas; ``snapshot_save``/``snapshot_load``;
  ``create_instance(..., from_snapshot=name)`` starts pre-initialised.
* ``metering`` (fuel: gas) and ``interruptible`` (epochs: timeouts) are per instance and on
  by default; turning them off buys speed, keeps memory isolation, refuses gas/timeouts.
* Bad input raises :class:`WasmValidationError` naming the field and changes nothing.
* ``init()``, ``is_running()``, ``is_available()``, ``shutdown()``: the seed's lifecycle.
  :class:`WasmHost` is the same API on an explicit object; :class:`WasmHandler` runs
  JSON-in/JSON-out invocations of a module (how the local backend,
  :mod:`constellation.backends.local`, runs WASM functions' instances).

Imports: the base layer only.
"""

from ._api import (
    call_function,
    create_instance,
    default_host,
    destroy_instance,
    get_gas_used,
    init,
    is_available,
    is_running,
    load_module,
    precompile,
    run_wasi,
    set_gas_limit,
    set_resource_limits,
    shutdown,
    snapshot_create,
    snapshot_load,
    snapshot_restore,
    snapshot_save,
    unload_module,
)
from ._base import WasmInstance
from ._engine import EngineSettings
from ._errors import (
    TRAP_CODES,
    InvalidModuleError,
    RuntimeUnavailableError,
    WasmClosedError,
    WasmError,
    WasmNotFoundError,
    WasmStateError,
    WasmTrap,
    WasmValidationError,
)
from ._handler import InvocationResult, WasmHandler
from ._host import WasmHost
from ._limits import DEFAULT_LIMITS, ResourceLimits
from ._module import ExportInfo, ImportInfo, WasmModule
from ._runtimes import RUNTIMES, RuntimeInfo, get_runtimes
from ._snapshot import Snapshot
from ._values import WasmValue
from ._wasi import WasiOptions, WasiResult

__all__ = [
    "DEFAULT_LIMITS",
    "RUNTIMES",
    "TRAP_CODES",
    "EngineSettings",
    "ExportInfo",
    "ImportInfo",
    "InvalidModuleError",
    "InvocationResult",
    "ResourceLimits",
    "RuntimeInfo",
    "RuntimeUnavailableError",
    "Snapshot",
    "WasiOptions",
    "WasiResult",
    "WasmClosedError",
    "WasmError",
    "WasmHandler",
    "WasmHost",
    "WasmInstance",
    "WasmModule",
    "WasmNotFoundError",
    "WasmStateError",
    "WasmTrap",
    "WasmValidationError",
    "WasmValue",
    "call_function",
    "create_instance",
    "default_host",
    "destroy_instance",
    "get_gas_used",
    "get_runtimes",
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
