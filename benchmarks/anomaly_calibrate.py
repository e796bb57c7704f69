"""Calibrates ``sensitivity`` for the methods whose score is not in standard deviations.

Usage::

    .venv/bin/python benchmarks/anomaly_calibrate.py [--values 1000000]

``sensitivity=k`` means, for every method, "flag values about as rare as k standard
deviations of a normal stream": the share of values flagged on a stationary stream of
independent N(0, 1) values is P(|Z| > k). For zscore, mad, moving_average, rate_change,
pattern and correlation the score already is a number of deviations; for iqr the mapping
is analytic. For ``ensemble`` and ``isolation_forest`` this script measures it: it
streams seeded N(0, 1) values through the detector (score, then learn), drops each
stream's warm-up, and prints the score exceeded by a share P(|Z| > k) of the values for
each k of the grid. The printed table is pasted into
``src/constellation/anomaly/_sensitivity.py``. The data are synthetic noise, apart from
every benchmark's data (NAB, SKAB).
"""

from __future__ import annotations

import argparse
import math
import random

import numpy as np

from constellation.anomaly import Ensemble, IsolationForest

# The ensemble raises one alarm per event (a score must beat the last 150), so it flags
# at most about 0.7 % of noise: rarities below k = 2.75 are out of its reach.
GRIDS = {
    "Ensemble": (2.75, 3.0, 3.25, 3.5, 3.75, 4.0),
    "IsolationForest": (1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
}
STREAM = 20_000  # values per seeded stream
SKIP = 1_000  # each stream's warm-up, not scored


def scores(cls: type, total: int) -> np.ndarray:
    out: list[float] = []
    seed = 0
    while len(out) < total:
        rng = random.Random(seed)
        detector = cls()
        for i in range(STREAM):
            score = detector.score_learn(rng.gauss(0.0, 1.0))
            if i >= SKIP:
                out.append(score)
        seed += 1
    return np.asarray(out[:total])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=1_000_000, help="ensemble values")
    parser.add_argument("--forest-values", type=int, default=400_000)
    parser.add_argument("--only", choices=("ensemble", "isolation_forest"))
    args = parser.parse_args()
    runs = [(Ensemble, args.values), (IsolationForest, args.forest_values)]
    if args.only:
        runs = [runs[0] if args.only == "ensemble" else runs[1]]
    for cls, total in runs:
        values = np.sort(scores(cls, total))
        print(f"{cls.__name__} ({len(values)} values):")
        table = []
        for k in GRIDS[cls.__name__]:
            tail = math.erfc(k / math.sqrt(2))
            index = min(len(values) - 1, int(len(values) * (1 - tail)))
            threshold = float(values[index])
            flagged = float(np.mean(values > threshold))
            table.append((k, round(threshold, 4)))
            print(f"  k={k}: P(|Z|>k)={tail:.2e}  threshold={threshold:.4f}  flagged={flagged:.2e}")
        print(f"  table: {table}")


if __name__ == "__main__":
    main()
