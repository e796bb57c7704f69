"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    return {"p50": at(50), "p99": at(99), "mean": statistics.fmean(ordered), "n": len(ordered)}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_avg_1m": round(load[0], 2),
        "commit": _commit(),
    }


def _commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
            ).stdout.strip()
            or "unknown"
        )
    except OSError:
        return "unknown"


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(name: str, results: dict[str, Any]) -> None:
    out_dir = Path(__file__).resolve().parent / "out"
    out_dir.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "results": results}
    (out_dir / f"{name}.json").write_text(json.dumps(payload, indent=2))
    print(json.dumps(payload, indent=2))


def sign_test(ratios: list[float]) -> float:
    """Two-sided p-value of as many ratios on one side of 1.0 under no difference."""
    n = sum(1 for r in ratios if r != 1.0)
    low = min(sum(1 for r in ratios if r < 1.0), sum(1 for r in ratios if r > 1.0))
    tail = sum(math.comb(n, k) for k in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)


def median_interval(ratios: list[float], level: float = 0.95) -> tuple[float, float]:
    """The order-statistic interval [r_(k), r_(n+1-k)] that holds the median with at
    least ``level`` probability (binomial(n, 1/2) tails); the whole range when n is small."""
    ordered, n = sorted(ratios), len(ratios)
    k = 0
    while k + 1 <= n // 2 and sum(math.comb(n, j) for j in range(k + 1)) / 2**n <= (1 - level) / 2:
        k += 1
    return ordered[max(k - 1, 0)], ordered[n - max(k, 1)]


def interleaved_pairs(
    count: int,
    before: Callable[[], T],
    after: Callable[[], T],
    done: Callable[[int], None] | None = None,
) -> list[tuple[T, T]]:
    """``count`` pairs of ``(before(), after())``, the two run in swapped order every
    other pair (B A, A B, ...), so a machine getting busier or quieter within a pair moves
    both sides alike. ``done(i)`` is called after pair ``i`` (from 1)."""
    pairs: list[tuple[T, T]] = []
    for i in range(count):
        if i % 2:
            second, first = after(), before()
        else:
            first, second = before(), after()
        pairs.append((first, second))
        if done is not None:
            done(i + 1)
    return pairs
