"""Reading replay traces: the long form, the Azure wide form, and errors naming line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from constellation.predictive import Trace, TraceError, read_trace, read_traces


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_long_form_fills_absent_minutes_with_zero_and_adds_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.csv",
        "minute,function,invocations,duration_ms\n0,a,2,100\n3,a,1,400\n3,a,1,200\n1,b,5,1000\n",
    )
    trace = read_trace(path)
    assert trace.functions == ["a", "b"]
    assert trace.minutes == 4
    assert trace.invocations.tolist() == [[2, 0, 0, 2], [0, 5, 0, 0]]
    assert trace.duration_ms[0, 3] == pytest.approx(300.0)  # weighted by invocations
    assert trace.duration_ms[0, 0] == pytest.approx(100.0)


def test_wide_form_is_the_azure_per_day_shape(tmp_path: Path) -> None:
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(i) for i in range(1, 4))
    path = write(tmp_path, "d01.csv", header + "\no,a,f1,http,1,0,2\no,a,f2,timer,0,0,1\n")
    day2 = write(tmp_path, "d02.csv", header + "\no,a,f2,timer,3,0,0\n")
    trace = read_traces([path, day2])
    assert trace.functions == ["f1", "f2"]
    assert trace.invocations.tolist() == [[1, 0, 2, 0, 0, 0], [0, 0, 1, 3, 0, 0]]


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("minute,function,invocations\n0,a,1\n1,a,-2\n", ":3: column 'invocations'", "-2"),
        ("minute,function,invocations\n0,a,1\nx,a,2\n", ":3: column 'minute'", "'x'"),
        ("minute,function,invocations\n0,,1\n", ":2: column 'function'", "empty"),
        ("minute,function,invocations\n0,a\n", ":2: column 'invocations'", "missing"),
        ("minute,function,invocations,duration_ms\n0,a,1,0\n", ":2: column 'duration_ms'", "> 0"),
        ("minute,fn,invocations\n0,a,1\n", ":1: column 'function'", "missing"),
        ("HashFunction,1,2\nf,1,nan\n", ":2: column '2'", "'nan'"),
        ("HashFunction,1,2\nf,1,zz\n", ":2: column '2'", "'zz'"),
        ("HashFunction,1,2\nf,1\n", ":2: column '2'", "missing"),
    ],
)
def test_a_bad_cell_is_named_by_line_and_column(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert where in str(info.value) and what in str(info.value)
    assert str(path) in str(info.value)


def test_trace_from_counts_checks_its_arrays() -> None:
    trace = Trace.from_counts({"a": [1, 0, 2]}, duration_ms=250.0)
    assert trace.duration_ms.tolist() == [[250.0] * 3]
    with pytest.raises(ValueError, match="invocations"):
        Trace(["a"], np.array([[1.0, -1.0]]), np.ones((1, 2)))
