"""A re-implementation of NAB's scorer (``nab/scorer.py``), threshold sweep and normalisation.

Rules, as published with NAB v1.x:

* a row is a detection when its anomaly score is ``>= threshold``; rows in the
  probationary period are neither detections nor misses;
* each label window scores once: its first detection earns
  ``scaled_sigmoid(-(last - i + 1) / width) * tp / scaled_sigmoid(-1)`` (an early
  detection earns about 1), no detection costs ``-fn``;
* a detection outside every window costs ``fp`` times ``scaled_sigmoid`` of its distance
  past the closest preceding window, measured in units of that window's width minus one
  (NAB's quirk, kept so the published numbers reproduce), or ``-fp`` before any window;
* one threshold per detector and profile for the whole corpus; the corpus score is
  normalised to 100 * (score - null) / (perfect - null), where the null detector detects
  nothing and the perfect one earns 1 per window.

NAB wrote its totals with Python 2's ``str`` (12 significant digits) and normalised the
rounded total; :func:`py2_float_text` and :func:`normalized_score` do the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._nab_corpus import CostMatrix, NabSeries

__all__ = [
    "SeriesScore",
    "best_threshold",
    "normalized_score",
    "null_score",
    "py2_float_text",
    "scaled_sigmoid",
    "score_corpus",
    "score_series",
]


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: about 1 at a window's left edge, 0 at its right, -1 far past."""
    if position > 3.0:
        return -1.0
    return 2 * (1 / (1 + math.exp(5 * position))) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


def py2_float_text(value: float) -> str:
    """``str(value)`` as Python 2 wrote it (12 significant digits), as in NAB's CSV files."""
    text = f"{value:.12g}"
    if not any(c in text for c in ".en"):  # "inf" and "nan" contain an n
        text += ".0"
    return text


@dataclass(frozen=True)
class SeriesScore:
    """NAB's per-file result row plus the per-row score column ``S(t)``."""

    path: str
    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int
    row_scores: np.ndarray
    windows: int

    def row_scores_text(self) -> list[str]:
        """The ``S(t)`` column as NAB wrote it: integer zeros when nothing was scored
        (pandas kept its initial integer column), else Python 2 floats."""
        if self.windows == 0 and self.fp == 0:
            return ["0"] * len(self.row_scores)
        return [py2_float_text(float(v)) for v in self.row_scores]


def _preceding_window(windows: Sequence[tuple[int, int]], row: int) -> tuple[int, int] | None:
    found = None
    for window in windows:  # sorted and disjoint: the last one ending before `row` wins
        if window[1] < row:
            found = window
    return found


def score_series(
    series: NabSeries,
    anomaly_scores: Sequence[float] | np.ndarray,
    cost: CostMatrix,
    threshold: float,
) -> SeriesScore:
    """Score one series at one threshold exactly as NAB's ``Scorer.getScore`` does."""
    scores = np.asarray(anomaly_scores, dtype=float)
    if len(scores) != len(series):
        raise ValueError(f"{series.path}: {len(scores)} scores for {len(series)} rows")
    rows = len(series)
    scored = np.arange(rows) >= series.probation
    detected = (scores >= threshold) & scored
    label = series.labels.astype(bool)
    tp_mask = detected & label
    fp_mask = detected & ~label
    row_scores = np.zeros(rows)
    tp_score: float = 0
    fn_score: float = 0
    for first, last in series.windows:
        hits = np.flatnonzero(tp_mask[first : last + 1])
        if len(hits) == 0:
            row_scores[first] = -cost.fn
            fn_score += -cost.fn
        else:
            width = float(last - first + 1)
            position = -(last - (first + int(hits[0])) + 1) / width
            this_tp = scaled_sigmoid(position) * cost.tp / _MAX_TP
            row_scores[first] = this_tp
            tp_score += this_tp
    fp_score: float = 0
    for row in np.flatnonzero(fp_mask):
        window = _preceding_window(series.windows, int(row))
        if window is None:
            this_fp = -cost.fp
        else:
            width_minus_one = float(window[1] - window[0])  # the quirk: width - 1
            position = abs(window[1] - int(row)) / width_minus_one if width_minus_one else 3.5
            this_fp = scaled_sigmoid(position) * cost.fp
        row_scores[row] = this_fp
        fp_score += this_fp
    return SeriesScore(
        path=series.path,
        threshold=threshold,
        score=tp_score + fp_score + fn_score,
        tp=int(tp_mask.sum()),
        tn=int((scored & ~detected & ~label).sum()),
        fp=int(fp_mask.sum()),
        fn=int((scored & ~detected & label).sum()),
        total=rows,
        row_scores=row_scores,
        windows=len(series.windows),
    )


