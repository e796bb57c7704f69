"""The sandbox per function, on and off in the same run (docs/security.md).

For each mode, interleaved over ``--rounds`` rounds on the same machine:

* ``create_ms``: creating a function, which loads its code in a throw-away worker: with
  the sandbox on this starts the function's bubblewrap sandbox first (bwrap, a Python
  start, the worker runtime imported: the sandboxed zygote's start); off, the worker is
  forked from the shared zygote that is already up;
* ``first_call_ms``: the first call of that new function (a cold start);
* ``cold_start_ms``: a cold start once the function's zygote is up (scaled to zero,
  then called): a fork, the module import, the ready message;
* ``warm_us``: a call on a warm instance.

Usage: ``python benchmarks/sandbox_bench.py [--quick]`` (writes benchmarks/out/sandbox.json).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _util import percentiles, report

from constellation.backends import detect_isolation
from constellation.platform import Constellation

HANDLER = "def noop(event, context):\n    return None\n"


def measure(mode: str, code: Path, n_first: int, n_cold: int, n_warm: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp()) / "home"
    with Constellation(home, sandbox=mode, reaper_interval_s=3600.0) as p:
        s = p.serverless
        s.create_function("warmup", "python", "noop", str(code))
        s.invoke_sync("warmup")  # the shared zygote (off) is up, imports are warm
        first, create = [], []
        for k in range(n_first):
            t = time.perf_counter()
            f = s.create_function(f"first-{k}", "python", "noop", str(code))
            create.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            r = s.invoke_sync(f.id)
            first.append((time.perf_counter() - t) * 1e3)
            assert r.ok and r.cold_start, r
        policy = {"idle_timeout_s": 0}
        f = s.create_function("cold", "python", "noop", str(code), scaling_policy=policy)
        s.invoke_sync(f.id)
        cold = []
        for _ in range(20 * n_cold):  # bounded: a reaper that never finds it idle fails below
            if len(cold) >= n_cold:
                break
            time.sleep(0.002)  # idle for longer than the policy's 0 s
            s.reap_idle()  # scale to zero; the function's zygote stays
            t = time.perf_counter()
            r = s.invoke_sync(f.id)
            elapsed = (time.perf_counter() - t) * 1e3
            assert r.ok, r
            if r.cold_start:  # the reaper may find it busy a moment longer: not a sample
                cold.append(elapsed)
        assert len(cold) == n_cold, f"only {len(cold)} cold starts in {20 * n_cold} tries"
        warm = []
        s.invoke_sync(f.id)
        for _ in range(n_warm):
            t = time.perf_counter()
            s.invoke_sync(f.id)
            warm.append((time.perf_counter() - t) * 1e6)
    return {"create": create, "first_call": first, "cold_start": cold, "warm": warm}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n_first, n_cold, n_warm = (5, 20, 500) if args.quick else (10, 50, 2000)
    isolation = detect_isolation("auto")
    if not isolation.sandboxed:
        raise SystemExit(f"no sandbox on this machine: {isolation.describe()}")
    code = Path(tempfile.mkdtemp()) / "bench_sandbox.py"
    code.write_text(HANDLER)
    samples: dict[str, dict[str, list[float]]] = {
        m: {"create": [], "first_call": [], "cold_start": [], "warm": []} for m in ("off", "on")
    }
    for _ in range(args.rounds):  # interleaved: load changes hit both modes alike
        for mode in ("off", "on"):
            for key, values in measure(mode, code, n_first, n_cold, n_warm).items():
                samples[mode][key].extend(values)
    results: dict[str, Any] = {"isolation": isolation.describe(), "rounds": args.rounds}
    for mode in ("off", "on"):
        results[f"sandbox_{mode}"] = {
            "create_ms": percentiles(samples[mode]["create"]),
            "first_call_ms": percentiles(samples[mode]["first_call"]),
            "cold_start_ms": percentiles(samples[mode]["cold_start"]),
            "warm_us": percentiles(samples[mode]["warm"]),
        }
    on, off = results["sandbox_on"], results["sandbox_off"]
    results["ratio_on_over_off_p50"] = {
        key: round(on[key]["p50"] / off[key]["p50"], 3)
        for key in ("create_ms", "first_call_ms", "cold_start_ms", "warm_us")
    }
    report("sandbox", results)


if __name__ == "__main__":
    main()
