"""Short data-dependent loops unrolled before metering (constellation.wasm._unroll): the
program computes what it did, gas stays deterministic with one header charge per FACTOR
turns, timeouts and gas limits still stop such loops, and only leaf loops change."""

from __future__ import annotations

import random

import numpy as np
import pytest
import wasmtime

from constellation.wasm import WasmHost, WasmInstance, WasmTrap, _opcodes, _unroll

from ._rewrites import call_with_gas as _call
from ._rewrites import compiled_under, function_bodies

# Loops clang leaves data-dependent, and the branch shapes a copy must keep: exits to
# outer blocks from nested blocks, a br_table with targets inside and outside, if/else.
WAT = """
(module
  (memory (export "memory") 1)
  (func (export "scan") (param $p i32) (result i32)
    ;; like strlen with an escape: stops at 0 or a quote, skips the byte after a backslash
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (local.get $p))))
        (br_if $done (i32.eq (i32.load8_u (local.get $p)) (i32.const 34)))
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 92))
          (then (local.set $p (i32.add (local.get $p) (i32.const 1)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))
  (func (export "digits") (param $x i32) (result i32) (local $n i32)
    ;; a do-while on a data-dependent condition, falling off the loop's end to leave
    (loop $more
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $more (i32.ne (local.tee $x (i32.div_u (local.get $x) (i32.const 10)))
                           (i32.const 0))))
    (local.get $n))
  (func (export "classify") (param $x i32) (result i32) (local $acc i32)
    ;; a br_table whose targets are inside the loop and outside it
    (block $out
      (loop $top
        (block $odd
          (block $even
            (br_table $even $odd $odd $out (i32.and (local.get $x) (i32.const 3))))
          (local.set $acc (i32.add (local.get $acc) (i32.const 10)))
          (local.set $x (i32.shr_u (local.get $x) (i32.const 1)))
          (br_if $top (local.get $x))
          (br $out))
        (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
        (local.set $x (i32.shr_u (local.get $x) (i32.const 2)))
        (br_if $top (local.get $x))))
    (local.get $acc))
  (func (export "spin") (param $x i32) (result i32)
    (loop $again
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (br_if $again (i32.ne (local.get $x) (i32.const 0)))
      (br $again))
    (local.get $x))
)
"""


def _instance(host: WasmHost, factor: int, **options: object) -> WasmInstance:
    return compiled_under(host, WAT, {(_unroll, "FACTOR"): factor}, **options)


def _write(inst, data: bytes) -> None:
    inst.memory_array()[: len(data)] = np.frombuffer(data, dtype=np.uint8)


@pytest.fixture
def hosts(tmp_path):
    with (
        WasmHost(cache_dir=tmp_path / "a") as unrolled,
        WasmHost(cache_dir=tmp_path / "b") as per_turn,
    ):
        yield unrolled, per_turn


def test_the_data_dependent_loops_are_unrolled_and_nothing_else() -> None:
    wasm = bytes(wasmtime.wat2wasm(WAT))
    for body, start in function_bodies(wasm):
        out = _unroll.unroll_leaf_loops(body, start, 4)
        loops = [op for _, op, _ in _opcodes.instructions(out, start) if op == 0x03]
        assert len(out) > len(body) and len(loops) == 1
    calls = bytes(
        wasmtime.wat2wasm("""(module (func $f)
      (func (param $n i32) (loop $l (call $f)
        (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))""")
    )
    nested = bytes(
        wasmtime.wat2wasm("""(module (func (param $n i32) (param $m i32)
      (loop $a (loop $b (br_if $b (i32.load (local.get $m))))
        (br_if $a (i32.load (local.get $n))))))""")
    )
    typed = bytes(
        wasmtime.wat2wasm("""(module (func (param $n i32) (result i32)
      (loop $l (result i32) (br_if $l (i32.load (local.get $n))) (i32.const 1))))""")
    )
    for wasm in (calls, nested, typed):
        for body, start in function_bodies(wasm):
            kinds = [op for _, op, _ in _opcodes.instructions(body, start) if op == 0x03]
            if len(kinds) == 2:  # the nested pair: only the inner (leaf) loop is copied
                assert _unroll.unroll_leaf_loops(body, start, 4) != body
                continue
            assert _unroll.unroll_leaf_loops(body, start, 4) == body


def test_results_and_gas_across_random_inputs(hosts) -> None:
    unrolled_host, per_turn_host = hosts
    rng = random.Random(20261205)
    unrolled = _instance(unrolled_host, 4)
    again = _instance(unrolled_host, 4)
    per_turn = _instance(per_turn_host, 1)
    plain = unrolled_host.create_instance(unrolled_host.load_module(WAT).id, metering=False,
                                          interruptible=False)  # fmt: skip
    for _ in range(300):
        text = bytes(rng.choice(b'ab\\"x') for _ in range(rng.randint(0, 40))) + b"\0\0"
        for inst in (unrolled, again, per_turn, plain):
            _write(inst, text)
        cases = [("scan", [0]), ("digits", [rng.randrange(2**32) >> rng.randint(0, 31)]),
                 ("classify", [rng.randrange(2**32) >> rng.randint(0, 31)])]  # fmt: skip
        for name, args in cases:
            args = [a - 2**32 if a >= 2**31 else a for a in args]
            want = [v.value for v in plain.call(name, args)]
            out_u, gas_u = _call(unrolled, name, args)
            out_a, gas_a = _call(again, name, args)
            out_p, gas_p = _call(per_turn, name, args)
            assert out_u == out_a == out_p == want, (name, args)
            assert gas_u == gas_a > 0  # deterministic
            assert gas_p > 0


@pytest.mark.parametrize("turns", [1, 2, 3, 5])
def test_each_further_four_turns_cost_one_header_charge(hosts, turns: int) -> None:
    unrolled = _instance(hosts[0], 4)
    # digits(x) turns once per decimal digit of x
    _, gas = _call(unrolled, "digits", [int("1" * turns)])
    _, more = _call(unrolled, "digits", [int("1" * (turns + 4))])
    _, one = _call(unrolled, "digits", [1])
    _, five = _call(unrolled, "digits", [11111])
    assert more - gas == five - one > 0


def test_a_timeout_and_the_gas_limit_stop_an_unrolled_loop(hosts) -> None:
    inst = _instance(hosts[0], 4, limits={"timeout_ms": 30})
    with pytest.raises(WasmTrap) as info:
        inst.call("spin", [1])  # runs until x wraps back to 0, then forever
    assert info.value.code == "timeout"
    limited = _instance(hosts[0], 4, limits={"max_instructions": 10_000})
    with pytest.raises(WasmTrap) as info:
        limited.call("spin", [1])
    assert info.value.code == "out_of_gas"
