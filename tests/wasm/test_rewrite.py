"""The module rewriting behind wasm3's gas counter and snapshot exports keeps behaviour."""

from __future__ import annotations

import pytest
import wasmtime

from constellation.wasm import WasmHost, WasmModule
from constellation.wasm._binary import FormatError, instrument, parse_layout
from constellation.wasm._rewrite import GAS_EXPORT, cap_memory, meter

PROGRAMS = [
    "(module)",
    '(module (func (export "f") (result i32) i32.const 7))',
    '(module (import "env" "g" (global i32)) (import "env" "h" (func))'
    ' (global $x (mut i32) (i32.const 0)) (func (export "f") call 0))',
    '(module (memory 1) (data (i32.const 0) "abc") (start 0) (func nop)'
    ' (table 2 funcref) (elem (i32.const 0) 0) (func (export "g") (param i32) (result i32)'
    " (block (result i32) (br_table 0 0 (local.get 0) (local.get 0))) (call_indirect (type 0)"
    " (i32.const 0)) i32.const 1 i32.add))",
    '(module (type (func)) (func $a (export "a") (loop (loop nop)) (if (i32.const 1) (then nop)'
    " (else nop)) (drop (f64.const 1.5)) (drop (i64.const -9)) (drop (f32.const 2))"
    " (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))) (memory 1))",
]


@pytest.mark.parametrize("wat", PROGRAMS)
def test_metered_and_instrumented_modules_validate(wat: str) -> None:
    engine = wasmtime.Engine()
    original = bytes(wasmtime.wat2wasm(wat))
    metered = meter(original)
    wasmtime.Module.validate(engine, metered)
    exported = instrument(original, parse_layout(original))
    wasmtime.Module.validate(engine, exported)
    names = [e.name for e in wasmtime.Module(engine, metered).exports]
    assert GAS_EXPORT in names


def test_metering_charges_loops_per_iteration() -> None:
    import wasm3

    src = (
        '(module (func (export "sum") (param i32) (result i32) (local i32)'
        " (block (loop (br_if 1 (i32.eqz (local.get 0)))"
        " (local.set 1 (i32.add (local.get 1) (local.get 0)))"
        " (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br 0))) local.get 1))"
    )
    env = wasm3.Environment()
    rt = env.new_runtime(64 * 1024)
    mod = env.parse_module(meter(bytes(wasmtime.wat2wasm(src))))
    rt.load(mod)
    used = []
    for n in (10, 100):
        mod.set_global(GAS_EXPORT, 10**9)
        assert rt.find_function("sum")(n) == n * (n + 1) // 2
        used.append(10**9 - mod.get_global(GAS_EXPORT))
    assert (used[1] - used[0]) % 90 == 0  # every iteration costs the same
    per_iteration = (used[1] - used[0]) / 90
    assert 5 <= per_iteration <= 20


def test_simd_modules_are_not_metered() -> None:
    wasm = bytes(wasmtime.wat2wasm("(module (func (drop (v128.const i32x4 0 0 0 0))))"))
    with pytest.raises(FormatError, match="SIMD"):
        meter(wasm)


def test_cap_memory_lowers_the_maximum(host: WasmHost, core: WasmModule) -> None:
    capped = cap_memory(core.wasm, 5 * 65536)
    assert parse_layout(capped).max_pages == 5
    with pytest.raises(ValueError, match="needs 65536 bytes"):
        cap_memory(core.wasm, 1000)


def test_layout_reads_data_segments_and_hidden_globals(core: WasmModule) -> None:
    lay = core.layout
    assert lay.data == [(100, b"hello")]
    assert lay.initial_pages == 1 and lay.max_pages == 100
    mutable = [(i, t) for i, t, m in lay.globals if m]
    assert mutable == [(0, "i32"), (1, "f64"), (2, "f32"), (3, "i64")]
    assert lay.exported_globals == {1: "ratio"}
