"""Typed values crossing the host/guest boundary, and the checks on them.

A parameter is given either typed, ``{"type": "i32", "value": 42}`` (or a
:class:`WasmValue`), or as a plain Python number that takes the declared type of the
parameter. Integers are accepted in the signed or the unsigned range of their width
(``i32``: -2**31 .. 2**32-1) and passed on as their two's-complement bits; anything outside,
a bool, a string or a float for an integer parameter is refused with a
:class:`WasmValidationError` naming the parameter.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ._errors import WasmValidationError

__all__ = ["NUMERIC_TYPES", "WasmValue", "check_params", "to_signed"]

NUMERIC_TYPES = ("i32", "i64", "f32", "f64")

_INT_BITS = {"i32": 32, "i64": 64}


class WasmValue(NamedTuple):
    """One typed value: ``type`` is "i32", "i64", "f32" or "f64"; ``value`` a Python number.

    A named tuple: results are built on every call, and this is the cheapest record.
    """

    type: str
    value: int | float

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "value": self.value}


def to_signed(value: int, bits: int) -> int:
    """Reinterpret an integer of the given width as signed (two's complement)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _check_one(field: str, declared: str, raw: object) -> int | float:
    given_type: str | None = None
    value = raw
    if isinstance(raw, WasmValue):
        given_type, value = raw.type, raw.value
    elif isinstance(raw, Mapping):
        unknown = set(raw) - {"type", "value"}
        if unknown or "value" not in raw:
            raise WasmValidationError(
                field, f"{dict(raw)!r} is not a typed value; expected {{'type': ..., 'value': ...}}"
            )
        given_type, value = raw.get("type"), raw["value"]
        if given_type is not None and given_type not in NUMERIC_TYPES:
            raise WasmValidationError.choice(f"{field}.type", given_type, NUMERIC_TYPES)
    if given_type is not None and given_type != declared:
        raise WasmValidationError(
            field, f"type {given_type!r} does not match the parameter's type {declared!r}"
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WasmValidationError(field, f"{value!r} is not a number; expected a {declared}")
    if declared in _INT_BITS:
        if not isinstance(value, int):
            raise WasmValidationError(field, f"{value!r} is not an integer; expected a {declared}")
        bits = _INT_BITS[declared]
        low, high = -(1 << (bits - 1)), (1 << bits) - 1
        if not low <= value <= high:
            raise WasmValidationError(
                field, f"{value} is out of {declared} range; expected {low} .. {high}"
            )
        return to_signed(value, bits)
    value = float(value)
    if declared == "f32" and math.isfinite(value):
        try:
            struct.pack("<f", value)
        except OverflowError:
            raise WasmValidationError(field, f"{value!r} is out of f32 range") from None
    return value


def check_params(
    function: str, declared: Sequence[str], params: Sequence[object] | None
) -> list[int | float]:
    """Check ``params`` against the declared parameter types; return the raw values.

    Raises :class:`WasmValidationError` (field ``params`` or ``params[i]``) and changes nothing.
    """
    if params is None:
        params = []
    if isinstance(params, str | bytes | Mapping) or not isinstance(params, Sequence):
        raise WasmValidationError("params", f"{params!r} is not a list of parameters")
    if len(params) != len(declared):
        sig = ", ".join(declared) or "no parameters"
        raise WasmValidationError(
            "params",
            f"{function} takes {len(declared)} parameter(s) ({sig}); {len(params)} given",
        )
    return [
        _check_one(f"params[{i}]", t, p)
        for i, (t, p) in enumerate(zip(declared, params, strict=True))
    ]
