"""The four scaling policies replayed side by side on function populations.

Prints, per population, the policy x cold-start p50/p75 (per-function percentage of
invocations that started cold) x idle instance-seconds table, each figure also as a
ratio to ``reactive`` measured in the same run, and the issue's target for
``predictive`` (p75 cold starts at most half of reactive's, idle instance-seconds at
most reactive's, better than hybrid-histogram on both).

    .venv/bin/python benchmarks/replay_bench.py --populations reported-1,reported-2 \\
        --functions 1000 --days 14

Populations come from ``replay_populations.py``; tune on ``tuning-*`` only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _util import machine
from replay_populations import POPULATIONS, population

from constellation.predictive import REPLAY_POLICIES, ReplayConfig, simulate


def verdict(policies: dict[str, dict[str, float]]) -> str:
    r, p, h = policies["reactive"], policies["predictive"], policies["hybrid-histogram"]
    checks = {
        "p75 <= 0.5x reactive": p["cold_start_pct_p75"] <= 0.5 * r["cold_start_pct_p75"],
        "idle <= reactive": p["idle_instance_seconds"] <= r["idle_instance_seconds"],
        "p75 < hybrid": p["cold_start_pct_p75"] < h["cold_start_pct_p75"],
        "idle < hybrid": p["idle_instance_seconds"] < h["idle_instance_seconds"],
    }
    return ", ".join(f"{k}: {'yes' if ok else 'NO'}" for k, ok in checks.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--populations", default="reported-1,reported-2")
    ap.add_argument("--functions", type=int, default=1000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a ReplayConfig constant (tuning runs only)")  # fmt: skip
    ap.add_argument("--json", type=Path, help="also write the reports here")
    args = ap.parse_args()
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = type(getattr(ReplayConfig(), key))(value)
    config = ReplayConfig(**overrides)
    print(f"machine: {machine()} (shared with other sessions: figures are same-run ratios)")
    print(f"config overrides: {overrides or 'none'}")
    results = {}
    for name in args.populations.split(","):
        if name not in POPULATIONS:
            raise SystemExit(f"unknown population {name!r}; known: {', '.join(POPULATIONS)}")
        started = time.perf_counter()
        trace = population(name, args.functions, args.days)
        built = time.perf_counter() - started
        report = simulate(trace, "all", config).as_dict()
        results[name] = report
        pols = report["policies"]
        base = pols["reactive"]
        print(f"\n### {name}: {args.functions} functions, {args.days} days "
              f"({int(trace.invocations.sum())} invocations; built in {built:.0f} s)\n")  # fmt: skip
        print("| policy | cold % p50 | cold % p75 | p75 / reactive | idle instance-s | "
              "idle / reactive | cold starts | replay s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for policy in REPLAY_POLICIES:
            r = pols[policy]
            p75_ratio = r["cold_start_pct_p75"] / base["cold_start_pct_p75"]
            idle_ratio = r["idle_instance_seconds"] / base["idle_instance_seconds"]
            print(f"| {policy} | {r['cold_start_pct_p50']:.2f} | {r['cold_start_pct_p75']:.2f} | "
                  f"{p75_ratio:.2f} | {r['idle_instance_seconds']:.4g} | {idle_ratio:.2f} | "
                  f"{r['cold_starts']} | {r['wall_seconds']:.0f} |")  # fmt: skip
        print(f"\npredictive vs the target: {verdict(pols)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
