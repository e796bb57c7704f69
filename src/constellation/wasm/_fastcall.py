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
import math
import struct
from collections.abc import Sequence
from typing import Any

import wasmtime
from wasmtime import _bindings as _raw
from wasmtime import _ffi as ffi
from wasmtime import _func as _wfunc

from ._errors import WasmTrap
from ._values import WasmValue

__all__ = ["FastFunc", "trap_from_error", "trap_from_wasmtime"]

_KIND = {"i32": ffi.WASMTIME_I32, "i64": ffi.WASMTIME_I64, "f32": ffi.WASMTIME_F32,
         "f64": ffi.WASMTIME_F64}  # fmt: skip

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


_INT_RANGE = {"i32": (-(2**31), 2**32 - 1), "i64": (-(2**63), 2**64 - 1)}
_F32_MAX = 3.4028234663852886e38
_CODE = {"i32": "i", "i64": "q", "f32": "f", "f64": "d"}
_SIZE = {"i32": 4, "i64": 8, "f32": 4, "f64": 8}


def _setter(slots: tuple[tuple[Any, str], ...]) -> Any:
    """A function storing the argument values into their slots, unrolled for 0-3 params
    (the hot path: a Python loop costs more than the call into wasm itself)."""
    if len(slots) == 0:
        return lambda values: None
    if len(slots) == 1:
        ((s0, t0),) = slots
        return lambda values: setattr(s0, t0, values[0])
    if len(slots) == 2:
        (s0, t0), (s1, t1) = slots

        def set2(values: Sequence[Any]) -> None:
            setattr(s0, t0, values[0])
            setattr(s1, t1, values[1])

        return set2
    if len(slots) == 3:
        (s0, t0), (s1, t1), (s2, t2) = slots

        def set3(values: Sequence[Any]) -> None:
            setattr(s0, t0, values[0])
            setattr(s1, t1, values[1])
            setattr(s2, t2, values[2])

        return set3

    def set_n(values: Sequence[Any]) -> None:
        for (slot, t), v in zip(slots, values, strict=True):
            setattr(slot, t, v)

    return set_n


# wasmtime_func_call with every argument as a plain address: ctypes then converts Python
# ints instead of building pointer objects on every call. The addresses all point into
# objects a FastFunc keeps alive, and the instance refuses calls once its store is closed.
_C_CALL = ctypes.CFUNCTYPE(
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
)(("wasmtime_func_call", _raw.dll))  # fmt: skip
_ARRAYS: dict[int, type] = {}


def _array(n: int) -> ctypes.Array[Any]:
    cls = _ARRAYS.get(n)
    if cls is None:
        cls = _ARRAYS[n] = ffi.wasmtime_val_t * n
    return cls()


