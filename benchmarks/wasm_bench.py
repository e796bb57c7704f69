"""WASM instances: cold start, start from snapshot, call overhead, memory per instance,
and (from wasm_bench_kernels.py) execution speed against native code.

    .venv/bin/python benchmarks/wasm_bench.py            # everything (a few minutes)
    .venv/bin/python benchmarks/wasm_bench.py --quick    # smaller sizes and counts
    .venv/bin/python benchmarks/wasm_bench.py --skip-kernels

Every figure is printed next to its peer measured in the same run (wasmtime-py's own
API, the raw C-API call, native code) and next to the seed's claim. The machine is
shared and noisy: medians of many runs for the short figures, the best of several runs
for the kernels. Speed targets are shown here and never asserted in tests.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
from wasmtime import _bindings as raw
from wasmtime import _ffi as ffi

from constellation import wasm
from constellation.wasm import WasmHost
from constellation.wasm._engine import wasmtime_version

ADD_WAT = (
    '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'
)
# 17 pages; init() touches exactly 1 MiB (16 pages) so a snapshot holds 1 MiB of state.
TOUCH_WAT = """(module (memory (export "memory") 17)
  (func (export "wizer.initialize") (local i32)
    (loop (i32.store (local.get 0) (i32.add (local.get 0) (i32.const 1)))
      (local.set 0 (i32.add (local.get 0) (i32.const 4)))
      (br_if 0 (i32.lt_u (local.get 0) (i32.const 1048576)))))
  (func (export "get") (param i32) (result i32) local.get 0 i32.load))"""
# One page of memory, written and read by every call (so a page of it is resident).
PROBE_WAT = """(module (memory 1) (func (export "f") (result i32)
  (i32.store (i32.const 0) (i32.const 1)) (i32.load (i32.const 0))))"""


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def row(figure: str, ours: str, peer: str, ratio: str, seed: str, target: str) -> None:
    print(f"| {figure} | {ours} | {peer} | {ratio} | {seed} | {target} |", flush=True)


def bench_cold_start(host: WasmHost, n: int) -> None:
    m = host.load_module(ADD_WAT)  # compiled ahead of time into the disk cache

    def ours() -> None:
        inst = host.create_instance(m.id)
        inst.call("add", [1, 2])
        host.destroy_instance(inst)

    engine = wasmtime.Engine()
    compiled = wasmtime.Module(engine, wasmtime.wat2wasm(ADD_WAT))

    def peer() -> None:
        store = wasmtime.Store(engine)
        inst = wasmtime.Instance(store, compiled, [])
        inst.exports(store)["add"](store, 1, 2)  # type: ignore[operator]

    handle = host.engine()

    def from_disk() -> None:
        handle.forget(m.id)  # next instance maps the .cwasm with Module.deserialize_file
        ours()

    a, b, c = p50(timed(ours, n)), p50(timed(peer, n)), p50(timed(from_disk, n // 4 or 1))
    row("cold start p50 (precompiled in memory -> instance -> first call)",
        f"{a * 1e3:.3f} ms", f"{b * 1e3:.3f} ms (wasmtime-py Store+Instance+call)",
        f"{a / b:.2f}x peer", "< 50 ms", "<= 1 ms")  # fmt: skip
    row("cold start p50 from the disk cache (deserialize_file -> instance -> call)",
        f"{c * 1e3:.3f} ms", f"{b * 1e3:.3f} ms", f"{c / b:.2f}x peer", "< 50 ms", "<= 1 ms")  # fmt: skip


def bench_snapshot_start(host: WasmHost, n: int) -> None:
    """A WASM function with cold_start_optimization: its handler's instances start from the
    snapshot taken after the module's initializer (WasmHandler(init_snapshot=True)),
    against what that saves: a fresh instance running the initializer."""
    m = host.load_module(TOUCH_WAT)
    snap = host.init_snapshot(m.id)  # what the function's first cold start makes, once
    assert snap.stored_bytes == 1 << 20, snap.stored_bytes

    def ours() -> None:
        inst = host.create_instance(m.id, from_snapshot=snap)
        inst.call("get", [4096])
        host.destroy_instance(inst)

    def peer() -> None:  # what the snapshot saves: a fresh instance running init
        inst = host.create_instance(m.id)
        inst.call("wizer.initialize")
        inst.call("get", [4096])
        host.destroy_instance(inst)

    best_a = best_b = float("inf")
    for _ in range(3):  # interleaved rounds
        best_a = min(best_a, p50(timed(ours, n)))
        best_b = min(best_b, p50(timed(peer, n)))
    row("WASM function cold start from its init snapshot (1 MiB initialised), p50",
        f"{best_a * 1e3:.3f} ms", f"{best_b * 1e3:.3f} ms (fresh instance + initializer)",
        f"{best_b / best_a:.1f}x faster", "< 5 ms", "<= 0.5 ms")  # fmt: skip


def bench_call_overhead(host: WasmHost, n: int) -> None:
    """The seed's call, ``call_function(instance, "add", [1, 2])``, against wasmtime-py's
    generic ``Func.__call__`` and the bare C call, interleaved, best of several rounds."""
    m = host.load_module(ADD_WAT)
    inst = host.create_instance(m.id)  # the default instance: gas and timeout on
    limited = host.create_instance(m.id)  # the seed's order: limits, then a gas limit
    host.set_resource_limits(limited, {"max_memory": 64 * 1024 * 1024,
                                       "max_instructions": 1_000_000})  # fmt: skip
    limited.set_gas_limit(10**15)
    typed = [{"type": "i32", "value": 1}, {"type": "i32", "value": 2}]

    store = wasmtime.Store()
    w_inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasmtime.wat2wasm(ADD_WAT)), [])
    func = w_inst.exports(store)["add"]
    assert isinstance(func, wasmtime.Func)
    args = (ffi.wasmtime_val_t * 2)()
    rets = (ffi.wasmtime_val_t * 1)()
    args[0].kind = args[1].kind = ffi.WASMTIME_I32
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    # The cheapest call ctypes can make: every argument a plain address, no checks at all.
    call = ctypes.CFUNCTYPE(ctypes.c_void_p, *[ctypes.c_void_p] * 3, ctypes.c_size_t,
                            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)(
        ("wasmtime_func_call", raw.dll))  # fmt: skip
    ctx = ctypes.cast(store._context(), ctypes.c_void_p).value
    fref, aref, rref = ctypes.addressof(func._func), ctypes.addressof(args), ctypes.addressof(rets)
    tref = ctypes.addressof(trap)
    a0, a1 = args[0].of, args[1].of

    def floor() -> None:
        a0.i32 = 1
        a1.i32 = 2
        call(ctx, fref, aref, 2, rref, 1, tref)

    call_raw = inst.call_raw  # type: ignore[attr-defined]
    cases: dict[str, Callable[[], object]] = {
        "generic": lambda: func(store, 1, 2),
        "plain": lambda: wasm.call_function(inst, "add", [1, 2]),
        "limited": lambda: wasm.call_function(limited, "add", [1, 2]),
        "typed": lambda: wasm.call_function(inst, "add", typed),
        "raw": lambda: call_raw("add", 1, 2),
        "floor": floor,
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(7):  # interleaved rounds: a burst of load hits every case alike
        for name, body in cases.items():
            t0 = time.perf_counter()
            for _ in range(n):
                body()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    g = best["generic"]
    peer = f"{g * 1e6:.2f} us (wasmtime-py Func.__call__)"
    row(
        "seed call, call_function(i, 'add', [1, 2]), default instance (gas + timeout on)",
        f"{best['plain'] * 1e6:.2f} us",
        peer,
        f"{best['plain'] / g:.3f}x",
        "-",
        "<= 0.12x",
    )
    row(
        "seed call after set_resource_limits + set_gas_limit",
        f"{best['limited'] * 1e6:.2f} us",
        peer,
        f"{best['limited'] / g:.3f}x",
        "-",
        "<= 0.16x",
    )
    row(
        "seed call with typed dicts",
        f"{best['typed'] * 1e6:.2f} us",
        peer,
        f"{best['typed'] / g:.3f}x",
        "-",
        "-",
    )
    row(
        "instance.call_raw (plain numbers out)",
        f"{best['raw'] * 1e6:.2f} us",
        peer,
        f"{best['raw'] / g:.3f}x",
        "-",
        "-",
    )
    row("bare ctypes C-API call, no checks (the floor)", f"{best['floor'] * 1e6:.2f} us", peer,
        f"{best['floor'] / g:.3f}x", "-", "-")  # fmt: skip


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_probe(count: int) -> None:
    """Run in a fresh process: print RSS growth per instance and linear memory per instance."""
    with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp) / "cache") as host:
        m = host.load_module(
            '(module (memory 1) (func (export "f") (result i32) i32.const 0 i32.load))'
        )
        warm = [host.create_instance(m.id) for _ in range(50)]  # allocator, code, caches
        for i in warm:
            i.call("f")
        gc.collect()
        before = _rss()
        insts = [host.create_instance(m.id) for _ in range(count)]
        for i in insts:
            i.call("f")  # a first call touches linear memory like real work
        gc.collect()
        print((_rss() - before) / count, insts[0].memory_size)


def bench_memory(count: int) -> None:
    out = subprocess.run([sys.executable, __file__, "--memory-probe", str(count)],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    per, linear = float(out[0]), int(out[1])
    row("memory per instance (RSS growth, includes touched linear memory)",
        f"{per / 1024:.0f} KiB", f"{linear / 1024:.0f} KiB linear memory each, {count} instances",
        f"{per / 2**20:.2f} of the 1 MiB limit", "~10 MB", "<= 1 MiB beyond linear memory")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs")
    ap.add_argument("--skip-kernels", action="store_true", help="only the short figures")
    ap.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.memory_probe:
        memory_probe(opts.memory_probe)
        return
    n = 200 if opts.quick else 1000
    print(f"# wasm_bench: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"wasmtime {wasmtime_version()}", flush=True)  # fmt: skip
    print("\n| figure | constellation.wasm | peer, same run | ratio | seed claim | target |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp) / "cache") as host:
        bench_cold_start(host, n)
        bench_snapshot_start(host, n // 2)
        bench_call_overhead(host, 20_000 if opts.quick else 100_000)
        bench_memory(200 if opts.quick else 1000)
        if not opts.skip_kernels:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from wasm_bench_kernels import run_kernels

            run_kernels(host, Path(tmp), quick=opts.quick)


if __name__ == "__main__":
    main()
