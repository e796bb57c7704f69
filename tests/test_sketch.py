"""The duration sketch: 1% relative accuracy on nearest-rank quantiles, exact merges,
and an encoding that round-trips."""

from __future__ import annotations

import math
import random

import pytest

from constellation.serverless._sketch import RELATIVE_ACCURACY, Sketch, encode_values, merge_blobs


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("lognormal", [random.Random(1).lognormvariate(0, 2) for _ in range(5000)]),
        ("uniform ms", [random.Random(2).uniform(0.05, 900_000) for _ in range(5000)]),
        ("six calls", [0.31, 0.29, 0.33, 10.2, 1000.4, 1.5]),
        ("with zeros", [0.0] * 30 + [5.0] * 70),
        ("one value", [42.0]),
    ],
)
def test_quantiles_are_within_the_relative_accuracy(name: str, values: list[float]) -> None:
    sketch = Sketch()
    for v in values:
        sketch.add(v)
    ordered = sorted(values)
    for q in (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        exact = _nearest_rank(ordered, q)
        got = sketch.quantile(q)
        assert abs(got - exact) <= RELATIVE_ACCURACY * exact + 1e-12, (name, q, exact, got)


def test_merged_sketches_equal_one_sketch_of_all_values() -> None:
    rng = random.Random(3)
    values = [rng.expovariate(0.1) for _ in range(3000)]
    whole, first, second = Sketch(), Sketch(), Sketch()
    for i, v in enumerate(values):
        whole.add(v)
        (first if i % 3 else second).add(v)
    first.merge(second)
    assert first.encode() == whole.encode()
    assert merge_blobs(Sketch().encode(), whole.encode()) == whole.encode()
    assert merge_blobs(None, None) is None
    assert Sketch.decode(merge_blobs(whole.encode(), None)).encode() == whole.encode()


def test_the_encoding_round_trips_and_is_small() -> None:
    sketch = Sketch()
    for v in (0.0, 0.0, 0.4, 3.0, 3.01, 250.0, 1e6):
        sketch.add(v)
    blob = sketch.encode()
    back = Sketch.decode(blob)
    assert back.count == 7 and back.encode() == blob
    assert [back.quantile(q) for q in (0.1, 0.5, 1.0)] == [
        sketch.quantile(q) for q in (0.1, 0.5, 1.0)
    ]
    one_minute = Sketch()
    for v in (1.1, 1.2, 1.15, 0.9, 1.3) * 200:
        one_minute.add(v)
    assert len(one_minute.encode()) < 64  # 17-byte header, 20 buckets compressed
    assert Sketch().quantile(0.5) == 0.0
    with pytest.raises(ValueError, match="unknown sketch encoding"):
        Sketch.decode(b"\x09" + bytes(16))


def test_values_bucketed_in_numpy_land_where_the_package_puts_them() -> None:
    rng = random.Random(4)
    values = [rng.lognormvariate(0, 3) for _ in range(20000)] + [0.0, 1.0, 2.0, 1e-300, 1e-3]
    one_by_one = Sketch()
    for v in values:
        one_by_one.add(v)
    assert encode_values(values) == one_by_one.encode()
    assert encode_values([]) is None
    assert Sketch.decode(encode_values([0.0, 0.0])).count == 2
    assert len(encode_values([1e-300, 5.0, 1e-3]) or b"") < 64  # under 1 us: the zero bucket
