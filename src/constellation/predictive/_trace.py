"""Per-minute invocation traces for the replayer, read from CSV.

Two shapes are read:

* long form: a header with ``minute,function,invocations`` and optionally
  ``duration_ms`` (any order, other columns ignored); one row per function and minute;
  minutes a function has no row are zero; two rows for the same function and minute
  add up (their durations are averaged, weighted by invocations).
* the Azure Functions 2019 wide form: a header with ``HashFunction`` and the minute
  columns ``1,2,...,1440``; one row per function; rows of the same function add up.

Several files are replayed one after another (Azure publishes one file per day).
A bad cell raises :class:`TraceError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import PredictiveValidationError

__all__ = ["DEFAULT_DURATION_MS", "Trace", "TraceError", "read_trace", "read_traces"]

#: mean duration assumed when a trace has none (Azure 2019's median function ran ~1 s)
DEFAULT_DURATION_MS = 1000.0
LONG_COLUMNS = ("minute", "function", "invocations")
MAX_MINUTES = 60 * 24 * 366


class TraceError(PredictiveValidationError):
    """A trace file that cannot be read; ``field`` is ``FILE:LINE: column NAME``."""


@dataclass
class Trace:
    """Invocations per minute (functions x minutes) and their mean duration in ms."""

    functions: list[str]
    invocations: np.ndarray
    duration_ms: np.ndarray

    def __post_init__(self) -> None:
        self.invocations = np.asarray(self.invocations, dtype=np.float64)
        self.duration_ms = np.asarray(self.duration_ms, dtype=np.float64)
        if self.invocations.ndim != 2 or self.invocations.shape[0] != len(self.functions):
            raise PredictiveValidationError(
                "invocations", "expected one row of per-minute counts per function"
            )
        if self.duration_ms.shape != self.invocations.shape:
            raise PredictiveValidationError(
                "duration_ms", f"expected the shape of invocations {self.invocations.shape}"
            )
        if not np.all(np.isfinite(self.invocations)) or np.any(self.invocations < 0):
            raise PredictiveValidationError("invocations", "expected finite counts >= 0")
        if not np.all(np.isfinite(self.duration_ms)) or np.any(self.duration_ms <= 0):
            raise PredictiveValidationError("duration_ms", "expected finite durations > 0")

    @property
    def minutes(self) -> int:
        return int(self.invocations.shape[1])

    @classmethod
    def from_counts(
        cls,
        counts: dict[str, Sequence[float]],
        duration_ms: float | dict[str, float] = DEFAULT_DURATION_MS,
    ) -> Trace:
        """A trace from ``{function: per-minute counts}`` (equal lengths)."""
        names = list(counts)
        matrix = np.array([np.asarray(counts[n], dtype=np.float64) for n in names])
        if isinstance(duration_ms, dict):
            per = np.array([float(duration_ms.get(n, DEFAULT_DURATION_MS)) for n in names])
        else:
            per = np.full(len(names), float(duration_ms))
        return cls(names, matrix, np.repeat(per[:, None], matrix.shape[1], axis=1))


def _error(path: Path, line: int, column: str, message: str) -> TraceError:
    return TraceError(f"{path}:{line}: column {column!r}", message)


def _number(path: Path, line: int, column: str, text: str, positive: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        allowed = "a number > 0" if positive else "a number >= 0"
        raise _error(path, line, column, f"{text!r} is not allowed; expected {allowed}")
    return value


def _read_long(path: Path, header: list[str], rows: Iterator[list[str]]) -> Trace:
    col = {name: header.index(name) for name in LONG_COLUMNS}
    dur_col = header.index("duration_ms") if "duration_ms" in header else None
    width = max([*col.values(), dur_col or 0]) + 1
    index: dict[str, int] = {}
    fn_idx: list[int] = []
    minutes: list[int] = []
    counts: list[float] = []
    busy: list[float] = []
    m_col, f_col, i_col = col["minute"], col["function"], col["invocations"]
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) < width:
            columns = {**col, **({"duration_ms": dur_col} if dur_col is not None else {})}
            missing = min((c, n) for n, c in columns.items() if c >= len(row))[1]
            raise _error(path, line, missing, "is missing")
        text = row[m_col]
        try:
            minute = int(text)
        except ValueError:
            minute = -1
        if not 0 <= minute < MAX_MINUTES:
            raise _error(
                path,
                line,
                "minute",
                f"{text!r} is not allowed; expected an integer 0-{MAX_MINUTES - 1}",
            )
        name = row[f_col].strip()
        if not name:
            raise _error(path, line, "function", "is empty; expected a function name")
        n = _number(path, line, "invocations", row[i_col])
        d = (
            DEFAULT_DURATION_MS
            if dur_col is None
            else _number(path, line, "duration_ms", row[dur_col], positive=True)
        )
        fn_idx.append(index.setdefault(name, len(index)))
        minutes.append(minute)
        counts.append(n)
        busy.append(n * d)
    if not minutes:
        raise TraceError(f"{path}", "has no rows")
    m = np.asarray(minutes)
    first = int(m.min())
    shape = (len(index), int(m.max()) - first + 1)
    inv = np.zeros(shape)
    work = np.zeros(shape)
    f = np.asarray(fn_idx)
    np.add.at(inv, (f, m - first), np.asarray(counts))
    np.add.at(work, (f, m - first), np.asarray(busy))
    duration = np.full(shape, DEFAULT_DURATION_MS)
    called = inv > 0
    duration[called] = work[called] / inv[called]
    return Trace(list(index), inv, duration)


def _read_wide(path: Path, header: list[str], rows: Iterator[list[str]]) -> Trace:
    minute_cols = [i for i, name in enumerate(header) if name.strip().isdigit()]
    if not minute_cols:
        raise _error(path, 1, "1", "is missing; expected minute columns 1,2,...")
    first, last = minute_cols[0], minute_cols[-1]
    if minute_cols != list(range(first, last + 1)):
        raise _error(path, 1, header[first], "minute columns must be contiguous")
    f_col = header.index("HashFunction")
    index: dict[str, int] = {}
    matrix: list[np.ndarray] = []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) <= last:
            raise _error(path, line, header[min(len(row), last)], "is missing")
        try:
            values = np.array(row[first : last + 1], dtype=np.float64)
            bad = not np.all(np.isfinite(values)) or bool(np.any(values < 0))
        except ValueError:
            bad = True
        if bad:  # find the first bad cell, for the message
            for i in range(first, last + 1):
                _number(path, line, header[i], row[i])
        name = row[f_col].strip()
        if not name:
            raise _error(path, line, "HashFunction", "is empty; expected a function hash")
        if name in index:
            matrix[index[name]] = matrix[index[name]] + values
        else:
            index[name] = len(matrix)
            matrix.append(values)
    if not matrix:
        raise TraceError(f"{path}", "has no rows")
    inv = np.vstack(matrix)
    return Trace(list(index), inv, np.full(inv.shape, DEFAULT_DURATION_MS))


def read_trace(path: str | Path) -> Trace:
    """One CSV file, long or Azure wide form (told apart by the header)."""
    path = Path(path)
    if not path.is_file():
        raise TraceError("trace", f"{path} is not a readable file")
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        header = [h.strip() for h in next(rows, [])]
        if "HashFunction" in header:
            return _read_wide(path, header, rows)
        missing = [c for c in LONG_COLUMNS if c not in header]
        if missing:
            raise _error(
                path,
                1,
                missing[0],
                "is missing; expected a header minute,function,invocations[,duration_ms] "
                "or the Azure form HashFunction,...,1,2,...,1440",
            )
        return _read_long(path, header, rows)


def read_traces(paths: Sequence[str | Path]) -> Trace:
    """Several files replayed one after another; a function absent from one is idle there."""
    if not paths:
        raise TraceError("trace", "expected at least one file")
    parts = [read_trace(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    names: dict[str, int] = {}
    for part in parts:
        for name in part.functions:
            names.setdefault(name, len(names))
    total = sum(p.minutes for p in parts)
    inv = np.zeros((len(names), total))
    dur = np.full((len(names), total), DEFAULT_DURATION_MS)
    start = 0
    for part in parts:
        rows = [names[n] for n in part.functions]
        inv[rows, start : start + part.minutes] = part.invocations
        dur[rows, start : start + part.minutes] = part.duration_ms
        start += part.minutes
    return Trace(list(names), inv, dur)
