"""Multiplies by 3, 5 and 9 compiled as shift-and-add (constellation.wasm._peephole): the
same values at the edges of the integer range, metered or not, and the same gas as the
meter gave before the rewrite (gas is counted on the original instructions)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from constellation.wasm import WasmHost, _metering
from constellation.wasm._peephole import reduce_module

MUL_WAT = """
(module
  (func (export "m3") (param $x i32) (result i32) (i32.mul (local.get $x) (i32.const 3)))
  (func (export "m5") (param $x i32) (result i32) (i32.mul (local.get $x) (i32.const 5)))
  (func (export "m9") (param $x i32) (result i32) (i32.mul (local.get $x) (i32.const 9)))
  (func (export "l3") (param $x i64) (result i64) (i64.mul (local.get $x) (i64.const 3)))
  (func (export "l5") (param $x i64) (result i64) (i64.mul (local.get $x) (i64.const 5)))
  (func (export "l9") (param $x i64) (result i64) (i64.mul (local.get $x) (i64.const 9)))
  (func (export "m7") (param $x i32) (result i32) (i32.mul (local.get $x) (i32.const 7)))
  (func (export "expr3") (param $x i32) (result i32)
    (i32.mul (i32.add (local.get $x) (i32.const 1)) (i32.const 3)))
  (func (export "collatz") (param $x i64) (result i64) (local $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eq (local.get $x) (i64.const 1)))
        (local.set $n (i64.add (local.get $n) (i64.const 1)))
        (local.set $x (select (i64.shr_u (local.get $x) (i64.const 1))
                              (i64.add (i64.mul (local.get $x) (i64.const 3)) (i64.const 1))
                              (i64.eqz (i64.and (local.get $x) (i64.const 1)))))
        (br $next)))
    (local.get $n))
  (func (export "counted") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (i32.const 9))))
      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                        (local.get $n))))
    (local.get $acc)))
"""
# local.get; const C; mul with C in (3, 5, 9): m3, m5, m9, l3, l5, l9, collatz, counted
REWRITTEN = 8
EDGES_32 = [0, 1, 2, -1, -2, 3, 7, 2**31 - 1, -(2**31), 2**30, 0x55555555, -0x55555556]
EDGES_64 = [0, 1, -1, 2**63 - 1, -(2**63), 2**62, 0x5555555555555555, 27, -27]


def _wrap(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@pytest.fixture
def without_rewrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WasmHost]:
    """A host whose meter makes no strength reduction (the meter before this rewrite)."""
    monkeypatch.setattr(_metering, "peephole_edits", lambda body, instrs: [])
    with WasmHost(cache_dir=tmp_path / "plain-cache") as h:
        yield h


def test_the_rewrite_finds_the_local_get_form_only() -> None:
    wasm = bytes(wasmtime.wat2wasm(MUL_WAT))
    reduced = reduce_module(wasm)
    wasmtime.Module.validate(wasmtime.Engine(), reduced)
    # each rewrite turns (const, mul) into (const, shl, local.get, add): 3 more bytes here
    assert len(reduced) - len(wasm) == 3 * REWRITTEN
    metered = _metering.meter_module(wasm)
    wasmtime.Module.validate(wasmtime.Engine(), metered)


def test_modules_without_the_pattern_or_unreadable_come_back_unchanged() -> None:
    wasm = bytes(wasmtime.wat2wasm('(module (func (export "f") (result i32) (i32.const 3)))'))
    assert reduce_module(wasm) is wasm
    junk = b"\0asm\x01\0\0\0\x0a\x05\x01\x03\0\xfb\x00"  # a GC opcode the walker refuses
    assert reduce_module(junk) is junk


@pytest.mark.parametrize("metering", [False, True])
@pytest.mark.parametrize(("name", "factor", "bits"), [("m3", 3, 32), ("m5", 5, 32),
    ("m9", 9, 32), ("l3", 3, 64), ("l5", 5, 64), ("l9", 9, 64), ("m7", 7, 32),
    ("expr3", 3, 32)])  # fmt: skip
def test_products_wrap_like_the_multiply(
    host: WasmHost, metering: bool, name: str, factor: int, bits: int
) -> None:
    inst = host.create_instance(host.load_module(MUL_WAT).id, metering=metering,
                                interruptible=metering)  # fmt: skip
    for x in EDGES_32 if bits == 32 else EDGES_64:
        got = inst.call(name, [x])[0].value
        want = _wrap(((x + 1) if name == "expr3" else x) * factor, bits)
        assert got == want, (name, x)


@pytest.mark.parametrize(("name", "args", "want"), [("collatz", [27], 111),
    ("collatz", [97], 118), ("counted", [1000], 9 * 999 * 1000 // 2), ("m3", [5], 15),
    ("l9", [-3], -27)])  # fmt: skip
def test_gas_is_what_the_meter_charged_before(
    host: WasmHost, without_rewrite: WasmHost, name: str, args: list[int], want: int
) -> None:
    new = host.create_instance(host.load_module(MUL_WAT).id)
    old = without_rewrite.create_instance(without_rewrite.load_module(MUL_WAT).id)
    gas = []
    for inst in (new, old):
        before = inst.gas_used
        assert inst.call(name, args)[0].value == want
        gas.append(inst.gas_used - before)
    assert gas[0] == gas[1] > 0
