"""Irregular, duplicated, out-of-order and gappy samples become a regular series."""

import numpy as np

from constellation.predictive import regularize
from constellation.predictive._series import SampleBuffer, infer_step


def test_regular_input_is_unchanged() -> None:
    ts = 1000.0 + 60.0 * np.arange(50)
    ys = np.arange(50, dtype=float)
    s = regularize(ts, ys)
    assert s.step == 60.0 and s.start == 1000.0
    np.testing.assert_array_equal(s.values, ys)
    assert (s.filled, s.merged) == (0, 0)
    assert s.end == ts[-1]


def test_out_of_order_and_duplicates_are_sorted_and_averaged() -> None:
    ts = np.array([0, 120, 60, 60, 180, 240.0])
    ys = np.array([1, 3, 2, 4, 5, 6.0])
    s = regularize(ts, ys)
    np.testing.assert_allclose(s.values, [1, 3, 3, 5, 6])  # the two at t=60 average to 3
    assert s.merged == 1


def test_gaps_are_filled_by_interpolation() -> None:
    ts = np.array([0, 10, 20, 60, 70.0])  # 30, 40, 50 missing
    ys = np.array([0, 1, 2, 6, 7.0])
    s = regularize(ts, ys)
    assert s.step == 10.0
    np.testing.assert_allclose(s.values, np.arange(8.0))
    assert s.filled == 3


def test_jittered_timestamps_snap_to_the_median_step() -> None:
    rng = np.random.default_rng(3)
    ts = 30.0 * np.arange(200) + rng.uniform(-3, 3, 200)
    s = regularize(ts, np.ones(200))
    assert abs(s.step - 30.0) < 1.0
    assert len(s) in (199, 200, 201)


def test_infer_step_ignores_duplicates() -> None:
    assert infer_step(np.array([0, 5, 5, 10, 10, 15.0])) == 5.0


def test_buffer_is_bounded_and_keeps_the_newest_in_order() -> None:
    buf = SampleBuffer(5)
    for i in range(12):
        buf.append(float(i), float(i * 10))
    ts, ys = buf.arrays()
    np.testing.assert_array_equal(ts, [7, 8, 9, 10, 11])
    np.testing.assert_array_equal(ys, [70, 80, 90, 100, 110])
    assert len(buf) == 5 and buf.last_timestamp() == 11.0
    ts, _ = buf.arrays(since=9.5)
    np.testing.assert_array_equal(ts, [10, 11])
    assert buf.nbytes == 80
    buf.clear()
    assert len(buf) == 0 and buf.last_timestamp() is None
