"""NAB with the ensemble's constants chosen by cross-validation over NAB's categories.

Usage::

    .venv/bin/python benchmarks/anomaly_nab_cv.py [--nab DIR] [--workers 2]

The shipped ensemble's constants (30 levels, contexts of 3, a gate of 150 values) and
its threshold were chosen on the whole of NAB, as NAB's published entries were; its
64.3 is an in-sample figure. This script gives the out-of-sample one: leave one NAB
category out (artificialNoAnomaly, artificialWithAnomaly, realAdExchange,
realAWSCloudwatch, realKnownCause, realTraffic, realTweets), choose the configuration
of a small grid and the threshold that score best on the other six, score the held-out
category with them, and add up the held-out totals over the seven folds; normalised
over the whole corpus as NAB does. Per profile separately. Every series is streamed
once per configuration (score, then learn), with the package's ``Ensemble``; scoring
uses the package's NAB scorer (checked against NAB's own results by
``anomaly_nab_eval.py``), which knows nothing of the detector.
"""

from __future__ import annotations

import itertools

import numpy as np
from _nab_cv import CORPUS, PROFILES, arguments, cross_validated, score_all, stream

from constellation.anomaly import (
    Ensemble,
    best_threshold,
    load_nab_corpus,
    load_nab_profiles,
    normalized_score,
    null_score,
)

GRID = [
    {"bins": bins, "context": context, "gate": gate}
    for bins, context, gate in itertools.product((20, 30, 45), (2, 3), (100, 150, 250))
]
SHIPPED = {"bins": 30, "context": 3, "gate": 150}


def run(job: tuple[int, str]) -> tuple[int, str, np.ndarray]:
    index, path = job
    return index, path, stream(Ensemble(**GRID[index]), CORPUS[path])


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    corpus = load_nab_corpus(args.nab)
    profiles = load_nab_profiles(args.nab)
    scores = score_all(args.nab, corpus, len(GRID), run, args.workers)
    perfect = sum(len(s.windows) for s in corpus)
    print(f"# NAB, ensemble constants by leave-one-category-out ({len(GRID)} configurations)\n")
    print("| profile | in-sample, shipped constants | in-sample, best of grid | cross-validated |")
    print("|---|---|---|---|")
    chosen: dict[str, list[str]] = {}
    for name in PROFILES:
        cost = profiles[name]
        null = null_score(corpus, cost)
        shipped = scores[GRID.index(SHIPPED)]
        in_sample = normalized_score(best_threshold(corpus, shipped, cost)[1], null, perfect)
        best_grid = max(
            normalized_score(best_threshold(corpus, s, cost)[1], null, perfect) for s in scores
        )
        held_total, folds = cross_validated(corpus, scores, cost, list(range(len(GRID))))
        chosen[name] = [f"{c}: {GRID[pick]} at {threshold:.4g}" for c, pick, threshold in folds]
        cv = normalized_score(held_total, null, perfect)
        print(f"| {name} | {in_sample:.1f} | {best_grid:.1f} | {cv:.1f} |")
    print("\nConfigurations chosen per held-out category (standard profile):")
    for line in chosen["standard"]:
        print(f"- {line}")


if __name__ == "__main__":
    main()
