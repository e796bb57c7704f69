"""How the gas counter charges loops (constellation.wasm._metering, ._counted): counted
loops charged per chunk give the same results and exactly the same gas as charging every
iteration; a timeout and running out of gas still stop a hoisted loop, from the host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from constellation.wasm import (
    WasmHost,
    WasmInstance,
    WasmModule,
    WasmTrap,
    _counted,
    _opcodes,
    _unroll,
)
from constellation.wasm._metering import SLICE, meter_module

from ._rewrites import call_with_gas as _gas
from ._rewrites import compiled_under, function_bodies

# Each loop ends the way clang ends a counted loop: x = x + step; br_if (x <cmp> bound).
# Per iteration the body segment is charged its instruction count, counted by hand below.
LOOPS_WAT = """
(module
  (memory 1)
  (func (export "up_ne") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $acc))
  (func (export "down_by_two") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.const 3)))
      (br_if $l (local.tee $n (i32.add (local.get $n) (i32.const -2)))))
    (local.get $acc))
  (func (export "strided") (param $from i32) (param $to i32) (param $step i32) (result i32)
    (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
      (br_if $l (i32.lt_u (local.tee $from (i32.add (local.get $from) (local.get $step)))
                          (local.get $to))))
    (local.get $acc))
  (func (export "signed") (param $from i32) (param $to i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (local.get $from)))
      (br_if $l (i32.lt_s (local.tee $from (i32.add (local.get $from) (i32.const 3)))
                          (local.get $to))))
    (local.get $acc))
  (func (export "early") (param $n i32) (param $stop i32) (result i32) (local $i i32)
    (block $out
      (loop $l
        (br_if $out (i32.eq (local.get $i) (local.get $stop)))
        (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                          (local.get $n)))))
    (local.get $i))
  (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
        (br_if $inner (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 1)))
                              (local.get $n))))
      (br_if $outer (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                            (local.get $n))))
    (local.get $acc)))
"""
# The body's segment: the loop body, the loop's end, the code after it and the function's
# end (a segment runs up to the next loop header).
PER_ITERATION = {"up_ne": 4 + 7 + 3, "down_by_two": 4 + 5 + 3, "strided": 4 + 7 + 3,
                 "signed": 4 + 7 + 3}  # fmt: skip


@pytest.fixture
def loops(host: WasmHost) -> WasmModule:
    return host.load_module(LOOPS_WAT)


@pytest.fixture
def per_iteration_host(tmp_path: Path) -> Iterator[WasmHost]:
    """A host for modules rewritten to charge every loop at its header (no counted loops):
    see :func:`per_iteration_instance`."""
    with WasmHost(cache_dir=tmp_path / "other-cache") as h:
        yield h


@pytest.fixture(autouse=True)
def no_unrolling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted loops are what these tests compare: loops checked per turn stay as they
    are (tests/wasm/test_unroll.py covers unrolling)."""
    monkeypatch.setattr(_unroll, "FACTOR", 1)


def per_iteration_instance(host: WasmHost, wat: str, **options: object) -> WasmInstance:
    """An instance whose module was rewritten without counted loops."""
    return compiled_under(host, wat, {(_counted, "find_counted"): lambda *args: None}, **options)


def test_the_kernel_shapes_are_recognised_as_counted() -> None:
    body_plans = []
    for body, start in function_bodies(bytes(wasmtime.wat2wasm(LOOPS_WAT))):
        plan = _counted.plan(body, _opcodes.instructions(body, start))
        body_plans.append(sorted(kind for kind, _ in plan.values()))
    # "early" can leave its loop before the count runs out: checked per iteration
    assert body_plans == [["counted"]] * 4 + [["line"]] + [["counted", "counted"]]


