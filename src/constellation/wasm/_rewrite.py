"""Module rewrites: gas metering and a memory cap for wasm3, and snapshots baked in.

**Gas metering** (for runtimes without fuel: wasm3).

The rewritten module carries its own counter: a mutable i64 global exported as
``__cst_gas`` holds the gas *left*, and an appended function ``$gas(cost)`` subtracts
from it and executes ``unreachable`` once it goes negative. A call to ``$gas`` is put at
the start of every function body and of every loop body, charging the number of
instructions up to the next charge point (so straight-line code is charged when entered
and every loop iteration pays for its body). The function and the global are appended at
the end of their index spaces, so no existing index changes.

Every ``memory.grow`` on memory 0 is routed through an appended ``$grow`` that returns
-1 past the mutable global ``__cst_max_pages``, which is how ``max_memory`` is enforced
(and changed after creation) on a runtime without a store limiter. ``cap_memory`` lowers
memory 0's declared maximum instead (kept for callers that want the static form).

**Snapshots baked in**, in the manner of Wizer, for fast starts (``bake``): the snapshot's
memory pages are appended as active data segments (later segments overwrite earlier ones,
so memory starts exactly as the snapshot had it), memory 0's minimum is raised to the
snapshot's size and the start function is removed (its effects are already in the
snapshot). wasmtime then instantiates the baked module from a copy-on-write memory image,
so a new instance with 1 MiB of pre-initialised state costs about what an empty one does.
Globals and gas are set after instantiation (they are a handful of values).
"""

from __future__ import annotations

import numpy as np

from ._binary import FormatError, _leb, _Reader, _sections
from ._opcodes import skip, sleb

__all__ = ["GAS_EXPORT", "MAX_PAGES_EXPORT", "bake", "cap_memory", "meter"]

GAS_EXPORT = "__cst_gas"


def _skip_immediates(r: _Reader, op: int) -> None:
    if op == 0xFD:  # this rewrite serves wasm3, which runs no SIMD
        raise FormatError(f"opcode 0x{op:02x} (SIMD) is not metered")
    skip(r, op)


def _meter_body(body: bytes, gas_func: int, grow_func: int | None = None) -> bytes:
    r = _Reader(body)
    for _ in range(r.u32()):  # local declarations
        r.u32()
        r.valtype()
    points = [r.pos]
    counts = [0]
    grows: list[tuple[int, int]] = []  # (start, end) of each memory.grow on memory 0
    while r.pos < len(body):
        at = r.pos
        op = r.byte()
        _skip_immediates(r, op)
        counts[-1] += 1
        if op == 0x03:
            points.append(r.pos)
            counts.append(0)
        elif op == 0x40 and grow_func is not None and _Reader(body, at + 1).u32() == 0:
            grows.append((at, r.pos))
    edits = [(p, p, b"\x41" + sleb(max(c, 1)) + b"\x10" + _leb(gas_func))
             for p, c in zip(points, counts, strict=True)]  # fmt: skip
    edits += [(a, b, b"\x10" + _leb(grow_func or 0)) for a, b in grows]
    out = bytearray()
    prev = 0
    for start, end, code in sorted(edits, key=lambda e: e[0]):
        out += body[prev:start] + code
        prev = end
    out += body[prev:]
    return bytes(out)


MAX_PAGES_EXPORT = "__cst_max_pages"


