"""Instances on wasmtime: limits, gas, timeouts, typed calls, WASI.

Gas and timeouts come from the counter compiled into the module (:mod:`._metering`):
before a call the host writes its budget, ``min(max_instructions, gas left)``, into the
meter memory's bank and reads the gas used back after it, through a pointer (no call
into the engine); a timeout is the engine's watchdog emptying the bank.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import numpy as np
import wasmtime

from ._base import WasmInstance
from ._binary import HIDDEN_PREFIX
from ._engine import EngineHandle
from ._errors import WasmStateError, WasmTrap, WasmValidationError
from ._fastcall import FastFunc, GuestExit, trap_from_error
from ._limits import MAX_FUEL, ResourceLimits, instantiation_error
from ._metering import BANK, FLAG, METER_EXPORT, SLICE_OFFSET, STOP_EXPORT
from ._module import WasmModule
from ._values import NUMERIC_TYPES, check_params
from ._wasi import WasiCapture, WasiOptions, WasiResult

__all__ = ["WasmtimeInstance"]

_STOP = -(2**62)  # the bank after a timeout: the next refill traps


def _stop() -> None:
    """The guest's gas ran out (or the watchdog emptied it): end the call with a trap
    (the stop flag in the meter memory says it was this)."""
    raise wasmtime.Trap("gas bank empty")


class WasmtimeInstance(WasmInstance):
    runtime = "wasmtime"

    def __init__(
        self,
        module: WasmModule,
        handle: EngineHandle,
        compiled: wasmtime.Module,
        *,
        limits: ResourceLimits | None = None,
        gas_limit: int | None = None,
        wasi: WasiOptions | None = None,
        instance_id: str | None = None,
        runtime: str = "wasmtime",
    ) -> None:
        super().__init__(module, instance_id)
        self.runtime = runtime
        self.handle = handle
        self.metering = handle.settings.metering
        self.interruptible = handle.settings.interruptible
        self._memory: wasmtime.Memory | None = None
        self._store: wasmtime.Store | None = None
        self._check_limits(limits or ResourceLimits())
        self.limits = limits or ResourceLimits()
        self.gas_limit = gas_limit
        self._store = wasmtime.Store(handle.engine)
        self._capture: WasiCapture | None = None
        store = self._store
        self._used = 0  # gas used by finished calls
        self._bank: ctypes.c_int64 | None = None  # the meter memory's cells, once instantiated
        self._slice: ctypes.c_int32 | None = None
        self._flag: ctypes.c_int32 | None = None
        self._bank_q: memoryview | None = None
        self._slice_i: memoryview | None = None
        self._interrupted: int | None = None  # the bank when the watchdog stopped the call
        self._deadline = 0.0  # of the call in progress, while it is armed in the watchdog
        self._watchdog = handle.watchdog
        self._apply_store_limits()
        self._budget, self._timeout_s = self._per_call(self.limits)
        if module.uses_wasi or wasi is not None:
            config, self._capture = (wasi or WasiOptions()).configure()
            store.set_wasi(config)
        try:
            self._instance = handle.linker.instantiate(store, compiled)
        except wasmtime.Trap as exc:
            self._close_store()
            raise trap_from_error(exc, self.id) from None
        except wasmtime.WasmtimeError as exc:
            self._close_store()
            raise instantiation_error(str(exc), self.limits) from None
        self._context = store._context()
        self.pristine = True  # memory is as instantiation left it (no call, no restore yet)
        self._exports = self._instance.exports(store)
        self._funcs: dict[str, FastFunc] = {}
        name = module.layout.memory_export or (
            f"{HIDDEN_PREFIX}memory" if module.layout.has_memory else None
        )
        if name is not None:
            mem = self._exports[name]
            assert isinstance(mem, wasmtime.Memory)
            self._memory = mem
        if handle.instrumented:
            meter = self._exports[METER_EXPORT]
            assert isinstance(meter, wasmtime.Memory)
            # One page that never grows: its address is stable for the store's life.
            base = ctypes.cast(meter.data_ptr(store), ctypes.c_void_p).value or 0
            self._bank = ctypes.c_int64.from_address(base + BANK)
            self._slice = ctypes.c_int32.from_address(base + SLICE_OFFSET)
            self._flag = ctypes.c_int32.from_address(base + FLAG)
            # The hot path reads and writes the bank and the slice through memoryviews:
            # an item of a memoryview costs half a ctypes ``.value``.
            cells = memoryview((ctypes.c_ubyte * 16).from_address(base)).cast("B")
            self._bank_q = cells.cast("q")  # [0]: the bank (i64)
            self._slice_i = cells.cast("i")  # [2]: the slice (i32, at byte 8)
            table = self._exports[STOP_EXPORT]
            assert isinstance(table, wasmtime.Table)
            table.set(store, 0, wasmtime.Func(store, wasmtime.FuncType([], []), _stop))

    # -- calls ---------------------------------------------------------------------
    def _fast(self, name: str) -> FastFunc:
        fast = self._funcs.get(name)
        if fast is None:
            info = self.module.function(name)
            bad = [t for t in (*info.params, *info.results) if t not in NUMERIC_TYPES]
            if bad:
                raise WasmValidationError(
                    "function",
                    f"{name} uses {bad[0]} values; only i32, i64, f32, f64 are supported",
                )
            func = self._exports[name]
            assert isinstance(func, wasmtime.Func)
            fast = self._funcs[name] = FastFunc(func, info.params, info.results, self._context)
        return fast

    def call(self, name: str, params: Sequence[object] | None = None) -> list[Any]:
        # The seed's call: the hot path kept in one frame (each Python frame costs about
        # as much as one of the checks), the lock taken without a context manager.
        lock = self._lock
        lock.acquire()
        try:
            if self._closed or self.trap is not None:
                self._check_usable()
            fast = self._funcs.get(name) or self._fast(name)
            values = () if params is None else params
            raw = fast.convert(values) if isinstance(values, (list, tuple)) else None
            if raw is None:  # typed values, or something to refuse: the full check
                raw = check_params(name, fast.params, values)
            self.pristine = False
            out = self._invoke(fast, raw)
        finally:
            lock.release()
        return fast.typed(out)

    def call_raw(self, name: str, *values: object) -> list[int | float]:
        """The fast path: plain numbers in, plain numbers out (checked like ``call``)."""
        return list(self._run(name, values)[1])

    def _run(self, name: str, values: Sequence[object]) -> tuple[FastFunc, tuple[int | float, ...]]:
        with self._lock:
            if self._closed or self.trap is not None:
                self._check_usable()
            fast = self._funcs.get(name) or self._fast(name)
            raw = fast.convert(values) if isinstance(values, (list, tuple)) else None
            if raw is None:  # typed values, or something to refuse: the full check
                raw = check_params(name, fast.params, values)
            self.pristine = False
            return fast, self._invoke(fast, raw)

    def _invoke(self, fast: FastFunc, values: Sequence[Any]) -> tuple[int | float, ...]:
        bank = self._bank_q
        if bank is None:  # neither gas nor timeouts: nothing to set up
            try:
                return fast.call(values, self.id)
            except WasmTrap as trap:
                self.trap = self._explain(trap)
                raise self.trap from None
        budget = self._budget
        if self.gas_limit is not None:
            budget = max(min(budget, self.gas_limit - self._used), 0)
        bank[0] = budget
        slice_ = self._slice_i
        slice_[2] = 0  # type: ignore[index]
        timeout = self._timeout_s
        if timeout is not None:
            watchdog = self._watchdog
            self._deadline = perf_counter() + timeout
            watchdog.armed[self.id] = self
            if not watchdog.awake:
                watchdog.wake()
        try:
            out = fast.call(values, self.id)
        except WasmTrap as trap:
            self.trap = self._stopped(trap, budget)
            raise self.trap from None
        except GuestExit:
            self._used += budget - bank[0] - slice_[2]  # type: ignore[index]
            raise
        finally:
            if timeout is not None:
                self._watchdog.armed.pop(self.id, None)
        self._used += budget - bank[0] - slice_[2]  # type: ignore[index]
        return out

    def interrupt(self) -> None:
        """The watchdog's stop (from its thread, under its lock; never after close)."""
        bank = self._bank
        if bank is not None:
            if self._interrupted is None:
                self._interrupted = max(bank.value, 0)
            # Again every tick until the call ends: an in-flight refill may write over it.
            bank.value = _STOP

    def _stopped(self, trap: WasmTrap, budget: int) -> WasmTrap:
        """Account for a trapped call; say whether it was ours (gas, timeout) or the guest's."""
        assert self._bank is not None and self._slice is not None and self._flag is not None
        ours = self._flag.value == 1
        self._flag.value = 0
        interrupted, self._interrupted = self._interrupted, None
        if ours and interrupted is not None:
            self._used += budget - interrupted
            return self._explain(WasmTrap("timeout", "", self.id))
        if ours:
            self._used += budget
            return self._explain(WasmTrap("out_of_gas", "", self.id))
        self._used += max(budget - max(self._bank.value, 0) - self._slice.value, 0)
        return self._explain(trap)

    def _explain(self, trap: WasmTrap) -> WasmTrap:
        if trap.code == "out_of_gas":
            if self.gas_limit is not None and self._used >= self.gas_limit:
                why = f"gas limit of {self.gas_limit} used up"
            else:
                why = f"max_instructions of {self.limits.max_instructions} per call reached"
            return WasmTrap("out_of_gas", why, self.id)
        if trap.code == "timeout":
            return WasmTrap("timeout", f"timeout_ms of {self.limits.timeout_ms} passed", self.id)
        limit = self.limits.max_memory
        if limit is not None and self._memory is not None and self.memory_size + 65536 > limit:
            # wasmtime refuses the grow quietly (-1); the guest's own failure comes after.
            why = f"{trap.message} (linear memory is at max_memory={limit}: a grow was refused)"
            return WasmTrap("out_of_memory", why, self.id)
        return trap

    def run_command(self, entry: str = "_start") -> WasiResult:
        """Run a WASI command's entry point; the exit code comes back, never an exception."""
        with self._lock:
            self._check_usable()
            self.pristine = False
            fast = self._fast(entry)
            code = 0
            try:
                self._invoke(fast, [])
            except GuestExit as exc:
                code = exc.code
            cap = self._capture
            out, err = (cap.out, cap.err) if cap else (None, None)
            return WasiResult(
                exit_code=code,
                stdout=out.take() if out else b"",
                stderr=err.take() if err else b"",
                gas_used=self._used if self.metering else None,
                stdout_truncated=bool(out and out.truncated),
                stderr_truncated=bool(err and err.truncated),
            )

    # -- limits and gas --------------------------------------------------------------
    @staticmethod
    def _per_call(limits: ResourceLimits) -> tuple[int, float | None]:
        """A call's gas budget before the gas limit, and its timeout in seconds."""
        budget = MAX_FUEL if limits.max_instructions is None else limits.max_instructions
        timeout = None if limits.timeout_ms is None else limits.timeout_ms / 1000.0
        return budget, timeout

    def _apply_store_limits(self) -> None:
        assert self._store is not None
        lim = self.limits
        self._store.set_limits(
            memory_size=-1 if lim.max_memory is None else lim.max_memory,
            table_elements=-1 if lim.max_table_elements is None else lim.max_table_elements,
        )

    @property
    def gas_used(self) -> int:
        with self._lock:
            self._require_metering("get_gas_used")
            return self._used

    def _require_metering(self, what: str) -> None:
        if not self.metering:
            raise WasmStateError(
                f"{what}: instance {self.id} runs without metering; create it with metering=True"
            )

    def set_gas_limit(self, gas: int | None) -> None:
        if gas is not None and (isinstance(gas, bool) or not isinstance(gas, int)):
            raise WasmValidationError("gas", f"{gas!r} is not an integer")
        if gas is not None and not 1 <= gas <= MAX_FUEL:
            raise WasmValidationError.range("gas", gas, 1, MAX_FUEL)
        with self._lock:
            self._require_metering("set_gas_limit")
            self.gas_limit = gas

    def _check_limits(self, limits: ResourceLimits) -> None:
        if limits.max_memory is not None and self.memory_size > limits.max_memory:
            raise WasmValidationError(
                "max_memory",
                f"{limits.max_memory} is below the instance's current memory of "
                f"{self.memory_size} bytes (memory cannot shrink)",
            )
        if limits.max_instructions is not None and not self.metering:
            raise WasmValidationError(
                "max_instructions",
                "the instance runs without metering; create it with metering=True",
            )
        if limits.timeout_ms is not None and not self.interruptible:
            raise WasmValidationError(
                "timeout_ms",
                "the instance runs without interruption; create it with interruptible=True",
            )

    def set_limits(self, limits: ResourceLimits) -> None:
        with self._lock:
            self._check_limits(limits)
            self.limits = limits
            self._apply_store_limits()
            self._budget, self._timeout_s = self._per_call(limits)

    # -- state for snapshots ----------------------------------------------------------
    @property
    def memory_size(self) -> int:
        if self._memory is None or self._store is None:
            return 0
        return self._memory.data_len(self._store)

    def memory_array(self) -> np.ndarray:
        """A zero-copy uint8 view of linear memory; invalid after the memory grows."""
        assert self._memory is not None and self._store is not None
        size = self._memory.data_len(self._store)
        if size == 0:
            return np.zeros(0, dtype=np.uint8)
        ptr = self._memory.data_ptr(self._store)
        return np.ctypeslib.as_array(ptr, shape=(size,))

    def grow_memory_to(self, size: int) -> None:
        assert self._memory is not None and self._store is not None
        current = self._memory.data_len(self._store)
        if size > current:
            self._memory.grow(self._store, (size - current) // 65536)

    def global_values(self) -> dict[int, tuple[str, int | float]]:
        assert self._store is not None
        out: dict[int, tuple[str, int | float]] = {}
        for index, vtype, mutable in self.module.layout.globals:
            name = self._global_name(index, vtype, mutable)
            if name is not None:
                glob = self._exports[name]
                assert isinstance(glob, wasmtime.Global)
                out[index] = (vtype, glob.value(self._store))
        return out

    def set_global_values(self, values: dict[int, tuple[str, int | float]]) -> None:
        assert self._store is not None
        for index, (vtype, value) in values.items():
            glob = self._exports[self._global_name(index, vtype, True) or ""]
            assert isinstance(glob, wasmtime.Global)
            glob.set_value(self._store, getattr(wasmtime.Val, vtype)(value))

    def _global_name(self, index: int, vtype: str, mutable: bool) -> str | None:
        if not mutable or vtype not in NUMERIC_TYPES:
            return None
        return self.module.layout.exported_globals.get(index, f"{HIDDEN_PREFIX}global_{index}")

    def gas_state(self) -> tuple[int, int | None]:
        return (self._used if self.metering else 0), self.gas_limit

    def set_gas_state(self, used: int, limit: int | None) -> None:
        self.gas_limit = limit
        self._used = used

    def clear_trap(self) -> None:
        self.trap = None
        self.pristine = False

    # -- release ----------------------------------------------------------------------
    def _close_store(self) -> None:
        if self._capture is not None:
            self._capture.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _release(self) -> None:
        self._watchdog.forget(self)  # no interrupt may write into a freed store
        self._bank = self._slice = self._flag = None
        self._bank_q = self._slice_i = None
        self._funcs.clear()
        self._memory = None
        self._close_store()
