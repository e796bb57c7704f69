"""What feeding the default anomaly detectors costs per invocation, on each thread.

Run: ``.venv/bin/python benchmarks/telemetry_feed.py [--calls N]``

Each invocation publishes two points (``function_duration_ms``, ``function_error_rate``).
The platform's default detectors (library or server mode) read them by polling: a
watcher thread reads each series' new points every 0.25 s and folds them into 1 s
windows, feeding one mean per window to the detectors; the calling thread does only the
publish. Before, the points were tapped into a queue on the calling thread and a
background thread delivered them to the watcher in batches (still available as
``DeferredSubscribers``; measured here as the reference). In process CPU time, the
median of ``--rounds`` rounds of N invocations (N = 5,000 by default: 0.25 s of calls at
20,000 a second, one poll's worth):

* ``publish_bare_us``: the two publishes with nothing subscribed (a platform without
  detectors: the floor, in the same run);
* ``publish_polled_us`` / ``poll_us``: the two publishes while a polling watcher is
  attached, and the watcher's read and windowing of those points (the platform's path);
* ``publish_tapped_us`` / ``deliver_us``: the same with the tap and the batched delivery.
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


def _rounds(calls: int, rounds: int, feed: str) -> tuple[list[float], list[float]]:
    """Per-invocation CPU (us) of the publishes and of the feed's reading, per round."""
    telemetry = Telemetry()
    deferred = DeferredSubscribers(telemetry, interval_s=3600.0) if feed == "tapped" else None
    watcher = None
    if deferred is not None:
        watcher = watch_telemetry(
            cast(Telemetry, deferred), AnomalyRegistry(), auto=RULES, window_s=1.0
        )
    elif feed == "polled":  # poll_s: its thread waits an hour; poll() is called here
        watcher = watch_telemetry(
            telemetry, AnomalyRegistry(), auto=RULES, window_s=1.0, poll_s=3600.0
        )
    duration = telemetry.series("function_duration_ms", {"function": "f"})
    errors = telemetry.series("function_error_rate", {"function": "f"})
    publish, read = [], []
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
        elif watcher is not None:
            watcher.poll()
        fed = time.process_time()
        now += calls * 5e-5
        publish.append((published - start) / calls * 1e6)
        read.append((fed - published) / calls * 1e6)
    if deferred is not None:
        deferred.close()
    if watcher is not None:
        watcher.close()
    return publish, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    bare, _ = _rounds(args.calls, args.rounds, "none")
    polled, poll = _rounds(args.calls, args.rounds, "polled")
    tapped, deliver = _rounds(args.calls, args.rounds, "tapped")
    report(
        "telemetry_feed",
        {
            "publish_bare_us": statistics.median(bare),
            "publish_polled_us": statistics.median(polled),
            "poll_us": statistics.median(poll),
            "publish_tapped_us": statistics.median(tapped),
            "deliver_us": statistics.median(deliver),
            "calls": args.calls,
            "rounds": args.rounds,
        },
    )


if __name__ == "__main__":
    main()