def meter(wasm: bytes) -> bytes:
    """Return ``wasm`` with the gas counter and charge points added (see module doc)."""
    secs = _sections(wasm)
    n_types = n_func_imports = n_global_imports = n_funcs = n_globals = 0
    has_memory = False
    for sid, _h, start, end in secs:
        r = _Reader(wasm, start, end)
        if sid == 1:
            n_types = r.u32()
        elif sid == 2:
            for _ in range(r.u32()):
                r.name()
                r.name()
                kind = r.byte()
                if kind == 0:
                    r.u32()
                    n_func_imports += 1
                elif kind == 1:
                    r.valtype()
                    r.limits()
                elif kind == 2:
                    r.limits()
                    has_memory = True
                elif kind == 3:
                    r.valtype()
                    r.byte()
                    n_global_imports += 1
                else:
                    raise FormatError(f"import kind {kind}")
        elif sid == 3:
            n_funcs = r.u32()
        elif sid == 6:
            n_globals = r.u32()
        elif sid == 5:
            has_memory = has_memory or r.u32() > 0
    gas_func = n_func_imports + n_funcs
    gas_global = n_global_imports + n_globals
    g = _leb(gas_global)
    gas_code = (b"\x00\x23" + g + b"\x20\x00\xad\x7d\x24" + g + b"\x23" + g
                + b"\x42\x00\x53\x04\x40\x00\x0b\x0b")  # fmt: skip
    name = GAS_EXPORT.encode()
    additions = {
        1: (b"\x60\x01\x7f\x00", n_types),  # type (i32) -> ()
        3: (_leb(n_types), n_funcs),
        6: (b"\x7e\x01\x42\x00\x0b", n_globals),  # (mut i64) (i64.const 0)
        7: (_leb(len(name)) + name + b"\x03" + g, None),
        10: (_leb(len(gas_code)) + gas_code, None),
    }
    counts = dict.fromkeys(additions, 1)
    grow_func = None
    if has_memory:
        # memory.grow goes through $grow, which refuses (-1) past the mutable global
        # __cst_max_pages: a memory cap that can change after the instance is created.
        grow_func = gas_func + 1
        m = _leb(gas_global + 1)
        grow_code = (b"\x00\x20\x00\xad\x3f\x00\xad\x7c\x23" + m + b"\x56\x04\x7f\x41\x7f"
                     + b"\x05\x20\x00\x40\x00\x0b\x0b")  # fmt: skip
        cap = MAX_PAGES_EXPORT.encode()
        more = {
            1: b"\x60\x01\x7f\x01\x7f",  # type (i32) -> (i32)
            3: _leb(n_types + 1),
            6: b"\x7e\x01\x42" + sleb(65536) + b"\x0b",  # (mut i64) (i64.const 65536)
            7: _leb(len(cap)) + cap + b"\x03" + m,
            10: _leb(len(grow_code)) + grow_code,
        }
        for sid, extra in more.items():
            additions[sid] = (additions[sid][0] + extra, additions[sid][1])
            counts[sid] = 2
    order = [1, 3, 6, 7, 10]
    out = bytearray(wasm[:8])
    present = {sid for sid, *_ in secs}

    def emit(sid: int, body: bytes) -> None:
        out.extend(bytes([sid]) + _leb(len(body)) + body)

    def new_section(sid: int) -> None:
        extra = additions[sid][0]
        emit(sid, _leb(counts[sid]) + extra)

    rank = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 5.5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 9.5, 10: 10, 11: 11}
    for sid, header, start, end in secs:
        for missing in order:  # sections we must create go before the first later one
            if missing not in present and sid != 0 and rank[missing] < rank.get(sid, 0):
                new_section(missing)
                present.add(missing)
        if sid not in additions:
            out += wasm[header:end]
            continue
        r = _Reader(wasm, start, end)
        count = r.u32()
        if sid == 10:
            items = bytearray()
            for _ in range(count):
                size = r.u32()
                body = _meter_body(wasm[r.pos : r.pos + size], gas_func, grow_func)
                r.pos += size
                items += _leb(len(body)) + body
            emit(10, _leb(count + counts[10]) + bytes(items) + additions[10][0])
        else:
            emit(sid, _leb(count + counts[sid]) + wasm[r.pos : end] + additions[sid][0])
    for missing in order:
        if missing not in present:
            new_section(missing)
    return bytes(out)


def cap_memory(wasm: bytes, max_bytes: int) -> bytes:
    """Lower memory 0's maximum to ``max_bytes`` (whole 64 KiB pages); error if below min."""
    max_pages = max_bytes // 65536
    out = bytearray(wasm[:8])
    for sid, header, start, end in _sections(wasm):
        if sid != 5:
            out += wasm[header:end]
            continue
        r = _Reader(wasm, start, end)
        count = r.u32()
        flags = r.byte()
        low = r.u32()
        high = r.u32() if flags & 1 else None
        if low > max_pages:
            raise ValueError(f"the module needs {low * 65536} bytes of memory at start")
        high = max_pages if high is None else min(high, max_pages)
        body = _leb(count) + bytes([flags | 1]) + _leb(low) + _leb(high) + wasm[r.pos : end]
        out += bytes([5]) + _leb(len(body)) + body
    return bytes(out)


# -- snapshots baked in ------------------------------------------------------------
_PAGE = 4096
_WASM_PAGE = 65536


def _segments(index: np.ndarray, data: np.ndarray) -> list[bytes]:
    """Active data segments for memory 0, one per run of consecutive pages."""
    out: list[bytes] = []
    k = 0
    while k < len(index):
        end = k + 1
        while end < len(index) and index[end] == index[end - 1] + 1:
            end += 1
        offset = int(index[k]) * _PAGE
        payload = data[k:end].tobytes()
        # i32.const takes a signed immediate: encode the offset as the i32 it is.
        signed = offset - 2**32 if offset >= 2**31 else offset
        out.append(b"\x00\x41" + sleb(signed) + b"\x0b" + _leb(len(payload)) + payload)
        k = end
    return out


def bake(wasm: bytes, memory_size: int, index: np.ndarray, data: np.ndarray) -> bytes:
    segments = _segments(index, data)
    pages = memory_size // _WASM_PAGE
    out = bytearray(wasm[:8])
    data_done = False
    for sid, header, start, end in _sections(wasm):
        if sid == 8:  # start function: its effects are in the snapshot
            continue
        r = _Reader(wasm, start, end)
        if sid == 5:
            count = r.u32()
            flags = r.byte()
            low = r.u32()
            high = r.u32() if flags & 1 else None
            body = _leb(count) + bytes([flags]) + _leb(max(low, pages))
            body += (_leb(high) if high is not None else b"") + wasm[r.pos : end]
        elif sid == 12:  # data count
            body = _leb(r.u32() + len(segments))
        elif sid == 11:
            count = r.u32()
            body = _leb(count + len(segments)) + wasm[r.pos : end] + b"".join(segments)
            data_done = True
        else:
            out += wasm[header:end]
            continue
        out += bytes([sid]) + _leb(len(body)) + body
    if not data_done and segments:
        body = _leb(len(segments)) + b"".join(segments)
        out += bytes([11]) + _leb(len(body)) + body
    return bytes(out)
