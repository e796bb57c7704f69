"""Rolling-origin forecasts on NAB series: nyc_taxi and realAWSCloudwatch.

Usage::

    .venv/bin/python benchmarks/predictive_nab_eval.py [--origins 12] [--no-peers]

For each series, ``--origins`` forecast origins are spread over its last 40%. At each,
a predictor (``model="ensemble"``) is trained on the preceding ``training_window``
(nyc_taxi: 3 weeks of 30-minute counts; AWS: 3 days of 5-minute samples) and asked for
5 minutes (AWS only: nyc_taxi has no sample 5 minutes later) and 1 hour ahead. Scored:
MASE (error over the training window's mean one-step change), 95% interval coverage,
and the seed's accuracy (100 - MAPE over non-zero actuals, per series; the median
across series is printed, since a series near zero makes its MAPE explode). Peers in the same run, same
origins and windows: seasonal naive (one day) and statsforecast AutoETS (season 48
for nyc_taxi; non-seasonal for the 5-minute series, whose 288-sample day is beyond
what ETS seasonality handles).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from constellation.predictive import Predictor, PredictorConfig


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ts, ys = [], []
    with open(path) as fh:
        for row in csv.DictReader(fh):
            stamp = datetime.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            ts.append(stamp.timestamp())
            ys.append(float(row["value"]))
    return np.array(ts), np.array(ys)


def evaluate(path: Path, origins: int, peers: bool) -> dict[str, list[float]]:
    ts, ys = load(path)
    step = float(np.median(np.diff(ts)))
    window = 21 * 86400.0 if step >= 1800 else 3 * 86400.0
    day = round(86400 / step)
    horizons = [3600.0] if step > 300 else [300.0, 3600.0]
    out: dict[str, list[float]] = {}
    cuts = np.linspace(int(ts.size * 0.6), ts.size - 13, origins).astype(int)
    for cut in cuts:
        keep = (ts >= ts[cut - 1] - window) & (np.arange(ts.size) < cut)
        hist_t, hist_y = ts[keep], ys[keep]
        scale = float(np.mean(np.abs(np.diff(hist_y)))) or 1.0
        p = Predictor(PredictorConfig(path.stem, model="ensemble", training_window=window))
        p.add_samples(zip(hist_t.tolist(), hist_y.tolist(), strict=True))
        t0 = time.perf_counter()
        p.train()
        out.setdefault("fit_s", []).append(time.perf_counter() - t0)
        peer_fc = None
        if peers:
            from statsforecast.models import AutoETS

            t0 = time.perf_counter()
            season = day if day <= 48 else 1
            peer_fc = AutoETS(season_length=season).forecast(y=hist_y, h=13)["mean"]
            out.setdefault("peer_fit_s", []).append(time.perf_counter() - t0)
        for h in horizons:
            target = hist_t[-1] + h
            idx = np.flatnonzero(np.abs(ts - target) < step / 2)
            if idx.size == 0:
                continue
            actual = float(ys[idx[0]])
            pred = p.predict(h)
            k = f"{int(h // 60)}min"
            out.setdefault(f"ours_{k}", []).append(abs(actual - pred.value) / scale)
            out.setdefault(f"cover_{k}", []).append(
                float(pred.lower_bound <= actual <= pred.upper_bound)
            )
            if actual != 0:
                out.setdefault(f"ape_{k}", []).append(abs(actual - pred.value) / abs(actual))
            steps = round(h / step)
            snaive = hist_y[-day + steps - 1] if day >= steps else hist_y[-1]
            out.setdefault(f"snaive_{k}", []).append(abs(actual - snaive) / scale)
            if peer_fc is not None:
                out.setdefault(f"ets_{k}", []).append(abs(actual - peer_fc[steps - 1]) / scale)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--origins", type=int, default=12)
    ap.add_argument("--no-peers", action="store_true")
    default = Path(
        os.environ.get("CONSTELLATION_DATA")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--data", type=Path, default=default)
    args = ap.parse_args()
    nab = args.data / "nab" / "data"
    groups = {
        "nyc_taxi": [nab / "realKnownCause" / "nyc_taxi.csv"],
        "realAWSCloudwatch": sorted((nab / "realAWSCloudwatch").glob("*.csv")),
    }
    print(f"NAB rolling origin, {args.origins} origins per series, MASE vs one-step naive scale")
    print(
        "| series | horizon | ours MASE | seasonal naive | AutoETS | ours/AutoETS | 95% coverage | median 100-MAPE |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for group, paths in groups.items():
        merged: dict[str, list[float]] = {}
        per_series: dict[str, list[float]] = {}  # 100 - MAPE of each series, by horizon
        for path in paths:
            for key, vals in evaluate(path, args.origins, not args.no_peers).items():
                merged.setdefault(key, []).extend(vals)
                if key.startswith("ape_") and vals:
                    per_series.setdefault(key, []).append(100 - 100 * float(np.mean(vals)))
        for k in ("5min", "60min"):
            if f"ours_{k}" not in merged:
                continue
            ours = np.mean(merged[f"ours_{k}"])
            ets = np.mean(merged[f"ets_{k}"]) if f"ets_{k}" in merged else float("nan")
            acc = float(np.median(per_series[f"ape_{k}"]))
            print(
                f"| {group} ({len(paths)}) | {k} | {ours:.3f} | {np.mean(merged[f'snaive_{k}']):.3f} "
                f"| {ets:.3f} | {ours / ets:.2f} | {np.mean(merged[f'cover_{k}']):.3f} | {acc:.1f} |"
            )
        fit = np.mean(merged["fit_s"]) * 1000
        peer = np.mean(merged["peer_fit_s"]) * 1000 if "peer_fit_s" in merged else float("nan")
        print(f"| {group} | train ms | {fit:.0f} | | {peer:.0f} | {fit / peer:.2f} | | |")


if __name__ == "__main__":
    main()
