"""Helpers for tests of the meter's rewrites: function bodies, instances compiled under a
patched rewrite, calls with the gas they used."""

from __future__ import annotations

from typing import Any

import pytest

from constellation.wasm import WasmHost, WasmInstance
from constellation.wasm._binary import _Reader, _sections


def function_bodies(wasm: bytes) -> list[tuple[bytes, int]]:
    """Each function body of ``wasm`` and where its code starts (after the locals)."""
    found = []
    for sid, _h, start, end in _sections(wasm):
        if sid != 10:
            continue
        r = _Reader(wasm, start, end)
        for _ in range(r.u32()):
            size = r.u32()
            body = wasm[r.pos : r.pos + size]
            r.pos += size
            b = _Reader(body)
            for _ in range(b.u32()):
                b.u32()
                b.valtype()
            found.append((body, b.pos))
    return found


def compiled_under(
    host: WasmHost, wat: str, patches: dict[tuple[object, str], object], **options: Any
) -> WasmInstance:
    """An instance of ``wat`` metered by the rewrite with ``patches`` ({(module, name):
    value}) applied while it compiles; modules compiled outside keep the usual rewrite."""
    with pytest.MonkeyPatch.context() as patch:
        for (target, name), value in patches.items():
            patch.setattr(target, name, value)
        module = host.load_module(wat)
        host.precompile(module.id, metering=True, interruptible=True)
        return host.create_instance(module.id, **options)


def call_with_gas(inst: WasmInstance, name: str, args: list[int]) -> tuple[list[int], int]:
    """The call's results and the gas it used."""
    before = inst.gas_used
    out = [v.value for v in inst.call(name, args)]
    return out, inst.gas_used - before
