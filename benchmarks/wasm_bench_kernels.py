"""Execution speed: seven C kernels compiled natively and to wasm32-wasi, run in one process.

Called by wasm_bench.py (or alone: ``.venv/bin/python benchmarks/wasm_bench_kernels.py``).
The set is fixed (matmul n=1024 double, n-body, sieve below 1e8, longest Collatz chain
below 3e6, SHA-256 over 256 MiB, a JSON parser over a 1 MiB document, a 5x5 blur + Sobel
image filter on 1024x768) so no kernel is picked for its result.

Columns, all in the same run: native; wasm with metering off (no gas, no timeouts);
wasm with metering on (gas and timeouts, the default instance: the counter compiled in
by ``constellation.wasm._metering``); and, as the peer, wasmtime's own fuel + epoch
interruption (how metering worked before), run through wasmtime-py directly. Sources are in
tests/fixtures/wasm/kernels; each is compiled here with Debian's clang at -O2, natively
(x86-64, SSE2 as the default) and to wasm32-wasi with -msimd128. Each kernel times itself
(CLOCK_MONOTONIC around the kernel only, so compile and start-up are excluded) and prints a
checksum that must match between native and wasm. Runs are interleaved and the best of
``repeats`` is kept for each side (3, or ``$WASM_BENCH_REPEATS``), which filters out the
noise of a shared machine.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from constellation.wasm import WasmHost

KERNELS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "wasm" / "kernels"
SIZES = {"matmul": 1024, "nbody": 5_000_000, "sieve": 100_000_000, "collatz": 3_000_000,
         "sha256": 256, "jsonparse": 1000, "imgfilter": 300}  # fmt: skip
QUICK = {"matmul": 384, "nbody": 1_000_000, "sieve": 20_000_000, "collatz": 600_000,
         "sha256": 32, "jsonparse": 150, "imgfilter": 40}  # fmt: skip
DEBIAN = "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"


def build(out: Path) -> dict[str, tuple[Path, Path]]:
    clang = shutil.which("clang")
    if clang is None:
        raise RuntimeError(f"clang not found: {DEBIAN}")
    built = {}
    for name in SIZES:
        src = KERNELS / f"{name}.c"
        native, wasm = out / name, out / f"{name}.wasm"
        subprocess.run([clang, "-O2", "-o", str(native), str(src), "-lm"], check=True)
        subprocess.run([clang, "--target=wasm32-wasi", "-O2", "-msimd128", "-o", str(wasm),
                        str(src)], check=True)  # fmt: skip
        built[name] = (native, wasm)
    return built


def _parse(text: str, who: str) -> tuple[str, float]:
    checksum, seconds = text.split()
    return checksum, float(seconds)


def run_native(path: Path, size: int) -> tuple[str, float]:
    out = subprocess.run([str(path), str(size)], capture_output=True, text=True, check=True)
    return _parse(out.stdout, "native")


# Engine settings per column: (metering, interruptible).
SIDES = {"off": (False, False), "on": (True, True)}


def run_wasmtime_fuel(wasm: Path, size: int) -> tuple[str, float]:
    """The peer: wasmtime's fuel and epoch interruption, as wasmtime-py offers them."""
    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_fuel(2**62)
    store.set_epoch_deadline(2**62)
    with tempfile.TemporaryDirectory() as tmp:
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["kernel", str(size)]
        wasi.stdout_file = str(Path(tmp) / "out")
        store.set_wasi(wasi)
        inst = linker.instantiate(store, wasmtime.Module(engine, wasm.read_bytes()))
        start = inst.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            if exc.code != 0:
                raise RuntimeError(f"wasm kernel exited {exc.code}") from None
        return _parse((Path(tmp) / "out").read_text(), "wasmtime")


def run_wasm(host: WasmHost, module_id: str, size: int, side: str) -> tuple[str, float]:
    metering, interruptible = SIDES[side]
    # Metering on: the counter runs and a timeout is armed (the watchdog polls), but the
    # defaults (10 s, 10**11 gas per call) are for untrusted calls, not long kernels.
    limits: dict[str, object] = {"max_memory": 1 << 30}
    if metering:
        limits |= {"max_instructions": None, "timeout_ms": 3_600_000}
    inst = host.create_instance(module_id, wasi={"argv": ["kernel", str(size)]},
                                metering=metering, interruptible=interruptible,
                                limits=limits)  # fmt: skip
    try:
        result = inst.run_command()  # type: ignore[attr-defined]
    finally:
        host.destroy_instance(inst)
    if result.exit_code != 0:
        raise RuntimeError(f"wasm kernel exited {result.exit_code}: {result.stderr!r}")
    return _parse(result.stdout.decode(), "wasm")


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def run_kernels(host: WasmHost, workdir: Path, *, quick: bool = False) -> None:
    sizes = QUICK if quick else SIZES
    repeats = 2 if quick else int(os.environ.get("WASM_BENCH_REPEATS", "3"))
    try:
        built = build(workdir)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"\nkernels skipped: {exc}")
        return
    print(f"\nExecution speed (best of {repeats}, interleaved; a ratio native/wasm > 1 means "
          "wasm is faster). off: no gas, no timeouts; on: gas + timeouts compiled in (the "
          "default instance); peer: wasmtime fuel + epoch interruption\n")  # fmt: skip
    print("| kernel | size | native s | off s | native/off | on s | native/on | on/off "
          "| peer s | native/peer | compile s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    columns = [*SIDES, "peer"]
    ratios: dict[str, list[float]] = {side: [] for side in [*columns, "on/off"]}
    for name, (native_path, wasm_path) in built.items():
        t0 = time.perf_counter()
        module = host.load_module(wasm_path)  # compiled ahead of time (default engine)
        for metering, interruptible in SIDES.values():
            host.precompile(module.id, metering=metering, interruptible=interruptible)
        compile_s = (time.perf_counter() - t0) / len(SIDES)
        best = {"native": math.inf, **{side: math.inf for side in columns}}
        sums = set()
        for _ in range(repeats):
            for side in best:
                if side == "native":
                    checksum, secs = run_native(native_path, sizes[name])
                elif side == "peer":
                    checksum, secs = run_wasmtime_fuel(wasm_path, sizes[name])
                else:
                    checksum, secs = run_wasm(host, module.id, sizes[name], side)
                sums.add(checksum)
                best[side] = min(best[side], secs)
        if len(sums) != 1:
            raise RuntimeError(f"{name}: native and wasm disagree: {sorted(sums)}")
        for side in columns:
            ratios[side].append(best["native"] / best[side])
        ratios["on/off"].append(best["off"] / best["on"])
        print(f"| {name} | {sizes[name]:,} | {best['native']:.3f} | {best['off']:.3f} | "
              f"{ratios['off'][-1]:.2f} | {best['on']:.3f} | {ratios['on'][-1]:.2f} | "
              f"{ratios['on/off'][-1]:.2f} | {best['peer']:.3f} | {ratios['peer'][-1]:.2f} | "
              f"{compile_s:.2f} |", flush=True)  # fmt: skip
    g = {side: geomean(values) for side, values in ratios.items()}
    print(
        f"| **geometric mean** | | | | **{g['off']:.2f}** | | **{g['on']:.2f}** | "
        f"**{g['on/off']:.2f}** | | **{g['peer']:.2f}** | |"
    )
    print("\nseed claim: 95-98% of native; target: geometric mean native/wasm >= 0.90 with "
          "metering on; compile s is per engine configuration")  # fmt: skip


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp) / "cache") as h:
        run_kernels(h, Path(tmp), quick="--quick" in sys.argv)