def score_corpus(
    corpus: Iterable[NabSeries],
    scores: Mapping[str, Sequence[float] | np.ndarray],
    cost: CostMatrix,
    threshold: float,
) -> tuple[list[SeriesScore], float]:
    """Score every series; returns the rows and the corpus total (summed in corpus order)."""
    rows = [score_series(s, scores[s.path], cost, threshold) for s in corpus]
    total: float = 0
    for row in rows:
        total += row.score
    return rows, total


def null_score(corpus: Iterable[NabSeries], cost: CostMatrix) -> float:
    """The score of the null detector (no detections): ``-fn`` per window."""
    return -cost.fn * sum(len(s.windows) for s in corpus)


def normalized_score(total: float, null: float, perfect: float) -> float:
    """NAB's final score: 100 * (total - null) / (perfect - null), on the 12-digit total."""
    rounded = float(py2_float_text(total))
    return 100 * (rounded - null) / (perfect - null)


def _row_gain(series: NabSeries, row: int, window: int, cost: CostMatrix) -> float:
    """What detecting ``row`` is worth: a TP's value in window ``window`` (-1: an FP's cost)."""
    if window >= 0:
        first, last = series.windows[window]
        return scaled_sigmoid(-(last - row + 1) / float(last - first + 1)) * cost.tp / _MAX_TP
    preceding = _preceding_window(series.windows, row)
    if preceding is None:
        return -cost.fp
    span = float(preceding[1] - preceding[0])
    return scaled_sigmoid(abs(preceding[1] - row) / span if span else 3.5) * cost.fp


_GAINS: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}


def _series_gains(series: NabSeries, cost: CostMatrix) -> tuple[np.ndarray, np.ndarray]:
    """For each scored row: its window's index in the series (-1: none) and its gain.

    Depends only on the series and the profile, so it is computed once and cached.
    """
    key = (series.path, len(series), tuple(series.windows), cost)
    if key not in _GAINS:
        if len(_GAINS) > 1000:  # bounded: a corpus has 58 series x 3 profiles
            _GAINS.clear()
        window_of = np.full(len(series), -1)
        for k, (first, last) in enumerate(series.windows):
            window_of[first : last + 1] = k
        rows = range(series.probation, len(series))
        gains = np.array([_row_gain(series, r, int(window_of[r]), cost) for r in rows])
        _GAINS[key] = (window_of[series.probation :], gains)
    return _GAINS[key]


def best_threshold(
    corpus: Sequence[NabSeries],
    scores: Mapping[str, Sequence[float] | np.ndarray],
    cost: CostMatrix,
) -> tuple[float, float]:
    """The corpus-wide threshold with the highest total score, and that score.

    An exact sweep (NAB's later ``sweeper.py`` does the same): lowering the threshold
    past a row's anomaly score adds that row's detection, so sorting every scored row
    by score once yields the total at every distinct threshold. A window counts its
    best (earliest) detection; a false positive adds its own cost.
    """
    all_scores, all_windows, all_gains = [], [], []
    n_windows = 0
    for series in corpus:
        windows, gains = _series_gains(series, cost)
        all_scores.append(np.asarray(scores[series.path], dtype=float)[series.probation :])
        all_windows.append(np.where(windows >= 0, windows + n_windows, -1))
        all_gains.append(gains)
        n_windows += len(series.windows)
    if not all_scores:
        return math.inf, 0.0
    flat = np.concatenate(all_scores)
    order = np.argsort(-flat, kind="stable")
    candidates = list(
        zip(
            flat[order].tolist(),
            np.concatenate(all_windows)[order].tolist(),
            np.concatenate(all_gains)[order].tolist(),
            strict=True,
        )
    )
    best_in_window = [-cost.fn] * n_windows
    total = -cost.fn * n_windows
    best_total, best_at = total, math.inf
    for i, (score, wid, gain) in enumerate(candidates):
        if wid >= 0:
            if gain > best_in_window[wid]:
                total += gain - best_in_window[wid]
                best_in_window[wid] = gain
        else:
            total += gain
        # Only a threshold between two distinct scores is realisable.
        last_of_group = i + 1 == len(candidates) or candidates[i + 1][0] != score
        if last_of_group and total > best_total:
            best_total, best_at = total, score
    return best_at, best_total