CASES = [
    ("up_ne", [1], [0]),
    ("up_ne", [10], [45]),
    ("up_ne", [SLICE], [(SLICE - 1) * SLICE // 2 % (1 << 32)]),
    ("down_by_two", [10], [15]),
    ("down_by_two", [3 * SLICE], [(3 * SLICE // 2) * 3]),
    ("strided", [0, 100, 7], [15]),
    ("strided", [5, 3, 7], [1]),  # already past the bound: one iteration (do-while)
    ("strided", [0, 100, 0], None),  # step 0: would never end (checked separately)
    ("strided", [0xFFFFFFF0, 0xFFFFFFF8, 4], [2]),
    ("strided", [0xFFFFFFF1, 0xFFFFFFFD, 4], [3]),  # bound + step past 2**32: per iteration
    ("signed", [-20, 10], [-20 - 17 - 14 - 11 - 8 - 5 - 2 + 1 + 4 + 7]),
    ("signed", [2**31 - 5, 2**31 - 1], None),  # wraps to negative: loops ~forever
    ("early", [100, 37], [37]),
    ("early", [100, 1000], [100]),
    ("nested", [30], [900]),
]


@pytest.mark.parametrize(("name", "args", "want"), [c for c in CASES if c[2] is not None])
def test_counted_loops_compute_what_the_original_does_with_the_same_gas(
    host: WasmHost, per_iteration_host: WasmHost, name: str, args: list[int], want: list[int]
) -> None:
    plain = host.create_instance(host.load_module(LOOPS_WAT).id, metering=False,
                                 interruptible=False)  # fmt: skip
    counted = host.create_instance(host.load_module(LOOPS_WAT).id)
    header = per_iteration_instance(per_iteration_host, LOOPS_WAT)
    signed = [a - (1 << 32) if a >= 1 << 31 else a for a in args]
    got = [v.value for v in plain.call(name, signed)]
    assert [g % (1 << 32) for g in got] == [w % (1 << 32) for w in want]
    out_c, gas_c = _gas(counted, name, signed)
    out_h, gas_h = _gas(header, name, signed)
    assert out_c == out_h == got
    assert gas_c == gas_h > 0


@pytest.mark.parametrize("name", sorted(PER_ITERATION))
def test_gas_is_exact_per_iteration_across_chunks(
    host: WasmHost, loops: WasmModule, name: str
) -> None:
    inst = host.create_instance(loops.id)
    args = {"up_ne": lambda k: [k], "down_by_two": lambda k: [2 * k],
            "strided": lambda k: [0, 5 * k, 5], "signed": lambda k: [-3 * k, 0]}[name]  # fmt: skip
    # k iterations: 1, 2, and around a chunk boundary (SLICE // cost iterations a chunk)
    k_chunk = SLICE // PER_ITERATION[name]
    used = {k: _gas(inst, name, args(k))[1] for k in (1, 2, k_chunk, k_chunk + 1, 3 * k_chunk + 2)}
    base = used[1] - PER_ITERATION[name]
    for k, gas in used.items():
        assert gas == base + k * PER_ITERATION[name], k


def test_a_timeout_stops_a_hoisted_loop(host: WasmHost, loops: WasmModule) -> None:
    inst = host.create_instance(loops.id, limits={"timeout_ms": 30})
    with pytest.raises(WasmTrap) as info:  # 2**32 - 1 iterations of a counted loop
        inst.call("up_ne", [-1])
    assert info.value.code == "timeout"
    again = host.create_instance(loops.id, limits={"timeout_ms": 30})
    with pytest.raises(WasmTrap) as info:  # step 0: charged one iteration at a time
        again.call("strided", [0, 100, 0])
    assert info.value.code == "timeout"
    other = host.create_instance(loops.id)
    assert other.call("up_ne", [10])[0].value == 45


def test_out_of_gas_in_a_hoisted_loop_uses_exactly_the_budget(
    host: WasmHost, loops: WasmModule
) -> None:
    inst = host.create_instance(loops.id, gas_limit=1_000_003)
    with pytest.raises(WasmTrap) as info:
        inst.call("down_by_two", [-2])  # 2**31 - 1 iterations, in chunks
    assert info.value.code == "out_of_gas"
    assert inst.gas_used == 1_000_003


def test_the_rewritten_module_validates() -> None:
    metered = meter_module(bytes(wasmtime.wat2wasm(LOOPS_WAT)))
    wasmtime.Module.validate(wasmtime.Engine(), metered)


def _iterations(name: str, args: list[int], cap: int) -> int | None:
    """How many times the loop body runs (the wasm semantics, 32-bit wrap), None past cap."""
    m = (1 << 32) - 1
    x, count = args[0] & m, 0
    while count <= cap:
        count += 1
        if name == "strided":
            x = (x + args[2]) & m
            if not x < args[1] & m:
                return count
        else:  # signed, step 3
            x = (x + 3) & m
            sx, sb = (x - (1 << 32) if x >> 31 else x), args[1]
            if not sx < sb:
                return count
    return None


def _edge_cases(n: int, seed: int = 20) -> list[tuple[str, list[int]]]:
    import random

    rng = random.Random(seed)
    edges = [0, 1, 2, 3, 2**31 - 4, 2**31 - 1, 2**31, 2**32 - 5, 2**32 - 1]
    cases: list[tuple[str, list[int]]] = []
    while len(cases) < n:
        name = rng.choice(["strided", "signed"])
        start = (rng.choice(edges) + rng.randint(-300, 3)) % 2**32
        step = rng.choice([1, 2, 3, 4, 7, 2**31, 2**32 - 1]) if name == "strided" else 3
        if rng.random() < 0.7:  # a bound some iterations away, maybe past a wrap
            bound = (start + rng.randint(0, 200) * step + rng.randint(-2, 2)) % 2**32
        else:
            bound = (rng.choice(edges) + rng.randint(-3, 3)) % 2**32
        args = [start, bound, step] if name == "strided" else [start - 2**31, bound - 2**31]
        if _iterations(name, args, 5000) is not None:
            cases.append((name, args))
    return cases


@pytest.mark.parametrize(("name", "args"), _edge_cases(40))
def test_counted_loops_at_the_edges_of_the_integer_range(
    host: WasmHost, per_iteration_host: WasmHost, name: str, args: list[int]
) -> None:
    """Bounds and starts near 0, 2**31 and 2**32 (where x may wrap): same result, same gas."""
    signed = [a - (1 << 32) if a >= 1 << 31 else a for a in args]
    plain = host.create_instance(host.load_module(LOOPS_WAT).id, metering=False,
                                 interruptible=False)  # fmt: skip
    counted = host.create_instance(host.load_module(LOOPS_WAT).id)
    header = per_iteration_instance(per_iteration_host, LOOPS_WAT)
    want = [v.value for v in plain.call(name, signed)]
    out_c, gas_c = _gas(counted, name, signed)
    out_h, gas_h = _gas(header, name, signed)
    assert out_c == out_h == want
    assert gas_c == gas_h
    if name == "strided":
        assert want[0] == _iterations(name, args, 5000)
