"""Execution speed: five C kernels compiled natively and to wasm32-wasi, run in one process.

Called by wasm_bench.py (or alone: ``.venv/bin/python benchmarks/wasm_bench_kernels.py``).
The set is fixed (matmul n=1024 double, n-body, sieve below 1e8, longest Collatz chain
below 3e6, SHA-256 over 256 MiB) so no kernel is picked for its result. Sources are in
tests/fixtures/wasm/kernels; each is compiled here with Debian's clang at -O2, natively
(x86-64, SSE2 as the default) and to wasm32-wasi with -msimd128. Each kernel times itself
(CLOCK_MONOTONIC around the kernel only, so compile and start-up are excluded) and prints a
checksum that must match between native and wasm. Runs are interleaved and the best of
``repeats`` is kept for each side, which filters out the noise of a shared machine.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

from constellation.wasm import WasmHost

KERNELS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "wasm" / "kernels"
SIZES = {"matmul": 1024, "nbody": 5_000_000, "sieve": 100_000_000, "collatz": 3_000_000,
         "sha256": 256}  # fmt: skip
QUICK = {"matmul": 256, "nbody": 500_000, "sieve": 10_000_000, "collatz": 300_000, "sha256": 16}
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
SIDES = {"wasm": (False, False), "epoch": (False, True), "gas": (True, True)}


def run_wasm(host: WasmHost, module_id: str, size: int, side: str) -> tuple[str, float]:
    metering, interruptible = SIDES[side]
    inst = host.create_instance(module_id, wasi={"argv": ["kernel", str(size)]},
                                metering=metering, interruptible=interruptible,
                                limits={"max_memory": 1 << 30})  # fmt: skip
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
    repeats = 2 if quick else 3
    try:
        built = build(workdir)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"\nkernels skipped: {exc}")
        return
    print(f"\nExecution speed (best of {repeats}, interleaved; a ratio native/wasm > 1 means "
          "wasm is faster). wasm: no gas, no timeouts; +timeouts: epoch interruption; "
          "+gas: fuel metering too (the default instance)\n")  # fmt: skip
    print("| kernel | size | native s | wasm s | native/wasm | +timeouts s | native/(+timeouts) "
          "| +gas+timeouts s | native/(+gas) | compile s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {side: [] for side in SIDES}
    for name, (native_path, wasm_path) in built.items():
        t0 = time.perf_counter()
        module = host.load_module(wasm_path)  # compiled ahead of time (default engine)
        for metering, interruptible in SIDES.values():
            host.precompile(module.id, metering=metering, interruptible=interruptible)
        compile_s = (time.perf_counter() - t0) / len(SIDES)
        best = {"native": math.inf, **{side: math.inf for side in SIDES}}
        sums = set()
        for _ in range(repeats):
            for side in best:
                if side == "native":
                    checksum, secs = run_native(native_path, sizes[name])
                else:
                    checksum, secs = run_wasm(host, module.id, sizes[name], side)
                sums.add(checksum)
                best[side] = min(best[side], secs)
        if len(sums) != 1:
            raise RuntimeError(f"{name}: native and wasm disagree: {sorted(sums)}")
        cells = []
        for side in SIDES:
            ratio = best["native"] / best[side]
            ratios[side].append(ratio)
            cells.append(f"{best[side]:.3f} | {ratio:.2f}")
        print(f"| {name} | {sizes[name]:,} | {best['native']:.3f} | {' | '.join(cells)} | "
              f"{compile_s:.2f} |", flush=True)  # fmt: skip
    means = " | ".join(f"| **{geomean(ratios[side]):.2f}**" for side in SIDES)
    print(f"| **geometric mean** | | {means} | |")
    print("\nseed claim: 95-98% of native; target: geometric mean native/wasm >= 0.90 without "
          "metering; compile s is per engine configuration")  # fmt: skip


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp) / "cache") as h:
        run_kernels(h, Path(tmp), quick="--quick" in sys.argv)
