"""Multivariate anomaly detection on SKAB: our ``pca`` and ``mset`` beside a PCA T2+Q baseline.

Usage::

    .venv/bin/python benchmarks/anomaly_skab_eval.py [--data DIR] [--sensitivity K]

Data: ``$CONSTELLATION_DATA/skab-valve1`` by default (any folder of SKAB experiment CSVs:
``datetime;<8 sensors>;anomaly;changepoint``). Protocol (SKAB's outlier-detection one):
each file is one experiment whose first 400 points are normal; every detector starts
afresh on each file, learns from its first 400 points and scores the rest; the
predictions of all files are concatenated and scored point-wise after each file's first
400 points: F1, FAR (false alarms / normal points) and MAR (missed / anomalous points).

* ``pca`` and ``mset``: streamed through the public API, one ``{metric: value}`` per
  ``registry.detect`` call (``create_detector(metrics=[...], method=...)``, defaults).
* Baseline, implemented here and independent of the package: the classic batch PCA
  T-squared + Q of SKAB's notebooks: scaler and PCA (85 % of variance) fitted on the
  first 400 points, thresholds at the 99th percentile of each statistic on them,
  anomalous when either is exceeded; no smoothing, no adaptation.

The package's constants (smoothing 0.2, variance 0.95, adapt 0.002, default
sensitivity 4.0) were chosen on files 0-7 of valve1 ("tune"); files 8-15 ("held out")
were only scored. Both halves and the whole are printed. Cost: CPU time per vector of
the whole ``registry.detect`` call and of the detector's own step, on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from constellation.anomaly import AnomalyRegistry
from constellation.anomaly._methods import build_multivariate

TRAIN = 400
LIMIT_US = 50.0  # the limit per 8-metric vector


def load(folder: Path) -> list[tuple[str, list[str], np.ndarray, np.ndarray]]:
    files = sorted((p for p in folder.glob("*.csv") if p.stem.isdigit()), key=lambda p: int(p.stem))
    out = []
    for path in files:
        lines = path.read_text().splitlines()
        header = lines[0].split(";")
        sensors = [h for h in header[1:] if h not in ("anomaly", "changepoint")]
        rows = [line.split(";") for line in lines[1:] if line]
        x = np.array([[float(v) for v in r[1 : 1 + len(sensors)]] for r in rows])
        y = np.array([int(float(r[header.index("anomaly")])) for r in rows])
        out.append((path.stem, sensors, x, y))
    return out


def metrics(preds: list[np.ndarray], labels: list[np.ndarray]) -> tuple[float, float, float]:
    yt = np.concatenate([y[TRAIN:] for y in labels])
    yp = np.concatenate([p[TRAIN:] for p in preds])
    tp = int(((yt == 1) & (yp == 1)).sum())
    fp = int(((yt == 0) & (yp == 1)).sum())
    fn = int(((yt == 1) & (yp == 0)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return f1, 100 * fp / max(1, int((yt == 0).sum())), 100 * fn / max(1, int((yt == 1).sum()))


def baseline_t2q(x: np.ndarray) -> np.ndarray:
    """Batch PCA T-squared + Q (SKAB's notebook style), fitted on the first TRAIN points."""
    train = x[:TRAIN]
    mu, sd = train.mean(0), train.std(0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    values, vectors = np.linalg.eigh(np.cov(z[:TRAIN].T))
    order = np.argsort(values)[::-1]
    values, vectors = np.maximum(values[order], 1e-12), vectors[:, order]
    k = int(np.searchsorted(np.cumsum(values) / values.sum(), 0.85) + 1)
    p = vectors[:, :k]
    t = z @ p
    t2 = (t**2 / values[:k]).sum(1)
    q = ((z - t @ p.T) ** 2).sum(1)
    flagged = (t2 > np.quantile(t2[:TRAIN], 0.99)) | (q > np.quantile(q[:TRAIN], 0.99))
    return flagged.astype(int)


def stream(method: str, sensors: list[str], x: np.ndarray, sensitivity: float | None):
    """Our detector through registry.detect; returns (predictions, CPU seconds)."""
    registry = AnomalyRegistry(auto_resolve_after=1)
    d = registry.create_detector(metrics=sensors, method=method, sensitivity=sensitivity)
    rows = [dict(zip(sensors, row.tolist(), strict=True)) for row in x]
    preds = np.zeros(len(x), dtype=int)
    started = time.process_time()
    for i, row in enumerate(rows):
        preds[i] = registry.detect(d, row, timestamp=float(i)) is not None
    return preds, time.process_time() - started


def step_cost_us(method: str, x: np.ndarray, sensitivity: float) -> float:
    """CPU us per vector of the detector's own step (filter: score, decide, learn)."""
    flt = build_multivariate(method, [str(i) for i in range(x.shape[1])], sensitivity, {})
    for row in x[:TRAIN]:
        flt.update(row)
    rest = x[TRAIN:]
    started = time.process_time()
    for row in rest:
        flt.update(row)
    return (time.process_time() - started) / len(rest) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(os.environ.get("CONSTELLATION_DATA") or "../shared/data") / "skab-valve1"
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--sensitivity", type=float, default=None, help="default: the method's")
    args = parser.parse_args()
    experiments = load(args.data)
    labels = [y for *_, y in experiments]
    n = len(experiments)
    halves = {"tune (0-7)": range(min(8, n)), "held out (8-)": range(8, n), "all": range(n)}
    print(f"{n} experiments from {args.data}, {sum(len(y) for y in labels)} vectors\n")
    print("| detector | part | F1 | FAR % | MAR % |")
    print("|---|---|---|---|---|")
    results: dict[str, list[np.ndarray]] = {"PCA T2+Q baseline (batch)": []}
    costs: dict[str, float] = {}
    results["flag everything (reference)"] = [np.ones(len(y), dtype=int) for y in labels]
    for _, _, x, _ in experiments:
        results["PCA T2+Q baseline (batch)"].append(baseline_t2q(x))
    for method in ("pca", "mset"):
        preds, cpu = [], 0.0
        for _, sensors, x, _ in experiments:
            p, seconds = stream(method, sensors, x, args.sensitivity)
            preds.append(p)
            cpu += seconds
        results[method] = preds
        costs[method] = cpu / sum(len(y) for y in labels) * 1e6
    for name, preds in results.items():
        for part, idx in halves.items():
            if len(idx) == 0:
                continue
            f1, far, mar = metrics([preds[i] for i in idx], [labels[i] for i in idx])
            print(f"| {name} | {part} | {f1:.3f} | {far:.1f} | {mar:.1f} |")
    x = np.vstack([x for _, _, x, _ in experiments[:4]])
    print("\n| method | CPU us/vector, registry.detect | CPU us/vector, detector step | limit |")
    print("|---|---|---|---|")
    for method in ("pca", "mset"):
        step = min(step_cost_us(method, x, 4.0) for _ in range(3))
        print(
            f"| {method} | {costs[method]:.1f} | {step:.1f} | {LIMIT_US:.0f} "
            f"({step / LIMIT_US:.2f}x of it) |"
        )


if __name__ == "__main__":
    main()
