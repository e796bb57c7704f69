"""Predictor speed and memory: fit on 10,000 samples, predict latency, bytes held.

Usage::

    .venv/bin/python benchmarks/predictive_speed.py [--samples 10000] [--repeat 3] [--no-peer]

Series: 10,000 one-minute samples with an hourly cycle, a slow trend and noise (seed 0).
Measured in one run, best of ``--repeat``:

* ``Predictor.train()`` for ``ensemble`` and ``auto`` (period detection, rolling-origin
  backtests of every member, final fits) and for single models;
* ``Predictor.predict(300)`` latency (mean over 2,000 calls, after training);
* ``Predictor.memory_bytes()`` (the ring buffer plus the trained model's arrays) and
  the process's peak RSS growth while holding 20 trained predictors (tracemalloc);
* the peer, statsforecast AutoARIMA (season 60) fitted on the same series, as a ratio.

Seed claims: training < 1 s for 10,000 samples, prediction < 10 ms, ~5 MB per
predictor. Issue targets: ensemble fit <= 100 ms and >= 10x faster than AutoARIMA,
predict <= 0.2 ms, <= 1 MB per predictor.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from constellation.predictive import Predictor, PredictorConfig

T0 = 1_700_000_000.0


def series(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    i = np.arange(n)
    y = 50 + 0.001 * i + 10 * np.sin(2 * np.pi * i / 60) + rng.normal(0, 1.5, n)
    return T0 + 60.0 * i, y


def build(model: str, ts: np.ndarray, ys: np.ndarray) -> Predictor:
    p = Predictor(PredictorConfig("cpu", model=model, training_window=0, max_samples=ts.size))
    p.add_samples(zip(ts.tolist(), ys.tolist(), strict=True))
    return p


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    ts, ys = series(args.samples)
    print(f"{args.samples} samples, one a minute, hourly cycle; best of {args.repeat}")
    print("| what | time | note |")
    print("|---|---|---|")
    fits: dict[str, float] = {}
    for model in ("ensemble", "auto", "ets", "arima", "stl", "seasonal_naive"):
        p = build(model, ts, ys)
        fits[model] = best_of(args.repeat, p.train)
        print(
            f"| train {model} | {fits[model] * 1000:.0f} ms | chose {p.get_stats()['chosen_model']} |"
        )
    p = build("ensemble", ts, ys)
    p.train()
    calls = 2000
    t0 = time.perf_counter()
    for k in range(calls):
        p.predict(300.0 + k % 7)
    per_call = (time.perf_counter() - t0) / calls
    print(f"| predict(300) | {per_call * 1e6:.0f} us | mean of {calls} calls |")
    print(
        f"| memory_bytes() | {p.memory_bytes() / 1e6:.2f} MB | ensemble, {args.samples} samples |"
    )
    tracemalloc.start()
    held = [build("ensemble", ts, ys) for _ in range(5)]
    for q in held:
        q.train()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"| traced heap per trained predictor | {current / len(held) / 1e6:.2f} MB | 5 held |")
    if not args.no_peer:
        from statsforecast.models import AutoARIMA

        AutoARIMA(season_length=60).forecast(y=ys[:500], h=5)  # JIT/import warm-up
        peer = best_of(1, lambda: AutoARIMA(season_length=60).forecast(y=ys, h=5))
        print(f"| statsforecast AutoARIMA fit | {peer * 1000:.0f} ms | same series, season 60 |")
        print(
            f"\nensemble fit / AutoARIMA fit = {fits['ensemble'] / peer:.3f} "
            f"(AutoARIMA is {peer / fits['ensemble']:.1f}x slower)"
        )


if __name__ == "__main__":
    main()
