"""Where a warm invocation's time goes: the call path alone, and what the platform's
background work adds to it.

Run with any checkout's interpreter (it uses only names both sides of an A/B have):
``CHECKOUT/.venv/bin/python benchmarks/warm_path_parts.py``. Four platforms in turn, each
timing 20,000 warm ``invoke_sync`` calls of a no-op handler as ``serverless_bench.py``
does (``warm_overhead_us``):

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
import tempfile
import timeit
from typing import Any

from serverless_bench import warm_overhead_us

from constellation.platform import Constellation

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
        p.serverless.ledger.append = lambda *args: None  # type: ignore[method-assign]
    return p


def measure(mode: str, n: int = 20_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home, _platform_for(mode, home) as p:
        s = p.serverless
        out: dict[str, Any] = warm_overhead_us(p, n)  # the serverless benchmark's own loop
        f = s.get_function("warm-noop")
        if mode == "call_path":
            reply = {"ok": True, "out": None, "dur": 0.01, "rss": 10.0, "logs": "", "trace": ""}
            for pool in s.pools():
                for instance, _ in pool.instances():
                    type(instance).invoke_raw = lambda self, request, timeout: reply  # type: ignore[method-assign]
            best = min(timeit.repeat(lambda: s.invoke_sync(f.id), number=100_000, repeat=3))
            out["python_us"] = best / 100_000 * 1e6
        return out


def main() -> None:
    print(json.dumps({mode: measure(mode) for mode in MODES}, indent=2))


if __name__ == "__main__":
    main()
