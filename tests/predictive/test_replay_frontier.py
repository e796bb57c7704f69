"""benchmarks/replay_frontier.py's core: sweep settings, ratios, the envelope and its
interpolation, and what holds by construction on a small hand-made trace."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from replay_frontier import Point, envelope, p75_at, run_point, settings, with_ratios

from constellation.predictive import ReplayConfig, Trace


def _trace(minutes: int = 360) -> Trace:
    """Poisson functions from a few calls a day to several a minute, and a timer."""
    rng = np.random.default_rng(7)
    rates = [0.005, 0.02, 0.05, 0.2, 1.0, 5.0]
    rows = [rng.poisson(r, minutes).astype(float) for r in rates]
    timer = np.zeros(minutes)
    timer[::15] = 1.0
    rows.append(timer)
    inv = np.array(rows)
    return Trace([f"f{i}" for i in range(len(rows))], inv, np.full(inv.shape, 500.0))


def _point(policy: str, idle: float, p75: float) -> Point:
    return Point(policy, policy, "k", 0.0, p75 / 2, p75, int(p75), idle)


def test_settings_put_reactive_first_and_set_each_knob() -> None:
    got = settings(
        budgets=(1.0, 2.0),
        cold_shares=(0.1,),
        min_rate=0.005,
        hybrid_ranges=(30,),
        hybrid_tails=(90,),
        keepalives=(3,),
    )
    assert got[0].policy == "reactive" and got[0].config == ReplayConfig()
    by_line = {(s.line, s.value): s.config for s in got}
    assert by_line[("fixed-keepalive", 3)].keepalive_minutes == 3
    assert by_line[("hybrid: range", 30)].histogram_range_minutes == 30
    assert by_line[("hybrid: tail pct", 90)].tail_percentile == 90
    assert by_line[("predictive: defaults", 0.97)] == ReplayConfig()
    swept = by_line[("predictive: c=0.1", 2.0)]
    assert (swept.budget_ratio, swept.keepalive_cold_share, swept.keepalive_min_rate) == (
        2.0,
        0.1,
        0.005,
    )
    assert len(got) == 1 + 1 + 1 + 1 + 1 + 2


def test_envelope_keeps_only_points_no_cheaper_point_beats() -> None:
    pts = [_point("p", 1.0, 50.0), _point("p", 2.0, 60.0), _point("p", 3.0, 10.0)]
    pts.append(_point("p", 4.0, 10.0))  # as good as a cheaper one: dominated
    front = envelope(pts)
    assert [(p.idle, p.p75) for p in front] == [(1.0, 50.0), (3.0, 10.0)]


def test_p75_at_interpolates_on_the_envelope_and_is_none_outside_it() -> None:
    pts = with_ratios(
        [_point("reactive", 10.0, 90.0), _point("p", 5.0, 80.0), _point("p", 15.0, 20.0)]
    )
    mine = [p for p in pts if p.policy == "p"]
    assert [p.idle_ratio for p in mine] == [0.5, 1.5]
    assert p75_at(mine, 1.0) == pytest.approx(50.0)
    assert p75_at(mine, 0.5) == pytest.approx(80.0)
    assert p75_at(mine, 0.4) is None
    assert p75_at(mine, 1.6) is None


def test_with_ratios_needs_the_reactive_reference() -> None:
    with pytest.raises(ValueError, match="reactive"):
        with_ratios([_point("p", 1.0, 1.0)])


def test_longer_fixed_keepalive_never_costs_less_or_starts_more_cold() -> None:
    # By construction: an instance kept K minutes is also warm under any K' > K.
    trace = _trace()
    swept = [s for s in settings(keepalives=(1, 2, 5, 10, 60)) if s.policy == "fixed-keepalive"]
    got = [run_point(trace, s) for s in swept]
    for shorter, longer in itertools.pairwise(got):
        assert longer.idle >= shorter.idle
        assert longer.cold_starts <= shorter.cold_starts
        assert longer.p75 <= shorter.p75


def test_every_policy_replays_and_reactive_is_the_unit() -> None:
    trace = _trace(300)
    chosen = settings(
        budgets=(1.5,), cold_shares=(0.2,), hybrid_ranges=(30,), hybrid_tails=(), keepalives=(10,)
    )
    got = with_ratios([run_point(trace, s) for s in chosen])
    assert {p.policy for p in got} == {
        "reactive",
        "fixed-keepalive",
        "hybrid-histogram",
        "predictive",
    }
    assert got[0].idle_ratio == 1.0
    for p in got:
        assert 0.0 <= p.p50 <= p.p75 <= 100.0
        assert p.idle > 0 and p.cold_starts > 0
