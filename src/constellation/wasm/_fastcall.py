"""The call path from Python into wasmtime, and turning traps into :class:`WasmTrap`.

wasmtime-py's generic ``Func.__call__`` asks the engine for the function's type, builds
``Val`` objects and a fresh argument array on every call (about 19 us here). This path
does the same C call, ``wasmtime_func_call``, with argument and result arrays built once
per exported function and the value kinds fixed from the signature. It keeps the
*checked* C entry point: the engine still verifies the argument kinds and count, so a
mistake here is an error, never memory unsafety.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import wasmtime
from wasmtime import _bindings as _raw
from wasmtime import _ffi as ffi

from ._errors import WasmTrap
from ._values import WasmValue

__all__ = ["FastFunc", "trap_from_error", "trap_from_wasmtime"]

_KIND = {"i32": ffi.WASMTIME_I32, "i64": ffi.WASMTIME_I64, "f32": ffi.WASMTIME_F32,
         "f64": ffi.WASMTIME_F64}  # fmt: skip
_CALL = _raw._wasmtime_func_call

_T = wasmtime.TrapCode
_CODES = {
    _T.OUT_OF_FUEL: "out_of_gas",
    _T.INTERRUPT: "timeout",
    _T.MEMORY_OUT_OF_BOUNDS: "out_of_bounds",
    _T.TABLE_OUT_OF_BOUNDS: "out_of_bounds",
    _T.HEAP_MISALIGNED: "out_of_bounds",
    _T.UNREACHABLE: "unreachable",
    _T.STACK_OVERFLOW: "stack_overflow",
    _T.INTEGER_OVERFLOW: "integer_overflow",
    _T.INTEGER_DIVISION_BY_ZERO: "division_by_zero",
    _T.BAD_CONVERSION_TO_INTEGER: "bad_conversion",
    _T.INDIRECT_CALL_TO_NULL: "indirect_call",
    _T.BAD_SIGNATURE: "indirect_call",
}


class GuestExit(Exception):
    """The guest called WASI ``proc_exit(code)``."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"guest exited with code {code}")


def _first_line(text: str) -> str:
    """The cause ("wasm `unreachable` instruction executed"), not the backtrace header."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("wasm trap:"):
            return line.removeprefix("wasm trap:").strip()
    if "Caused by:" in lines:
        return " ".join(lines[lines.index("Caused by:") + 1 :])
    return lines[0] if lines else "trap"


def trap_from_wasmtime(trap: wasmtime.Trap, instance_id: str | None) -> WasmTrap:
    code = _CODES.get(trap.trap_code, "other") if trap.trap_code is not None else "other"
    return WasmTrap(code, _first_line(trap.message), instance_id)


def trap_from_error(
    error: wasmtime.WasmtimeError | wasmtime.Trap, instance_id: str | None
) -> Exception:
    """A WasmtimeError from a call: ``GuestExit`` for proc_exit, else a WasmTrap."""
    if isinstance(error, wasmtime.ExitTrap):
        return GuestExit(error.code)
    if isinstance(error, wasmtime.Trap):
        return trap_from_wasmtime(error, instance_id)
    return WasmTrap("host_error", _first_line(str(error)), instance_id)


class FastFunc:
    """One exported function with preallocated argument and result arrays.

    Not thread-safe: the owning instance serialises calls (a store is single-threaded).
    """

    __slots__ = ("_args", "_fref", "_func", "_rets", "_trap", "_trap_ref", "params", "results")

    def __init__(self, func: wasmtime.Func, params: Sequence[str], results: Sequence[str]) -> None:
        self._func = func  # keeps the wasmtime_func_t alive for _fref
        self._fref = ctypes.byref(func._func)
        self.params = tuple(params)
        self.results = tuple(results)
        self._args = (ffi.wasmtime_val_t * len(params))()
        for i, t in enumerate(params):
            self._args[i].kind = _KIND[t]
        self._rets = (ffi.wasmtime_val_t * len(results))()
        self._new_trap_slot()

    def _new_trap_slot(self) -> None:
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._trap_ref = ctypes.byref(self._trap)

    def call(self, context: object, values: Sequence[int | float], instance_id: str) -> list:
        """Call with already checked raw values; return the raw results (a Python list)."""
        args = self._args
        for i, t in enumerate(self.params):
            setattr(args[i].of, t, values[i])
        err = _CALL(context, self._fref, args, len(args), self._rets, len(self._rets),
                    self._trap_ref)  # fmt: skip
        if err:
            raise trap_from_error(wasmtime.WasmtimeError._from_ptr(err), instance_id)
        if self._trap:
            trap = wasmtime.Trap._from_ptr(self._trap)
            self._new_trap_slot()  # ownership moved to `trap`
            raise trap_from_wasmtime(trap, instance_id)
        rets = self._rets
        return [getattr(rets[i].of, t) for i, t in enumerate(self.results)]

    def typed(self, raw: list) -> list[WasmValue]:
        return [WasmValue(t, v) for t, v in zip(self.results, raw, strict=True)]
