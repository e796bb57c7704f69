"""Where a warm invocation's time goes: the call path alone, and what the platform's
background work adds to it.

Run with any checkout's interpreter (it uses only names both sides of an A/B have):
``CHECKOUT/.venv/bin/python benchmarks/warm_path_parts.py``. Four platforms in turn, each
timing 20,000 warm ``invoke_sync`` calls of a no-op handler after 500 to warm up:

* ``full``: the platform as a script gets it;
* ``no_anomaly_feed``: without the default anomaly detectors' feed (library mode wires
  it since the "One house" change; only ``start()`` did before);
* ``no_ledger``: records are dropped instead of queued for the ledger thread (its
  flushes, and their rollups, then cost nothing);
* ``call_path``: both off: what is left is the call path itself.

A second figure, ``python_us``, stubs the worker out (a canned reply instead of the
socket round trip), so it is the platform's own Python per call.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from constellation.platform import Constellation

HANDLER = "def noop(event, context):\n    return None\n"
MODES = ("full", "no_anomaly_feed", "no_ledger", "call_path")


def _platform_for(mode: str, home: str) -> Constellation:
    p = Constellation(home)
    p.serverless.init()
    p.serverless.autoscaler.close()  # no real-time ticks between the calls
    deferred = getattr(p, "_deferred", None)
    if mode in ("no_anomaly_feed", "call_path") and deferred is not None:
        deferred.close()
        p._unwatch()  # type: ignore[misc]
    if mode in ("no_ledger", "call_path"):
        p.serverless.ledger.append = lambda result: None  # type: ignore[method-assign]
    return p


def measure(mode: str, code: Path, n: int = 20_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home, _platform_for(mode, home) as p:
        s = p.serverless
        f = s.create_function("warm", "python", "noop", str(code))
        s.deploy_function(f.id)
        for _ in range(500):
            s.invoke_sync(f.id)
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            s.invoke_sync(f.id)
            samples.append((time.perf_counter() - t) * 1e6)
        samples.sort()
        out: dict[str, Any] = {
            "p50_us": samples[len(samples) // 2],
            "mean_us": statistics.mean(samples),
        }
        if mode == "call_path":
            reply = {"ok": True, "out": None, "dur": 0.01, "rss": 10.0, "logs": "", "trace": ""}
            for pool in s.pools():
                for instance, _ in pool.instances():
                    type(instance).invoke_raw = lambda self, request, timeout: reply  # type: ignore[method-assign]
            best = min(timeit.repeat(lambda: s.invoke_sync(f.id), number=100_000, repeat=3))
            out["python_us"] = best / 100_000 * 1e6
        return out


def main() -> None:
    code = Path(tempfile.mkdtemp()) / "handlers.py"
    code.write_text(HANDLER)
    print(json.dumps({mode: measure(mode, code) for mode in MODES}, indent=2))


if __name__ == "__main__":
    main()
