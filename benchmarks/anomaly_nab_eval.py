"""NAB evaluation of constellation.anomaly: the scorer check, our detectors and two peers.

Usage::

    .venv/bin/python benchmarks/anomaly_nab_eval.py [--nab DIR] [--skip-peers] [--workers 2]

1. Scorer check: our re-implemented NAB scorer on NAB's own windowedGaussian result
   files, with the stored thresholds, against the published totals and final scores.
2. Each method and the default ensemble over all 58 series, every value streamed once
   (score, then learn): the three profile scores (corpus-wide threshold from an exact
   sweep, as NAB's optimiser intends) and, in a second pass through ``ThresholdFilter``
   at the method's default sensitivity (what the registry reports), the false positive
   rate on the anomaly-free series. CPU time is process time (the machine is shared).
3. Peers on the same series in the same run: river's HalfSpaceTrees (behind river's
   MinMaxScaler, as river documents it) and scikit-learn's IsolationForest refitted on
   a sliding window (benchmark-only dependencies). Score and wall time.

Published scoreboard for comparison: see ``PUBLISHED`` below (NAB README, v1.1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from constellation.anomaly import (
    METHODS,
    NabSeries,
    best_threshold,
    load_nab_corpus,
    load_nab_profiles,
    normalized_score,
    null_score,
    score_corpus,
)
from constellation.anomaly._methods import build_filter, resolve_sensitivity
from constellation.anomaly._nab_corpus import load_nab_results
from constellation.anomaly._nab_scoring import py2_float_text

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
PUBLISHED = {  # standard, low FP, low FN
    "ARTime": (74.9, 65.1, 80.4),
    "Numenta HTM": (70.5, 62.6, 75.2),
    "CAD OSE": (69.9, 67.0, 73.2),
    "earthgecko Skyline": (58.2, 46.2, 63.9),
    "KNN CAD": (58.0, 43.4, 64.8),
    "Relative Entropy": (54.6, 47.6, 58.8),
    "Random Cut Forest": (51.7, 38.4, 59.7),
    "Twitter ADVec": (47.1, 33.6, 53.5),
    "Windowed Gaussian": (39.6, 20.9, 47.4),
    "Null": (0.0, 0.0, 0.0),
}
OUR_METHODS = (
    "ensemble",
    "zscore",
    "mad",
    "iqr",
    "moving_average",
    "rate_change",
    "isolation_forest",
)

_CORPUS: dict[str, NabSeries] = {}


def _init(nab: str) -> None:
    _CORPUS.update({s.path: s for s in load_nab_corpus(nab)})


def run_method(args: tuple[str, str]) -> tuple[str, np.ndarray, np.ndarray, float]:
    """Stream one series through ``method``; returns (path, scores, flags, CPU seconds).

    Scores: the detector's own stream (score each value, then learn it; 0 during the
    warm-up), which NAB thresholds. Flags: a second pass through ``ThresholdFilter`` at
    the default sensitivity, i.e. what the registry would report.
    """
    method, path = args
    series = _CORPUS[path]
    level = resolve_sensitivity(method, None, {})
    values, times = series.values.tolist(), series.seconds.tolist()
    detector = build_filter(method, level, {})[0].detector
    scores = np.empty(len(series))
    started = time.process_time()
    for i, (x, t) in enumerate(zip(values, times, strict=True)):
        scores[i] = detector.score_one(x, t) if detector.ready else 0.0
        detector.learn_one(x, t)
    cpu = time.process_time() - started
    decide = build_filter(method, level, {})[0]
    flags = np.array([decide.update(x, t)[1] for x, t in zip(values, times, strict=True)])
    return path, scores, flags, cpu


def run_peer(args: tuple[str, str]) -> tuple[str, np.ndarray, np.ndarray, float]:
    peer, path = args
    values = _CORPUS[path].values
    started = time.process_time()
    scores = _hst(values) if peer == "river HalfSpaceTrees" else _sk_iforest(values)
    return path, scores, np.zeros(len(values), dtype=bool), time.process_time() - started


def _hst(values: np.ndarray) -> np.ndarray:
    from river import anomaly, compose, preprocessing

    model = compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(seed=42))
    out = np.empty(len(values))
    for i, x in enumerate(values.tolist()):
        point = {"x": x}
        out[i] = model.score_one(point)
        model.learn_one(point)
    return out


def _sk_iforest(values: np.ndarray, window: int = 1000, block: int = 250) -> np.ndarray:
    """Refit on the last ``window`` values every ``block`` values; score the next block
    with the model fitted on the past only (streaming-fair, batched for speed)."""
    from sklearn.ensemble import IsolationForest

    out = np.zeros(len(values))
    column = values.reshape(-1, 1)
    for start in range(block, len(values), block):
        model = IsolationForest(n_estimators=50, random_state=0)
        model.fit(column[max(0, start - window) : start])
        out[start : start + block] = -model.score_samples(column[start : start + block])
    return out


def evaluate(corpus: list[NabSeries], profiles, scores: dict[str, np.ndarray]) -> dict:
    result = {}
    perfect = sum(len(s.windows) for s in corpus)
    for name in PROFILES:
        cost = profiles[name]
        threshold, total = best_threshold(corpus, scores, cost)
        result[name] = (normalized_score(total, null_score(corpus, cost), perfect), threshold)
    return result


def false_positive_rate(corpus: list[NabSeries], flags: dict[str, np.ndarray]) -> float:
    free = [s for s in corpus if not s.windows]
    flagged = sum(int(flags[s.path][s.probation :].sum()) for s in free)
    scored = sum(len(s) - s.probation for s in free)
    return flagged / scored


def scorer_check(nab: Path, corpus: list[NabSeries], profiles) -> None:
    final = json.loads((nab / "results" / "final_results.json").read_text())["windowedGaussian"]
    stored = json.loads((nab / "config" / "thresholds.json").read_text())["windowedGaussian"]
    scores = {
        s.path: [
            float(v) for v in load_nab_results(nab, "windowedGaussian", s.path)["anomaly_score"]
        ]
        for s in corpus
    }
    print("## 1. Scorer check: windowedGaussian, stored thresholds\n")
    print("| profile | our raw total | our final | published final | equal |")
    print("|---|---|---|---|---|")
    perfect = sum(len(s.windows) for s in corpus)
    for name in PROFILES:
        cost = profiles[name]
        _, total = score_corpus(corpus, scores, cost, stored[name]["threshold"])
        ours = normalized_score(total, null_score(corpus, cost), perfect)
        print(
            f"| {name} | {py2_float_text(total)} | {ours!r} | {final[name]!r} | "
            f"{ours == final[name]} |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = (
        Path(
            os.environ.get("CONSTELLATION_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "data"
        )
        / "nab"
    )
    parser.add_argument("--nab", type=Path, default=default)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--methods", default=",".join(OUR_METHODS))
    args = parser.parse_args()
    corpus = load_nab_corpus(args.nab)
    profiles = load_nab_profiles(args.nab)
    rows = sum(len(s) for s in corpus)
    print(f"# NAB evaluation ({len(corpus)} series, {rows} values)\n")
    scorer_check(args.nab, corpus, profiles)
    methods = [m for m in args.methods.split(",") if m]
    peers = [] if args.skip_peers else ["river HalfSpaceTrees", "sklearn IsolationForest"]
    table = []
    with Pool(args.workers, initializer=_init, initargs=(str(args.nab),)) as pool:
        for name in methods + peers:
            assert name in METHODS or name in peers, name
            worker = run_method if name in METHODS else run_peer
            started = time.perf_counter()
            out = pool.map(worker, [(name, s.path) for s in corpus])
            wall = time.perf_counter() - started
            scores = {path: sc for path, sc, _, _ in out}
            flags = {path: fl for path, _, fl, _ in out}
            cpu = sum(sec for *_, sec in out)
            result = evaluate(corpus, profiles, scores)
            fp = false_positive_rate(corpus, flags) if name in METHODS else float("nan")
            table.append((name, result, fp, cpu, wall))
            print(f"done {name}: {result['standard'][0]:.1f} ({wall:.0f} s)", file=sys.stderr)
    print("## 2. Detectors on the NAB corpus (same run)\n")
    print(
        "| detector | standard | reward low FP | reward low FN | best threshold (std) "
        "| FP rate, anomaly-free series | CPU us/value | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, result, fp, cpu, wall in table:
        scores_txt = " | ".join(f"{result[p][0]:.1f}" for p in PROFILES)
        fp_txt = "n/a" if fp != fp else f"{100 * fp:.3f}%"
        print(
            f"| {name} | {scores_txt} | {result['standard'][1]:.4g} | {fp_txt} | "
            f"{1e6 * cpu / rows:.1f} | {wall:.0f} |"
        )
    print("\n## 3. Published scoreboard (NAB v1.1)\n")
    print("| detector | standard | reward low FP | reward low FN |")
    print("|---|---|---|---|")
    for name, (std, low_fp, low_fn) in PUBLISHED.items():
        print(f"| {name} | {std} | {low_fp} | {low_fn} |")
    ours = next((r for n, r, *_ in table if n == "ensemble"), None)
    if ours is not None:
        std = ours["standard"][0]
        rank = 1 + sum(1 for v in PUBLISHED.values() if v[0] > std)
        print(
            f"\nensemble standard score {std:.1f}: rank {rank} of {len(PUBLISHED) + 1} "
            f"(ratio to windowed Gaussian {std / 39.6:.2f}, to Skyline {std / 58.2:.2f})"
        )


if __name__ == "__main__":
    main()
