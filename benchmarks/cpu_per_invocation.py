"""The platform process's CPU time per warm invocation, its background work included.

Run: ``.venv/bin/python benchmarks/cpu_per_invocation.py [--calls N]``. For an A/B,
under ``benchmarks/ab_compare.py --script cpu_per_invocation.py`` (it uses only names
every release has, so the same file can be copied into an older checkout).

Wall-clock figures (``serverless_bench.py``'s warm p50 and throughput) move with whatever
else the machine runs; CPU time moves much less. This counts the CPU seconds of the
platform's process (all its threads: the caller, the ledger's flushes and rollups, the
anomaly feed, the autoscaler) over ``N`` warm calls from one thread, ledger flushed at
the end, divided by ``N``. The worker processes' CPU is not in it (the same handler
runs on both sides of an A/B).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from _util import report

from constellation.platform import Constellation

CODE = Path(tempfile.mkdtemp()) / "noop.py"
CODE.write_text("def noop(event, context):\n    return None\n")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(calls: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        p = Constellation(home)
        try:
            s = p.serverless
            f = s.create_function("cpu-noop", "python", "noop", str(CODE))
            s.deploy_function(f.id)
            for _ in range(500):
                s.invoke_sync(f.id)
            s.ledger.flush()
            time.sleep(0.5)  # let the background loops settle before counting
            cpu, wall = _cpu_s(), time.perf_counter()
            for _ in range(calls):
                s.invoke_sync(f.id)
            s.ledger.flush()
            time.sleep(0.3)  # one more tick of the anomaly feed's delivery thread
            cpu_s, wall_s = _cpu_s() - cpu, time.perf_counter() - wall - 0.3
        finally:
            p.close()
    return {
        "cpu_us_per_invocation": cpu_s / calls * 1e6,
        "wall_us_per_invocation": wall_s / calls * 1e6,
        "calls": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="5,000 calls")
    args = parser.parse_args()
    report("cpu_per_invocation", measure(5_000 if args.quick else args.calls))


if __name__ == "__main__":
    main()
