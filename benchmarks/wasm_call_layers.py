"""The seed call's cost layer by layer, in thread CPU time (less moved by a loaded machine).

    PYTHONPATH=src .venv/bin/python benchmarks/wasm_call_layers.py

Times ``wasm.call_function(inst, "add", [1, 2])`` on the default instance (gas and a
timeout on), then each layer under it (``inst.call``, ``inst._run``, ``inst._invoke``,
``FastFunc.call``), against wasmtime-py's generic ``Func.__call__`` in the same process:
best of 9 rounds of 20,000 calls, interleaved. Run it against two checkouts in turn
(``PYTHONPATH=<checkout>/src``) to compare them; the ratio column is what compares.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import wasmtime

from constellation import wasm
from constellation.wasm import WasmHost

ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'


def main(rounds: int = 9, n: int = 20_000) -> None:
    with WasmHost() as host:
        inst = host.create_instance(host.load_module(ADD).id)
        fast = inst._fast("add")  # type: ignore[attr-defined]
        store = wasmtime.Store()
        w_inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasmtime.wat2wasm(ADD)), [])
        func = w_inst.exports(store)["add"]
        assert isinstance(func, wasmtime.Func)
        vals = [1, 2]
        cases: dict[str, Callable[[], object]] = {
            "wasmtime-py generic": lambda: func(store, 1, 2),
            "call_function": lambda: wasm.call_function(inst, "add", vals),
            "inst.call": lambda: inst.call("add", vals),
            "inst._run": lambda: inst._run("add", vals),  # type: ignore[attr-defined]
            "inst._invoke": lambda: inst._invoke(fast, vals),  # type: ignore[attr-defined]
            "FastFunc.call": lambda: fast.call(vals, "x"),
            "empty lambda": lambda: None,
        }
        best = dict.fromkeys(cases, float("inf"))
        for _ in range(rounds):
            for name, body in cases.items():
                t0 = time.thread_time()
                for _ in range(n):
                    body()
                best[name] = min(best[name], (time.thread_time() - t0) / n)
        g = best["wasmtime-py generic"]
        print("| layer | us (thread CPU) | / generic |\n|---|---|---|")
        for name, secs in best.items():
            print(f"| {name} | {secs * 1e6:.3f} | {secs / g:.4f}x |")


if __name__ == "__main__":
    main()
