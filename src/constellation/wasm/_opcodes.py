"""Walking wasm function bodies: each instruction's immediates, and branch labels.

Shared by the gas counter's rewrite (:mod:`._metering`) and its loop planning
(:mod:`._counted`).
"""

from __future__ import annotations

from ._binary import FormatError, _Reader

__all__ = ["BLOCK_VALTYPES", "CALLS", "TAIL_CALLS", "Instr", "branch_labels", "instructions", "skip",
           "sleb"]  # fmt: skip

Instr = tuple[int, int, int]  # (position, opcode, position after the immediates)

CALLS = {0x10, 0x11, 0x14}  # call, call_indirect, call_ref: control comes back
TAIL_CALLS = {0x12, 0x13, 0x15}  # return_call and its indirect and ref forms
BLOCK_VALTYPES = {0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}
_MEMARG = set(range(0x28, 0x3F))
_ONE_INDEX = {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x3F, 0x40, 0xD2, 0x10, 0x12, 0x14,
              0x15, 0xD4, 0xD5, 0xD6}  # fmt: skip
_TWO_INDEX = {0x11, 0x13}
_FC_TWO = {8, 10, 12, 14}
_FC_ONE = {9, 11, 13, 15, 16, 17}
_SIMD_MEMARG = set(range(0, 12)) | {0x5C, 0x5D}
_SIMD_LANE = set(range(0x15, 0x23))
_SIMD_MEMARG_LANE = set(range(0x54, 0x5C))


def sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        done = (value == 0 and not b & 0x40) or (value == -1 and b & 0x40)
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


def skip(r: _Reader, op: int) -> None:
    """Move past ``op``'s immediates."""
    if op in (0x02, 0x03, 0x04):
        if r.data[r.pos] in BLOCK_VALTYPES:
            r.pos += 1
        else:
            r.s64()
    elif op in _ONE_INDEX or op in (0x0C, 0x0D):
        r.u32()
    elif op in _TWO_INDEX:
        r.u32()
        r.u32()
    elif op == 0x0E:
        for _ in range(r.u32() + 1):
            r.u32()
    elif op == 0x1C:
        for _ in range(r.u32()):
            r.valtype()
    elif op in _MEMARG:
        _memarg(r)
    elif op in (0x41, 0x42, 0xD0):
        r.s64()
    elif op == 0x43:
        r.take(4)
    elif op == 0x44:
        r.take(8)
    elif op == 0xFC:
        sub = r.u32()
        for _ in range(2 if sub in _FC_TWO else 1 if sub in _FC_ONE else 0):
            r.u32()
    elif op == 0xFD:
        sub = r.u32()
        if sub in _SIMD_MEMARG:
            _memarg(r)
        elif sub in (12, 13):
            r.take(16)
        elif sub in _SIMD_LANE:
            r.take(1)
        elif sub in _SIMD_MEMARG_LANE:
            _memarg(r)
            r.take(1)
    elif op in (0x06, 0x07, 0x08, 0x09, 0x18, 0x19, 0x1F, 0xFB, 0xFE):
        raise FormatError(f"opcode 0x{op:02x} (exceptions, GC or threads) cannot be metered")


def _memarg(r: _Reader) -> None:
    if r.u32() & 0x40:
        r.u32()
    r.u32()


def instructions(body: bytes, start: int) -> list[Instr]:
    r = _Reader(body, start)
    out = []
    while r.pos < len(body):
        at = r.pos
        op = r.byte()
        skip(r, op)
        out.append((at, op, r.pos))
    return out


def branch_labels(body: bytes, ins: Instr) -> list[int]:
    r = _Reader(body, ins[0] + 1)
    if ins[1] == 0x0E:
        return [r.u32() for _ in range(r.u32() + 1)]
    return [r.u32()]
