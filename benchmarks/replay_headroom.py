"""How much idle time the replay's 75th-percentile target leaves, per population.

For a population and a cold-start share ``c`` (the hybrid policy's p75 to beat), prints
per function kind each policy's idle instance-seconds against the floor every policy
pays (each minute's ``ceil(concurrency)`` instances) and how many functions end under
``c``; then the estimate behind BENCHMARKS.md's "why not": with the functions a policy
already has under ``c`` kept as they are, how many more the 75th percentile needs, and
what those cost at the least: a memoryless (Poisson) function needs an instance warm in
about ``1 - c`` of its minutes to have only ``c`` of its calls cold (its calls fall in
any minute alike), so each costs ``(1 - c) * 60`` s a minute from its first call, less
its active minutes; the cheapest such functions first.

    .venv/bin/python benchmarks/replay_headroom.py --population tuning-2 --functions 200 \\
        --days 14 --target 2.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from replay_populations import POPULATIONS, population

from constellation.predictive import ReplayConfig
from constellation.predictive._replay import needed_instances
from constellation.predictive._replay_policies import make_policy


def per_function(trace, needed, name: str) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Cold starts and idle instance-seconds of each function under policy ``name``."""
    policy = make_policy(name, trace, needed, ReplayConfig())
    busy = trace.invocations * trace.duration_ms / 1000.0
    warm = np.zeros(needed.shape[0], dtype=np.int64)
    cold, idle = np.zeros(needed.shape[0]), np.zeros(needed.shape[0])
    for t in range(needed.shape[1]):
        cold += np.maximum(needed[:, t] - warm, 0)
        alive = np.maximum(warm, needed[:, t])
        idle += np.maximum(alive * 60.0 - busy[:, t], 0.0)
        warm = policy.after_minute(t, needed[:, t], alive)
    return cold, idle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--population", choices=list(POPULATIONS), default="tuning-1")
    ap.add_argument("--functions", type=int, default=200)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--target", type=float, default=2.5, help="cold-start %% to be under")
    ap.add_argument("--policies", default="reactive,predictive")
    args = ap.parse_args()
    trace = population(args.population, args.functions, args.days)
    needed = needed_instances(trace)
    busy = trace.invocations * trace.duration_ms / 1000.0
    floor = np.maximum(needed * 60.0 - busy, 0.0).sum(axis=1)
    calls = trace.invocations.sum(axis=1)
    kinds = np.array([n.rsplit("-", 1)[0] for n in trace.functions])
    called = calls > 0
    c = args.target / 100.0
    first = np.argmax(needed > 0, axis=1)
    active = (needed > 0).sum(axis=1)
    memoryless_cost = (1 - c) * 60.0 * (trace.minutes - first) - 60.0 * active
    results = {}
    for name in args.policies.split(","):
        cold, idle = per_function(trace, needed, name)
        results[name] = idle.sum()
        pct = 100.0 * np.minimum(cold, calls) / np.maximum(calls, 1)
        under = called & (pct < args.target)
        print(f"\n{args.population} {args.functions}x{args.days}d, {name}: idle {idle.sum():.3g}, "
              f"floor {floor.sum():.3g}, functions under {args.target}%: {under.sum()} of {called.sum()}")  # fmt: skip
        for kind in sorted(set(kinds)):
            k = kinds == kind
            print(f"  {kind:12s} {k.sum():4d} functions, {(under & k).sum():4d} under; idle "
                  f"{idle[k].sum():.3g} (floor {floor[k].sum():.3g})")  # fmt: skip
        need = int(np.ceil(0.75 * called.sum())) - int(under.sum())
        sparse = (
            called & ~under & (kinds == "sparse") & (100.0 / np.maximum(calls, 1) < args.target)
        )
        others = called & ~under & (kinds != "sparse")
        least = np.sort(memoryless_cost[sparse])[: max(0, need - int(others.sum()))].sum()
        above = (idle - floor)[under].sum()
        print(f"  the 75th percentile needs {need} more functions under {args.target}%; "
              f"{others.sum()} non-sparse candidates (counted as free), the rest sparse: "
              f"at least {least:.3g} idle-s; the functions already under spend {above:.3g} "
              f"above their floor")  # fmt: skip
    if "reactive" in results:
        print(f"\nreactive's idle above the floor: {results['reactive'] - floor.sum():.3g}")


if __name__ == "__main__":
    main()
