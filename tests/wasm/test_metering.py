"""The gas counter compiled into modules (constellation.wasm._metering): same results as
the original, deterministic gas, loops charged per iteration, timeouts through the bank."""

from __future__ import annotations

import pytest

from constellation.wasm import WasmHost, WasmModule, WasmTrap

EDGES_WAT = """
(module
  (import "env" "mem" (memory 1))
  (func $sum (export "sum") (param $n i32) (result i32) (local $acc i32)
    (block $out (loop $next
      (br_if $out (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  (func (export "early") (param $n i32) (result i32)
    (loop $l
      (if (i32.gt_u (local.get $n) (i32.const 100)) (then (return (local.get $n))))
      (local.set $n (i32.add (local.get $n) (i32.const 7)))
      (br $l))
    (i32.const -1))
  (func $table (param $k i32)
    (i32.store (i32.const 0) (i32.const 30))
    (block $a (block $b (br_table $a $b 2 (local.get $k)))
      (i32.store (i32.const 0) (i32.const 20)) (return))
    (i32.store (i32.const 0) (i32.const 10)))
  (func (export "table") (param $k i32) (result i32)
    (call $table (local.get $k)) (i32.load (i32.const 0)))
  (func (export "twice") (param $n i32) (result i32 i32)
    (call $sum (local.get $n)) (call $sum (i32.add (local.get $n) (i32.const 1))))
  (func (export "simd") (param $n i32) (result i32) (local $v v128)
    (loop $l
      (local.set $v (i32x4.add (local.get $v) (v128.const i32x4 1 2 3 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (i32x4.extract_lane 3 (local.get $v)))
  (func (export "quiet") (loop $l (br $l))))
"""


@pytest.fixture
def edges(host: WasmHost) -> WasmModule:
    return host.load_module(EDGES_WAT.replace('(import "env" "mem" (memory 1))', "(memory 1)"))


@pytest.mark.parametrize(
    ("name", "args", "want"),
    [
        ("sum", [100], [5050]),
        ("early", [3], [101]),
        ("table", [0], [10]),
        ("table", [1], [20]),
        ("table", [7], [30]),
        ("twice", [4], [10, 15]),
        ("simd", [5], [20]),
    ],
)
def test_metered_code_computes_what_the_original_does(
    host: WasmHost, edges: WasmModule, name: str, args: list[int], want: list[int]
) -> None:
    metered = host.create_instance(edges.id)
    plain = host.create_instance(edges.id, metering=False, interruptible=False)
    assert [v.value for v in metered.call(name, args)] == want
    assert [v.value for v in plain.call(name, args)] == want


def test_gas_is_deterministic_and_grows_with_the_iterations(
    host: WasmHost, edges: WasmModule
) -> None:
    inst = host.create_instance(edges.id)
    used = []
    for n in (10, 10, 1000):
        before = inst.gas_used
        inst.call("sum", [n])
        used.append(inst.gas_used - before)
    assert used[0] == used[1] > 0
    assert used[2] > 50 * used[0]
    before = inst.gas_used
    inst.call("early", [3])  # leaves from inside its loop: the slice is saved on the way out
    early = inst.gas_used - before
    before = inst.gas_used
    inst.call("early", [3])
    assert inst.gas_used - before == early > 0


def test_a_loop_that_touches_no_memory_times_out_and_the_host_goes_on(
    tmp_path, edges: WasmModule, host: WasmHost
) -> None:
    inst = host.create_instance(edges.id, limits={"timeout_ms": 30})
    with pytest.raises(WasmTrap) as info:
        inst.call("quiet")
    assert info.value.code == "timeout"
    other = host.create_instance(edges.id)
    assert other.call("sum", [10])[0].value == 55


def test_out_of_gas_uses_exactly_the_budget(host: WasmHost, edges: WasmModule) -> None:
    inst = host.create_instance(edges.id, gas_limit=123_457)
    with pytest.raises(WasmTrap) as info:
        inst.call("quiet")
    assert info.value.code == "out_of_gas"
    assert inst.gas_used == 123_457


def test_an_imported_memory_keeps_index_zero(host: WasmHost) -> None:
    import wasmtime

    from constellation.wasm._metering import meter_module

    wasm = bytes(wasmtime.wat2wasm(EDGES_WAT))
    metered = meter_module(wasm)
    engine = wasmtime.Engine()
    wasmtime.Module.validate(engine, metered)
    module = wasmtime.Module(engine, metered)
    memories = [e for e in module.exports if isinstance(e.type, wasmtime.MemoryType)]
    assert [e.name for e in memories] == ["__cst_meter"]
