"""Forecast accuracy on M4 Hourly: constellation.predictive against peers, same run.

Usage::

    .venv/bin/python benchmarks/predictive_forecast_eval.py [--series N] [--peers]
        [--peer-every K] [--jobs 2] [--data DIR]

Reads ``$CONSTELLATION_DATA/m4-hourly`` (414 series, horizon 48). Scores as M4
defines them: sMAPE (percent), MASE with m = 24 (scale: in-sample seasonal naive MAE),
OWA = mean of sMAPE and MASE each relative to Naive2, all averaged over series. Also
the 95% interval coverage, the calibration of ``confidence`` (estimated probability
of landing within 10% of the forecast, bucketed against what happened), the seed's
"accuracy" (100 - MAPE) per series, and fit times. ``--peers`` adds statsforecast
AutoARIMA and AutoETS (season 24) in the same run, on every K-th series
(``--peer-every``, default 1: all; AutoARIMA takes seconds per series on 2 cores),
and prints a second table restricted to exactly those series for every method.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from constellation.predictive import Forecaster, Naive2, SeasonalNaive, detect_periods

H = 48
M = 24
ORIGINS = int(os.environ.get("PREDICTIVE_ORIGINS", "4"))


def load(data: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    def read(name: str) -> dict[str, np.ndarray]:
        with open(data / "m4-hourly" / name) as fh:
            rows = list(csv.reader(fh))[1:]
        return {r[0]: np.array([float(x) for x in r[1:] if x]) for r in rows}

    train, test = read("Hourly-train.csv"), read("Hourly-test.csv")
    return [(k, train[k], test[k]) for k in train]


def smape(actual: np.ndarray, fc: np.ndarray) -> float:
    return float(np.mean(200 * np.abs(actual - fc) / (np.abs(actual) + np.abs(fc))))


def mase(train: np.ndarray, actual: np.ndarray, fc: np.ndarray) -> float:
    scale = np.mean(np.abs(train[M:] - train[:-M]))
    return float(np.mean(np.abs(actual - fc)) / scale)


def ours(item: tuple[str, np.ndarray, np.ndarray]) -> dict[str, object]:
    name, y, _test = item
    t0 = time.perf_counter()
    # strongest first, as Predictor.train() does: single-season members use the first
    found = sorted(detect_periods(y, 3600.0), key=lambda p: p.strength, reverse=True)
    periods = [p.samples for p in found]
    f = Forecaster("ensemble", horizon=H, origins=ORIGINS).fit(y, periods)
    fc = f.forecast(H)
    fit_s = time.perf_counter() - t0
    members = {m.name: m.model.forecast(H) for m in f.members}
    best = min(f.members, key=lambda m: m.mae).name
    t1 = time.perf_counter()
    for _ in range(10):
        f.forecast(H)
    predict_s = (time.perf_counter() - t1) / 10
    n2 = Naive2().fit(y, [M]).forecast(H)
    snaive = SeasonalNaive().fit(y, [M]).forecast(H)
    return {
        "name": name,
        "mean": fc.mean,
        "lower": fc.lower,
        "upper": fc.upper,
        "confidence": fc.confidence,
        "members": members,
        "auto": members[best],
        "naive2": n2,
        "snaive": snaive,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "periods": periods,
    }


_warm = False


def peers(item: tuple[str, np.ndarray, np.ndarray]) -> dict[str, object]:
    from statsforecast.models import AutoARIMA, AutoETS

    global _warm
    if not _warm:  # numba compiles on first use in each worker: keep that out of the timing
        warm = np.sin(np.arange(240) / 3.8) + 2.0
        AutoARIMA(season_length=M).forecast(y=warm, h=H)
        AutoETS(season_length=M).forecast(y=warm, h=H)
        _warm = True
    name, y, _ = item
    out: dict[str, object] = {"name": name}
    for label, model in (
        ("AutoARIMA", AutoARIMA(season_length=M)),
        ("AutoETS", AutoETS(season_length=M)),
    ):
        t0 = time.perf_counter()
        try:
            fc = model.forecast(y=y.astype(np.float64), h=H)["mean"]
        except Exception:
            fc = np.full(H, y[-1])
        out[label] = np.asarray(fc)
        out[label + "_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=0, help="first N series (0: all 414)")
    ap.add_argument("--peers", action="store_true", help="also run statsforecast peers")
    ap.add_argument("--peer-every", type=int, default=1, help="peers on every K-th series")
    ap.add_argument("--jobs", type=int, default=2)
    default = Path(
        os.environ.get("CONSTELLATION_DATA")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--data", type=Path, default=default)
    args = ap.parse_args()
    items = load(args.data)
    if args.series:
        items = items[: args.series]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(ours, items, chunksize=4))
    ours_wall = time.perf_counter() - t0
    peer_results: list[dict[str, object]] = []
    peer_idx = list(range(0, len(items), args.peer_every)) if args.peers else []
    if peer_idx:
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.jobs) as pool:
            peer_results = list(pool.map(peers, [items[i] for i in peer_idx]))
        peer_wall = time.perf_counter() - t0

    table: dict[str, list[tuple[float, float]]] = {}
    subset: dict[str, list[tuple[float, float]]] = {}  # only the series the peers ran on

    def score(label: str, idx: int, fc: np.ndarray, everywhere: bool = True) -> None:
        _, y, test = items[idx]
        row = (smape(test, fc), mase(y, test, fc))
        if everywhere:  # peers that ran on a subset appear only in the subset table
            table.setdefault(label, []).append(row)
        if idx in peer_idx:
            subset.setdefault(label, []).append(row)

    covered, total = 0, 0
    conf_bins = np.zeros((10, 2))
    accuracy = []
    for i, r in enumerate(results):
        _, _, test = items[i]
        score("constellation ensemble", i, r["mean"])  # type: ignore[arg-type]
        score("constellation auto (best backtest)", i, r["auto"])  # type: ignore[arg-type]
        for member, fc in r["members"].items():  # type: ignore[union-attr]
            score(f"member {member}", i, fc)
        score("Naive2", i, r["naive2"])  # type: ignore[arg-type]
        score("seasonal naive", i, r["snaive"])  # type: ignore[arg-type]
        inside = (test >= r["lower"]) & (test <= r["upper"])  # type: ignore[operator]
        covered += int(inside.sum())
        total += inside.size
        hit = np.abs(test - r["mean"]) <= 0.1 * np.abs(r["mean"])  # type: ignore[operator]
        b = np.minimum((np.asarray(r["confidence"]) * 10).astype(int), 9)
        np.add.at(conf_bins, (b, 0), 1)
        np.add.at(conf_bins, (b, 1), hit)
        nz = test != 0
        accuracy.append(
            100 - float(np.mean(np.abs(test[nz] - r["mean"][nz]) / np.abs(test[nz])) * 100)
        )  # type: ignore[index]
    for i, r in zip(peer_idx, peer_results, strict=True):
        for label in ("AutoARIMA", "AutoETS"):
            full = len(peer_idx) == len(items)
            score(f"statsforecast {label}", i, r[label], full)  # type: ignore[arg-type]

    def show(title: str, rows_by: dict[str, list[tuple[float, float]]]) -> None:
        n2 = np.mean(rows_by["Naive2"], axis=0)
        print(title)
        print("| method | sMAPE | MASE | OWA |")
        print("|---|---|---|---|")
        for label, rows in rows_by.items():
            s, m = np.mean(rows, axis=0)
            print(f"| {label} | {s:.3f} | {m:.3f} | {0.5 * (s / n2[0] + m / n2[1]):.3f} |")

    show(f"M4 Hourly, {len(items)} series, horizon {H}, MASE m={M}, {ORIGINS} origins", table)
    if peer_idx:
        print()
        show(
            f"Same run, the {len(peer_idx)} series the peers ran on (every {args.peer_every}th)",
            subset,
        )
    print(f"\n95% interval coverage: {covered / total:.3f} over {total} forecasts")
    print("confidence calibration (P(|err| <= 10% of forecast)):")
    print("| confidence bin | forecasts | observed within 10% |")
    print("|---|---|---|")
    for k in range(10):
        if conf_bins[k, 0]:
            print(
                f"| {k / 10:.1f}-{(k + 1) / 10:.1f} | {int(conf_bins[k, 0])} | {conf_bins[k, 1] / conf_bins[k, 0]:.3f} |"
            )
    acc = np.array(accuracy)
    print(
        f"\nseed 'accuracy' (100 - MAPE) per series: median {np.median(acc):.1f}, "
        f"share of series in 85-95: {np.mean((acc >= 85) & (acc <= 95)):.2f}, >= 85: {np.mean(acc >= 85):.2f}"
    )
    fit = np.array([r["fit_s"] for r in results])
    pred = np.array([r["predict_s"] for r in results])
    print(
        f"\nconstellation: fit (detect + ensemble + backtests) mean {fit.mean() * 1000:.0f} ms/series, "
        f"forecast(48) mean {pred.mean() * 1000:.2f} ms; wall {ours_wall:.1f} s with {args.jobs} jobs"
    )
    if peer_results:
        for label in ("AutoARIMA", "AutoETS"):
            t = np.array([r[label + "_s"] for r in peer_results])
            ours_sub = fit[peer_idx].mean()
            print(
                f"statsforecast {label}: fit+forecast mean {t.mean() * 1000:.0f} ms/series; "
                f"ours on the same series {ours_sub * 1000:.0f} ms (peer/ours {t.mean() / ours_sub:.2f}x)"
            )
        print(f"peers wall {peer_wall:.1f} s")


if __name__ == "__main__":
    main()
