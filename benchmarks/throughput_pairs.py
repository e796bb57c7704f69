"""Interleaved pairs of the in-process throughput loop, one checkout against another.

Run: ``.venv/bin/python benchmarks/throughput_pairs.py --before ../before --after . --pairs 8
[--same-work]``

``serverless_bench.py``'s throughput figure (8 threads calling a no-op function with two
instances, as fast as they can) moves by 20-30 % between runs on a 2-core machine, and
``ab_compare.py`` over the whole script gives it only as many pairs as rounds. This runs
that loop alone, B then A, ``--pairs`` times, each side with its own checkout's
interpreter (``CHECKOUT/.venv/bin/python``) and the same loop (it uses only API that
every release has), and prints each pair's after/before and their median. The two
sides swap order every pair, so a machine getting busier or quieter within a pair moves
both alike. "Beyond noise" is made explicit: the sign test's two-sided p-value (how
often as many pairs would fall on one side of 1.0 with no difference at all) and a 95%
confidence interval of the median ratio from the pairs' order statistics (distribution
free: pairs on a shared machine are not normally distributed).

``--same-work`` wires the platform's default anomaly detectors on both sides (by reading
``Constellation.anomaly`` before the loop). Without it each side does what its library
mode does: since issue 14 a plain ``Constellation`` feeds the detectors on first use, as
``serve`` always did, while earlier releases fed them only under ``serve``; so the plain
A/B includes that feature's cost and ``--same-work`` compares the same work.
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
import sys, tempfile, threading, time
from pathlib import Path
from constellation.platform import Constellation
code = Path(tempfile.mkdtemp()) / "noop.py"
code.write_text("def noop(event, context):\\n    return None\\n")
with tempfile.TemporaryDirectory() as home, Constellation(home) as p:
    s = p.serverless
    if sys.argv[2] == "1":
        p.anomaly  # the default detectors, fed from the telemetry bus (as under serve)
    f = s.create_function("tput", "python", "noop", str(code), concurrency=2)
    s.deploy_function(f.id)
    s.prewarm_function(f.id, instances=2)
    for _ in range(500):
        s.invoke_sync(f.id)
    counts = [0] * 8
    stop = time.perf_counter() + float(sys.argv[1])
    def work(k):
        while time.perf_counter() < stop:
            counts[k] += s.invoke_sync(f.id, None, 30_000).ok
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(sum(counts) / (time.perf_counter() - start))
"""


def rate(checkout: Path, seconds: float, same_work: bool) -> float:
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", LOOP, str(seconds), "1" if same_work else "0"],
        cwd="/tmp",
        # releases before the per-function sandbox have none: compare without it
        env={**os.environ, "CONSTELLATION_SANDBOX": "off"},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--same-work", action="store_true", help="feed the default detectors on both sides"
    )
    args = parser.parse_args()
    rates = interleaved_pairs(
        args.pairs,
        lambda: rate(args.before.resolve(), args.seconds, args.same_work),
        lambda: rate(args.after.resolve(), args.seconds, args.same_work),
    )
    pairs = []
    for i, (before, after) in enumerate(rates, 1):
        pairs.append({"before": round(before), "after": round(after), "ratio": after / before})
        print(f"pair {i}: before {before:.0f}/s after {after:.0f}/s ratio {after / before:.3f}")
    ratios = [p["ratio"] for p in pairs]
    median = statistics.median(ratios)
    low, high = median_interval(ratios)
    report = {
        "same_work": args.same_work,
        "pairs": pairs,
        "median_ratio": round(median, 3),
        "median_ci95": [round(low, 3), round(high, 3)],
        "below_1": sum(1 for r in ratios if r < 1.0),
        "sign_test_p": round(sign_test(ratios), 4),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
