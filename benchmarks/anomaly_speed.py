"""Per-value cost and memory of each detector over a 100,000-point stream.

Usage::

    .venv/bin/python benchmarks/anomaly_speed.py [--points 100000] [--repeats 3]

Each detector runs inside its ThresholdFilter (score, decide, learn: what ``detect``
does per value, without the registry's bookkeeping), and the full registry path
``AnomalyRegistry.detect`` is timed too. Measured in the same run, as the limit and
the peer: a bare Python loop over the same values calling a no-op method (the floor
of any per-value Python API), and river's HalfSpaceTrees (``score_one`` +
``learn_one``), a streaming peer. Memory: the traced allocation of one detector after
the stream (tracemalloc), against the seed's claim of about 2 MB per detector.

The machine is shared and noisy: times are CPU (process) time, best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from constellation.anomaly import AnomalyRegistry
from constellation.anomaly._methods import build_filter, resolve_sensitivity

METHODS = (
    "zscore",
    "iqr",
    "mad",
    "moving_average",
    "threshold",
    "rate_change",
    "pattern",
    "isolation_forest",
    "ensemble",
)
# The targets (us per value); the other methods have none.
TARGET_US = {
    "zscore": 10.0,
    "iqr": 10.0,
    "mad": 10.0,
    "moving_average": 10.0,
    "threshold": 10.0,
    "isolation_forest": 100.0,
}


class _NoOp:
    def update(self, x: float, t: float | None = None) -> tuple[float, bool]:
        return 0.0, False


def _stream(points: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(0)
    values = rng.normal(100.0, 5.0, points)
    values[rng.integers(0, points, points // 500)] += 60.0  # a few spikes
    times = 1_700_000_000.0 + 10.0 * np.arange(points)
    return values.tolist(), times.tolist()


def _build(method: str):
    options = {"upper": 130.0} if method == "threshold" else {}
    level = resolve_sensitivity(method, None, options)
    return build_filter(method, level, options)[0]


def _time_filter(make: Callable[[], object], values, times, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        detector = make()
        update = detector.update  # type: ignore[attr-defined]
        started = time.process_time()
        for x, t in zip(values, times, strict=True):
            update(x, t)
        best = min(best, time.process_time() - started)
    return 1e6 * best / len(values)


def _time_river(values, repeats: int) -> float:
    from river import anomaly, compose, preprocessing

    best = float("inf")
    n = min(len(values), 20_000)  # HalfSpaceTrees is slow; 20k values are plenty
    for _ in range(repeats):
        model = compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(seed=42))
        started = time.process_time()
        for x in values[:n]:
            point = {"x": x}
            model.score_one(point)
            model.learn_one(point)
        best = min(best, time.process_time() - started)
    return 1e6 * best / n


def _time_registry(method: str, values, times, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        registry = AnomalyRegistry(clock=lambda: 0.0)
        options = {"upper": 130.0} if method == "threshold" else {}
        handle = registry.create_detector("latency_ms", method, None, **options)
        started = time.process_time()
        for x, t in zip(values, times, strict=True):
            registry.detect(handle, x, t)
        best = min(best, time.process_time() - started)
    return 1e6 * best / len(values)


def _memory(method: str, values, times) -> int:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    detector = _build(method)
    for x, t in zip(values, times, strict=True):
        detector.update(x, t)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del detector
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    values, times = _stream(args.points)
    floor = _time_filter(_NoOp, values, times, args.repeats)
    river_us = _time_river(values, args.repeats)
    print(f"# Detector cost over a {args.points:,}-point stream (best of {args.repeats})\n")
    print(f"limit: bare Python loop calling a no-op update: {floor:.2f} us/value")
    print(f"peer: river HalfSpaceTrees score_one + learn_one: {river_us:.1f} us/value\n")
    print(
        "| method | us/value (filter) | target | / no-op loop | river HST / ours | "
        "us/value via registry.detect | memory after stream |"
    )
    print("|---|---|---|---|---|---|---|")
    for method in METHODS:
        us = _time_filter(lambda m=method: _build(m), values, times, args.repeats)
        via_registry = _time_registry(method, values, times, 1)
        memory = _memory(method, values, times)
        target = TARGET_US.get(method)
        goal = "-" if target is None else f"<= {target:g} ({'ok' if us <= target else 'over'})"
        print(
            f"| {method} | {us:.2f} | {goal} | {us / floor:.0f}x | "
            f"{river_us / us:.1f}x | {via_registry:.1f} | {memory / 1024:.0f} KiB |"
        )
    print("\nseed claims: detection < 5 ms per metric (5000 us), about 2 MB per detector")


if __name__ == "__main__":
    main()