class FastFunc:
    """One exported function with preallocated argument and result arrays.

    Not thread-safe: the owning instance serialises calls (a store is single-threaded).
    """

    __slots__ = ("_addr", "_args", "_cargs", "_func", "_n", "_rbuf", "_read", "_rets", "_set",
                 "_slots", "_spec", "_trap", "_trap_addr", "convert", "params", "results",
                 "typed")  # fmt: skip

    def __init__(
        self, func: wasmtime.Func, params: Sequence[str], results: Sequence[str], context: Any
    ) -> None:
        self._func = func  # keeps the wasmtime_func_t alive
        self.params = tuple(params)
        self.results = tuple(results)
        self._args = _array(len(params))
        self._rets = _array(len(results))
        for i, t in enumerate(params):
            self._args[i].kind = _KIND[t]
        # Views into the arrays, made once: indexing a ctypes array builds a new object.
        self._slots = tuple(
            zip((self._args[i].of for i in range(len(params))), params, strict=True)
        )
        ctx = ctypes.cast(context, ctypes.c_void_p).value
        self._addr = (ctx, ctypes.addressof(func._func), ctypes.addressof(self._args),
                      len(params), ctypes.addressof(self._rets), len(results))  # fmt: skip
        self._set = _setter(self._slots)
        # All results in one struct unpack: each wasmtime_val_t is kind, padding, value.
        size, offset = ctypes.sizeof(ffi.wasmtime_val_t), ffi.wasmtime_val_t.of.offset
        fmt = "<" + "".join(f"{offset}x{_CODE[t]}{size - offset - _SIZE[t]}x" for t in results)
        self._read = struct.Struct(fmt).unpack_from
        self._rbuf = (ctypes.c_char * ctypes.sizeof(self._rets)).from_buffer(self._rets)
        self._n = len(params)
        self._spec = tuple((t, *_INT_RANGE.get(t, (None, None))) for t in params)
        self._new_trap_slot()
        self.typed = _typer(self.results)
        # ``convert(values)``: see _convert; unrolled for the seed's two-integer signature.
        self.convert = _converter(self._spec, self._convert)

    def _new_trap_slot(self) -> None:
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._trap_addr = ctypes.addressof(self._trap)
        self._cargs = (*self._addr, self._trap_addr)  # the C call's arguments, all addresses

    def _convert(self, values: Sequence[Any]) -> Sequence[Any] | None:
        """``values`` ready for :meth:`call` when they are plain in-range numbers (typed
        dicts are unwrapped); None when the full check must run (it then says what is wrong).
        ctypes stores integers modulo their width, so unsigned i32/i64 need no conversion.
        """
        if len(values) != self._n:
            return None
        for v, (t, low, high) in zip(values, self._spec, strict=True):
            if type(v) is dict:
                return self._unwrap(values)
            if low is not None:
                if type(v) is not int or v < low or v > high:
                    return None
            elif type(v) is not float or (t == "f32" and _F32_MAX < abs(v) < math.inf):
                return None
        return values

    def _unwrap(self, values: Sequence[Any]) -> Sequence[Any] | None:
        plain = []
        for v, (t, _, _) in zip(values, self._spec, strict=True):
            if type(v) is dict:
                if len(v) != 2 or v.get("type") != t:
                    return None
                v = v["value"]
            plain.append(v)
        return self._convert(plain)

    def call(self, values: Sequence[int | float], instance_id: str) -> tuple[int | float, ...]:
        """Call with already checked raw values; return the raw results (a tuple)."""
        self._set(values)
        err = _C_CALL(*self._cargs)
        if err or self._trap:
            # A host function's exception (our stop) is parked there by wasmtime-py for its
            # own call path to re-raise; this path reads the trap itself, so drop it.
            _wfunc.LAST_EXCEPTION = None
        if err:
            ptr = ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t))
            raise trap_from_error(wasmtime.WasmtimeError._from_ptr(ptr), instance_id)
        if self._trap:
            trap = wasmtime.Trap._from_ptr(self._trap)
            self._new_trap_slot()  # ownership moved to `trap`
            raise trap_from_wasmtime(trap, instance_id)
        return self._read(self._rbuf)


_new = tuple.__new__  # builds a WasmValue without NamedTuple's Python-level __new__


def _converter(spec: tuple[tuple[Any, ...], ...], general: Any) -> Any:
    """``convert`` unrolled for the common case, two integer parameters (the seed's
    ``add``): plain in-range ints pass as they are; anything else takes the general path."""
    if len(spec) != 2 or spec[0][1] is None or spec[1][1] is None:
        return general
    (_, lo0, hi0), (_, lo1, hi1) = spec

    def convert2(values: Sequence[Any]) -> Sequence[Any] | None:
        if len(values) == 2:
            a, b = values
            if type(a) is int and type(b) is int and lo0 <= a <= hi0 and lo1 <= b <= hi1:
                return values
        return general(values)

    return convert2


def _typer(results: tuple[str, ...]) -> Any:
    """raw results -> WasmValues, unrolled for 0-2 results (the common signatures)."""
    if len(results) == 0:
        return lambda raw: []
    if len(results) == 1:
        (t0,) = results
        return lambda raw: [_new(WasmValue, (t0, raw[0]))]
    if len(results) == 2:
        t0, t1 = results
        return lambda raw: [_new(WasmValue, (t0, raw[0])), _new(WasmValue, (t1, raw[1]))]
    return lambda raw: [_new(WasmValue, (t, v)) for t, v in zip(results, raw, strict=True)]
