"""What the NAB cross-validation scripts share (``anomaly_nab_cv.py``,
``anomaly_nab_ideas.py``): streaming a detector over NAB's series in worker processes,
and leave-one-category-out scoring of the streamed scores.

A detector is streamed the way the platform feeds one: each value scored, then learnt.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from constellation.anomaly import NabSeries, best_threshold, load_nab_corpus, score_corpus

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")

CORPUS: dict[str, NabSeries] = {}  # each worker's copy, by path


def _init(nab: str) -> None:
    CORPUS.update({s.path: s for s in load_nab_corpus(nab)})


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    default = Path(os.environ.get("CONSTELLATION_DATA") or "../shared/data") / "nab"
    parser.add_argument("--nab", type=Path, default=default)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args()


def stream(detector: Any, series: NabSeries) -> np.ndarray:
    """Each value scored (0 until the detector is ready), then learnt."""
    out = np.empty(len(series))
    for i, (x, t) in enumerate(zip(series.values.tolist(), series.seconds.tolist(), strict=True)):
        out[i] = detector.score_one(x, t) if detector.ready else 0.0
        detector.learn_one(x, t)
    return out


def score_all(
    nab: Path,
    corpus: list[NabSeries],
    configurations: int,
    run: Callable[[tuple[int, str]], tuple[int, str, np.ndarray]],
    workers: int,
) -> list[dict[str, np.ndarray]]:
    """``run((index, path))`` for every configuration and series, in ``workers`` processes
    (each loads the corpus into :data:`CORPUS` once); the scores by configuration, path."""
    scores: list[dict[str, np.ndarray]] = [{} for _ in range(configurations)]
    jobs = [(i, s.path) for i in range(configurations) for s in corpus]
    with Pool(workers, initializer=_init, initargs=(str(nab),)) as pool:
        for index, path, out in pool.imap_unordered(run, jobs, chunksize=4):
            scores[index][path] = out
    return scores


def cross_validated(
    corpus: list[NabSeries], scores: list[dict[str, np.ndarray]], cost: Any, picks: list[int]
) -> tuple[float, list[tuple[str, int, float]]]:
    """Held-out total over NAB's categories, choosing among ``picks`` and the threshold on
    the other categories; with each fold's (category, pick, threshold)."""
    total = 0.0
    chosen = []
    for category in sorted({s.path.split("/")[0] for s in corpus}):
        train = [s for s in corpus if not s.path.startswith(category + "/")]
        test = [s for s in corpus if s.path.startswith(category + "/")]
        fits = {i: best_threshold(train, scores[i], cost) for i in picks}
        pick = max(picks, key=lambda i: fits[i][1])
        total += score_corpus(test, scores[pick], cost, fits[pick][0])[1]
        chosen.append((category, pick, fits[pick][0]))
    return total, chosen
