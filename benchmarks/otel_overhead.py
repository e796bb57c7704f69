"""What tracing costs a warm invocation: the platform's own Python per call with
OpenTelemetry off (the default) and with a span per invocation.

Run: ``.venv/bin/python benchmarks/otel_overhead.py`` (or with ``PYTHONPATH=OTHER/src``
to time another checkout's code: ``tracing_on_us`` is left out where it has no tracer).
The worker is stubbed (a canned reply instead of the socket round trip), as
``warm_path_parts.py``'s ``python_us`` does, so the figure is the call path alone:
``invoke_sync`` of a warm no-op function, best of 5 x 50,000 calls. ``tracing_on_us``
uses an SDK TracerProvider without processors: the span is made, filled and ended,
then dropped (an exporter's own cost comes on top, on its thread).
"""

from __future__ import annotations

import json
import tempfile
import timeit
from typing import Any

from constellation.platform import Constellation

N = 50_000
REPLY = {"ok": True, "out": None, "dur": 0.01, "rss": 10.0, "logs": "", "trace": ""}


def _per_call_us(call: Any) -> float:
    return min(timeit.repeat(call, number=N, repeat=5)) / N * 1e6


def main() -> None:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home, Constellation(home) as p:
        s = p.serverless
        s.init()
        s.autoscaler.close()
        deferred = getattr(p, "_deferred", None)
        if deferred is not None:
            deferred.close()
        s.ledger.append = lambda *args: None  # type: ignore[method-assign]
        f = s.create_function("warm-noop", "python", "handler", _noop_code(home))
        s.invoke_sync(f.id)  # the cold start
        for pool in s.pools():
            for instance, _ in pool.instances():
                type(instance).invoke_raw = lambda self, request, timeout: REPLY  # type: ignore[method-assign]
        out["tracing_off_us"] = _per_call_us(lambda: s.invoke_sync(f.id))
        invoker = s.invoker
        if hasattr(invoker, "tracer"):
            from opentelemetry.sdk.trace import TracerProvider

            from constellation.telemetry import InvocationTracer

            invoker.tracer = InvocationTracer(TracerProvider())
            out["tracing_on_us"] = _per_call_us(lambda: s.invoke_sync(f.id))
            invoker.tracer = None
    print(json.dumps({"results": out}, indent=2))


def _noop_code(home: str) -> str:
    path = f"{home}/noop.py"
    with open(path, "w") as fh:
        fh.write("def handler(event, context):\n    return None\n")
    return path


if __name__ == "__main__":
    main()
