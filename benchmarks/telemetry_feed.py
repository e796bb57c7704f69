"""What feeding the default anomaly detectors costs per invocation, on each thread.

Run: ``.venv/bin/python benchmarks/telemetry_feed.py [--calls N]``

Each invocation publishes two points (``function_duration_ms``, ``function_error_rate``).
With the platform's default detectors (library or server mode) the points are also
tapped into a queue on the calling thread, and a background thread delivers them to
the watcher in batches, which folds each series into 1 s windows and feeds one mean per
window to the detectors. This measures, in process CPU time (median of 9 rounds of N
invocations):

* ``publish_us``: the calling thread's two publishes, with the tap;
* ``publish_bare_us``: the same two publishes with nothing subscribed (a platform
  without detectors: the peer in the same run);
* ``deliver_us``: the background thread's delivery of those points (windows included).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import cast

from _util import report

from constellation.anomaly import AnomalyRegistry, watch_telemetry
from constellation.telemetry import DeferredSubscribers, Telemetry

RULES = [("function_duration_ms", "ensemble", None), ("function_error_rate", "ensemble", None)]


def _rounds(calls: int, rounds: int, feed: bool) -> tuple[list[float], list[float]]:
    telemetry = Telemetry()
    deferred = DeferredSubscribers(telemetry, interval_s=3600.0) if feed else None
    if deferred is not None:
        watch_telemetry(cast(Telemetry, deferred), AnomalyRegistry(), auto=RULES, window_s=1.0)
    duration = telemetry.series("function_duration_ms", {"function": "f"})
    errors = telemetry.series("function_error_rate", {"function": "f"})
    publish, deliver = [], []
    now = 1.7e9
    for _ in range(rounds):
        start = time.process_time()
        for i in range(calls):
            at = now + i * 5e-5  # 20,000 invocations a second
            telemetry.publish(duration, 0.05, at)
            telemetry.publish(errors, 0.0, at)
        published = time.process_time()
        if deferred is not None:
            deferred.flush()
        delivered = time.process_time()
        now += calls * 5e-5 + 2.0
        publish.append((published - start) / calls * 1e6)
        deliver.append((delivered - published) / calls * 1e6)
    if deferred is not None:
        deferred.close()
    return publish, deliver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    bare, _ = _rounds(args.calls, args.rounds, feed=False)
    publish, deliver = _rounds(args.calls, args.rounds, feed=True)
    report(
        "telemetry_feed",
        {
            "publish_us": statistics.median(publish),
            "publish_bare_us": statistics.median(bare),
            "deliver_us": statistics.median(deliver),
            "calls": args.calls,
            "rounds": args.rounds,
        },
    )


if __name__ == "__main__":
    main()
