"""Function populations for the trace replayer (``replay_bench.py``).

Each population mixes the shapes real serverless traces hold (Shahrad et al., ATC 2020,
section 3): sparse functions (a few calls an hour or a day), timers, daily cycles,
bursts and level shifts. Daily cycles come from two sources: NAB's real series
(``$CONSTELLATION_DATA/nab``: tweets, taxi rides, AWS request counts, traffic; their
*shape*, resampled to one value a minute, tiled to the trace's length and rescaled to a
mean rate drawn log-uniformly from 0.01 to 1,000 calls a minute) and a generator.
Counts are Poisson draws of the rate, so no two minutes repeat exactly.

Tuning and reporting never share data: ``tuning`` populations use seeds 1-2 and the
NAB files at even positions of the sorted list; ``reported`` ones use seeds 101-102 and
the files at odd positions.

    .venv/bin/python benchmarks/replay_populations.py --population reported-1 \\
        --functions 1000 --days 14 --out trace.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from constellation.predictive import Trace

MINUTES_PER_DAY = 1440
NAB_FOLDERS = ("realTweets", "realKnownCause", "realAWSCloudwatch", "realTraffic")
# The share of each kind in a population (Azure 2019: most functions are rare; timers
# are about a third of triggers; a minority carries most of the calls).
MIX = {
    "sparse": 0.30,
    "timer": 0.20,
    "nab-daily": 0.15,
    "daily": 0.10,
    "bursty": 0.15,
    "level-shift": 0.10,
}
POPULATIONS = {
    "tuning-1": (1, "even"),
    "tuning-2": (2, "even"),
    "reported-1": (101, "odd"),
    "reported-2": (102, "odd"),
}


def data_dir() -> Path:
    env = os.environ.get("CONSTELLATION_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def nab_shapes(half: str) -> list[np.ndarray]:
    """NAB series as per-minute shapes with mean 1 (one day or more each)."""
    files: list[Path] = []
    for folder in NAB_FOLDERS:
        files += sorted((data_dir() / "nab" / "data" / folder).glob("*.csv"))
    files = [f for i, f in enumerate(sorted(files)) if (i % 2 == 0) == (half == "even")]
    shapes = []
    for path in files:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        ts = np.array([datetime.fromisoformat(r[0]).timestamp() for r in rows]) / 60.0
        ys = np.array([float(r[1]) for r in rows])
        order = np.argsort(ts)
        ts, ys = ts[order] - ts[order][0], np.maximum(ys[order], 0.0)
        if ts[-1] < MINUTES_PER_DAY or ys.mean() <= 0:
            continue
        minute = np.interp(np.arange(int(ts[-1])), ts, ys)
        shapes.append(minute / minute.mean())
    return shapes


def _tile(shape: np.ndarray, minutes: int, rng: np.random.Generator) -> np.ndarray:
    start = int(rng.integers(0, len(shape)))
    reps = -(-(minutes + start) // len(shape))
    return np.tile(shape, reps)[start : start + minutes]


def _rate(rng: np.random.Generator, low: float = 0.01, high: float = 1000.0) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _daily(rng: np.random.Generator, minutes: int) -> np.ndarray:
    t = np.arange(minutes)
    phase = rng.uniform(0, 2 * np.pi)
    day = 1 + rng.uniform(0.5, 0.95) * np.sin(2 * np.pi * t / MINUTES_PER_DAY + phase)
    week = np.where((t // MINUTES_PER_DAY) % 7 >= 5, rng.uniform(0.3, 1.0), 1.0)
    return day * week * _rate(rng)


def _sparse(rng: np.random.Generator, minutes: int) -> np.ndarray:
    return np.full(minutes, _rate(rng, 1 / 1440, 0.1))  # a day's call to 6 an hour


def _timer(rng: np.random.Generator, minutes: int) -> np.ndarray:
    period = int(rng.choice([1, 2, 5, 10, 15, 30, 60, 120, 360, 720, 1440]))
    calls = np.zeros(minutes)
    calls[int(rng.integers(0, period)) :: period] = float(rng.choice([1, 1, 1, 2, 5]))
    return calls  # exact counts: drawn as is, not Poisson


def _bursty(rng: np.random.Generator, minutes: int) -> np.ndarray:
    rate = np.zeros(minutes)
    busy = _rate(rng, 1.0, 1000.0)
    t = 0
    while t < minutes:
        t += int(rng.exponential(rng.uniform(60, 720)))  # quiet
        length = int(rng.integers(3, 60))
        rate[t : t + length] = busy
        t += length
    return rate + _rate(rng, 0.001, 0.02)


def _level_shift(rng: np.random.Generator, minutes: int) -> np.ndarray:
    base = _daily(rng, minutes)
    shift_at = int(rng.integers(minutes // 4, 3 * minutes // 4))
    base[shift_at:] *= float(np.exp(rng.uniform(np.log(0.1), np.log(10.0))))
    return base


def population(name: str, functions: int, days: int) -> Trace:
    """A named population of ``functions`` functions over ``days`` days."""
    seed, half = POPULATIONS[name]
    rng = np.random.default_rng(seed)
    minutes = days * MINUTES_PER_DAY
    shapes = nab_shapes(half)
    makers: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
        "sparse": _sparse,
        "timer": _timer,
        "nab-daily": lambda r, m: _tile(shapes[int(r.integers(len(shapes)))], m, r) * _rate(r),
        "daily": _daily,
        "bursty": _bursty,
        "level-shift": _level_shift,
    }
    kinds = rng.choice(list(MIX), size=functions, p=list(MIX.values()))
    counts = np.zeros((functions, minutes))
    durations = np.zeros((functions, minutes))
    names = []
    for i, kind in enumerate(kinds):
        rate = makers[str(kind)](rng, minutes)
        counts[i] = rate if kind == "timer" else rng.poisson(rate)
        # Mean durations: log-normal, median 300 ms (Azure 2019: half of the functions
        # average under about a second), kept between 10 ms and 60 s.
        durations[i] = float(np.clip(rng.lognormal(np.log(300.0), 1.2), 10.0, 60_000.0))
        names.append(f"{kind}-{i:04d}")
    return Trace(names, counts, durations)


def write_long_csv(trace: Trace, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["minute", "function", "invocations", "duration_ms"])
        for f, name in enumerate(trace.functions):
            minutes = np.flatnonzero(trace.invocations[f])
            duration = f"{trace.duration_ms[f, 0]:.1f}"
            counts = trace.invocations[f, minutes].astype(np.int64)
            out.writerows(
                (int(m), name, int(c), duration) for m, c in zip(minutes, counts, strict=True)
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--population", choices=list(POPULATIONS), default="reported-1")
    ap.add_argument("--functions", type=int, default=1000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    trace = population(args.population, args.functions, args.days)
    write_long_csv(trace, args.out)
    print(f"{args.out}: {len(trace.functions)} functions, {trace.minutes} minutes, "
          f"{int(trace.invocations.sum())} invocations")  # fmt: skip


if __name__ == "__main__":
    main()
