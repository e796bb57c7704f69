"""Our NAB scorer against NAB's own result files for windowedGaussian, digit for digit."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from constellation.anomaly import (
    best_threshold,
    load_nab_corpus,
    load_nab_profiles,
    normalized_score,
    null_score,
    score_series,
)
from constellation.anomaly._nab_corpus import load_nab_results, probation_length
from constellation.anomaly._nab_scoring import py2_float_text, scaled_sigmoid

pytestmark = pytest.mark.data

DETECTOR = "windowedGaussian"
# files with true positives, false positives, misses, and one without anomalies
FEW = {
    "realTraffic/speed_t4013.csv",
    "realTweets/Twitter_volume_PFE.csv",
    "realKnownCause/nyc_taxi.csv",
    "artificialNoAnomaly/art_daily_no_noise.csv",
}


@pytest.fixture(scope="module")
def nab(data_dir: Path) -> Path:
    return data_dir / "nab"


@pytest.fixture(scope="module")
def corpus(nab: Path):
    return load_nab_corpus(nab)


def published_rows(nab: Path, profile: str) -> dict[str, dict[str, str]]:
    path = nab / "results" / DETECTOR / f"{DETECTOR}_{profile}_scores.csv"
    with path.open() as handle:
        return {row["File"] or "Totals": row for row in csv.DictReader(handle)}


def test_scaled_sigmoid_and_probation_known_values() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.5) == -1.0
    assert probation_length(4032) == 604 and probation_length(22695) == 750
    assert py2_float_text(-1.0) == "-1.0" and py2_float_text(1.7663178312201) == "1.76631783122"


def test_corpus_shape(corpus) -> None:
    assert len(corpus) == 58
    assert sum(len(s.windows) for s in corpus) == 116


@pytest.mark.parametrize("profile", ["standard", "reward_low_FP_rate", "reward_low_FN_rate"])
def test_a_few_files_reproduce_nab_digit_for_digit(nab, corpus, profile) -> None:
    cost = load_nab_profiles(nab)[profile]
    rows = published_rows(nab, profile)
    threshold = json.loads((nab / "config" / "thresholds.json").read_text())[DETECTOR][profile][
        "threshold"
    ]
    for series in (s for s in corpus if s.path in FEW):
        columns = load_nab_results(nab, DETECTOR, series.path)
        scores = [float(v) for v in columns["anomaly_score"]]
        result = score_series(series, scores, cost, threshold)
        row = rows[series.path]
        assert py2_float_text(result.score) == row["Score"]
        assert [result.tp, result.tn, result.fp, result.fn, result.total] == [
            int(row[k]) for k in ("TP", "TN", "FP", "FN", "Total_Count")
        ]
        assert result.row_scores_text() == columns[f"S(t)_{profile}"]
        assert [str(v) for v in series.labels] == columns["label"]


@pytest.mark.slow
def test_the_whole_corpus_reproduces_the_published_scoreboard(nab, corpus) -> None:
    final = json.loads((nab / "results" / "final_results.json").read_text())[DETECTOR]
    thresholds = json.loads((nab / "config" / "thresholds.json").read_text())[DETECTOR]
    scores = {
        s.path: [float(v) for v in load_nab_results(nab, DETECTOR, s.path)["anomaly_score"]]
        for s in corpus
    }
    for profile, cost in load_nab_profiles(nab).items():
        rows = published_rows(nab, profile)
        order = [f for f in rows if f != "Totals"]  # NAB's summation order
        by_path = {s.path: s for s in corpus}
        total = 0.0
        for path in order:
            total += score_series(
                by_path[path], scores[path], cost, thresholds[profile]["threshold"]
            ).score
        assert py2_float_text(total) == rows["Totals"]["Score"]
        perfect = sum(len(s.windows) for s in corpus)
        assert normalized_score(total, null_score(corpus, cost), perfect) == final[profile]
        # the sweep finds NAB's stored threshold for this detector
        assert best_threshold(corpus, scores, cost)[0] == thresholds[profile]["threshold"]
