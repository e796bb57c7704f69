"""The Numenta Anomaly Benchmark corpus: series, label windows, profiles and result files.

NAB (github.com/numenta/NAB, MIT) ships 58 labelled series under ``data/``, one list of
label windows per series in ``labels/combined_windows.json``, the scoring profiles in
``config/profiles.json`` and, per detector, result files with one ``anomaly_score`` per
row under ``results/<detector>/<category>/<detector>_<name>.csv``. This module only
reads them; scoring lives in :mod:`._nab_scoring`.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ._base import AnomalyError

__all__ = [
    "PROBATION_PERCENT",
    "CostMatrix",
    "NabSeries",
    "load_nab_corpus",
    "load_nab_profiles",
    "load_nab_results",
    "probation_length",
]

# NAB does not score the first 15% of a file (at most 750 rows): detectors learn there.
PROBATION_PERCENT = 0.15


@dataclass(frozen=True, slots=True)
class CostMatrix:
    """The weights of one NAB profile (``standard``, ``reward_low_FP_rate``, ...)."""

    tp: float
    fp: float
    fn: float


# The published profiles, used when ``config/profiles.json`` is absent.
DEFAULT_PROFILES = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}


def probation_length(rows: int, percent: float = PROBATION_PERCENT) -> int:
    """NAB's ``getProbationPeriod``: ``min(floor(percent * rows), percent * 5000)``."""
    return int(min(math.floor(percent * rows), percent * 5000))


@dataclass(frozen=True)
class NabSeries:
    """One labelled series. ``windows`` are inclusive row ranges ``(first, last)``."""

    path: str  # relative to data/, e.g. "realKnownCause/nyc_taxi.csv"
    timestamps: list[datetime]
    values: np.ndarray
    windows: list[tuple[int, int]]
    probation: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "probation", probation_length(len(self.values)))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def labels(self) -> np.ndarray:
        """1 for every row inside a label window, else 0 (NAB's ``label`` column)."""
        out = np.zeros(len(self.values), dtype=np.int8)
        for first, last in self.windows:
            out[first : last + 1] = 1
        return out

    @property
    def seconds(self) -> np.ndarray:
        """Timestamps as unix seconds (naive timestamps are read as UTC)."""
        epoch = datetime(1970, 1, 1)
        return np.array([(t - epoch).total_seconds() for t in self.timestamps])


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def _window_rows(timestamps: list[datetime], start: datetime, end: datetime) -> tuple[int, int]:
    # Timestamps are sorted, so the window is one contiguous run of rows.
    first = bisect.bisect_left(timestamps, start)
    last = bisect.bisect_right(timestamps, end) - 1
    if last < first:
        raise AnomalyError(f"label window {start} - {end} holds no rows")
    return first, last


def _read_series_csv(path: Path) -> tuple[list[datetime], np.ndarray]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        value_col = header.index("value")
        times: list[datetime] = []
        values: list[float] = []
        for row in reader:
            times.append(_parse_time(row[0]))
            values.append(float(row[value_col]))
    return times, np.asarray(values, dtype=float)


def load_nab_corpus(root: Path | str) -> list[NabSeries]:
    """Every series of the corpus at ``root`` (the folder holding ``data/`` and ``labels/``)."""
    root = Path(root)
    windows_file = root / "labels" / "combined_windows.json"
    if not windows_file.is_file():
        raise AnomalyError(f"{windows_file} not found: is {root} a NAB checkout?")
    all_windows: dict[str, list[list[str]]] = json.loads(windows_file.read_text())
    corpus = []
    for rel in sorted(all_windows):
        times, values = _read_series_csv(root / "data" / rel)
        limits = [_window_rows(times, _parse_time(a), _parse_time(b)) for a, b in all_windows[rel]]
        corpus.append(NabSeries(rel, times, values, sorted(limits)))
    return corpus


def load_nab_profiles(root: Path | str) -> dict[str, CostMatrix]:
    """The scoring profiles from ``config/profiles.json`` (or NAB's published defaults)."""
    path = Path(root) / "config" / "profiles.json"
    if not path.is_file():
        return dict(DEFAULT_PROFILES)
    raw = json.loads(path.read_text())
    return {
        name: CostMatrix(
            tp=float(p["CostMatrix"]["tpWeight"]),
            fp=float(p["CostMatrix"]["fpWeight"]),
            fn=float(p["CostMatrix"]["fnWeight"]),
        )
        for name, p in raw.items()
    }


def load_nab_results(root: Path | str, detector: str, rel: str) -> dict[str, list[str]]:
    """The columns (as text) of one detector's result file for series ``rel``."""
    category, name = rel.split("/")
    path = Path(root) / "results" / detector / category / f"{detector}_{name}"
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns: dict[str, list[str]] = {h: [] for h in header}
        for row in reader:
            for key, cell in zip(header, row, strict=True):
                columns[key].append(cell)
    return columns
