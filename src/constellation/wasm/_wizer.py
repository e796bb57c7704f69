"""Snapshots baked into a module, in the manner of Wizer, for fast starts.

``bake`` returns the module with the snapshot's memory pages appended as active data
segments (later segments overwrite earlier ones, so memory starts exactly as the
snapshot had it), memory 0's minimum raised to the snapshot's size, and the start
function removed (its effects are already in the snapshot). wasmtime then instantiates
the baked module from a copy-on-write memory image, so a new instance with 1 MiB of
pre-initialised state costs about what an empty one does. Globals and gas are set after
instantiation (they are a handful of values).
"""

from __future__ import annotations

import numpy as np

from ._binary import _leb, _Reader, _sections

__all__ = ["bake"]

_PAGE = 4096
_WASM_PAGE = 65536


def _sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        done = (value == 0 and not b & 0x40) or (value == -1 and b & 0x40)
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


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
        out.append(b"\x00\x41" + _sleb(signed) + b"\x0b" + _leb(len(payload)) + payload)
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
