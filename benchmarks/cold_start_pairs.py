"""Interleaved pairs of short cold-start and warm-call runs, one checkout against another.

Run: ``.venv/bin/python benchmarks/cold_start_pairs.py --before ../before --after . --pairs 30``

``ab_compare.py`` over ``serverless_bench.py`` gives each figure as many pairs as rounds
(a round is a minute or more), and on a 2-core machine a cold start's p50 moves by 5-10 %
between runs, so six rounds cannot tell a 5 % change from noise. This runs only the
figures that move that little, as ``serverless_bench.py`` measures them, in a run of
about a second: ``--warm`` warm ``invoke_sync`` calls of a no-op function, then
``--cold`` cold starts with cold-start optimisation and as many without (each after
``reap_idle()``, so the call finds no instance). Each side uses its own checkout's
interpreter (``CHECKOUT/.venv/bin/python``) and the same loop (API every release has);
the sides swap order every pair. Printed per figure: the median of the pairs'
after/before p50s, its distribution-free 95% interval and the sign test's p, as
``throughput_pairs.py`` does. The sandbox is off on both sides: releases before the
per-function sandbox have none (``sandbox_bench.py`` measures what it costs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path

from _util import interleaved_pairs, median_interval, sign_test

LOOP = """
import json, statistics, sys, tempfile, time
from pathlib import Path
from constellation.platform import Constellation
n_warm, n_cold = int(sys.argv[1]), int(sys.argv[2])
code = Path(tempfile.mkdtemp()) / "noop.py"
code.write_text("def noop(event, context):\\n    return None\\n")
out = {}
with tempfile.TemporaryDirectory() as home, Constellation(home) as p:
    s = p.serverless
    s.init()
    s.autoscaler.close()  # no real-time ticks between the calls, as serverless_bench.py
    f = s.create_function("warm", "python", "noop", str(code))
    s.deploy_function(f.id)
    samples = []
    for _ in range(n_warm):
        t = time.perf_counter()
        s.invoke_sync(f.id)
        samples.append(time.perf_counter() - t)
    out["warm_p50_us"] = statistics.median(samples) * 1e6
    for optimised in (True, False):
        name = "cold_optimised_p50_ms" if optimised else "cold_plain_p50_ms"
        f = s.create_function(name.replace("_", "-"), "python", "noop", str(code),
                              scaling_policy={"idle_timeout_s": 0})
        s.deploy_function(f.id)
        if optimised:
            s.enable_cold_start_optimization(f.id)
        s.invoke_sync(f.id)
        samples = []
        for _ in range(n_cold):
            s.reap_idle()  # scale to zero: the next call is a cold start
            t = time.perf_counter()
            r = s.invoke_sync(f.id)
            samples.append(time.perf_counter() - t)
            assert r.cold_start and r.ok, r
        out[name] = statistics.median(samples) * 1e3
print(json.dumps(out))
"""


def run(checkout: Path, warm: int, cold: int) -> dict[str, float]:
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", LOOP, str(warm), str(cold)],
        cwd="/tmp",
        env={**os.environ, "CONSTELLATION_SANDBOX": "off"},
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--warm", type=int, default=3000, help="warm calls per run")
    parser.add_argument("--cold", type=int, default=300, help="cold starts of each kind per run")
    args = parser.parse_args()
    pairs = interleaved_pairs(
        args.pairs,
        lambda: run(args.before.resolve(), args.warm, args.cold),
        lambda: run(args.after.resolve(), args.warm, args.cold),
    )
    report: dict[str, object] = {"pairs": len(pairs)}
    for key in pairs[0][0]:
        ratios = [after[key] / before[key] for before, after in pairs]
        low, high = median_interval(ratios)
        report[key] = {
            "before": round(statistics.median(b[key] for b, _ in pairs), 3),
            "after": round(statistics.median(a[key] for _, a in pairs), 3),
            "median_ratio": round(statistics.median(ratios), 3),
            "median_ci95": [round(low, 3), round(high, 3)],
            "below_1": sum(1 for r in ratios if r < 1.0),
            "sign_test_p": round(sign_test(ratios), 4),
        }
        print(
            f"{key}: after/before {statistics.median(ratios):.3f} "
            f"(95% {low:.3f}-{high:.3f}, p = {sign_test(ratios):.3g})"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
