"""Timer triggers: schedules, firing on an injected clock, catch-up, overlap, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from constellation.errors import ValidationError
from constellation.platform import Constellation
from constellation.triggers import parse_schedule
from constellation.triggers import validate_trigger as validate_timer

from .._support import WAIT_S, FakeClock, wait_until

HTTP = str(Path(__file__).resolve().parents[1] / "fixtures" / "server" / "http_handlers.py")
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, on a minute and an hour


def _platform(home: Path, clock: FakeClock | None, background: bool = False) -> Constellation:
    extra = {"clock": clock} if clock is not None else {}
    # sandbox off: the handler records each run in a file of the test's own folder, which a
    # sandboxed function cannot see (tests/security checks that it cannot)
    return Constellation(
        home,
        background=background,
        ledger_flush_interval_s=0.05,
        reaper_interval_s=3600.0,
        sandbox="off",
        **extra,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def plat(tmp_path: Path, clock: FakeClock) -> Iterator[Constellation]:
    with _platform(tmp_path / "home", clock) as p:
        yield p


def _recorder(p: Constellation, record: Path, name: str = "tick", **opts: object) -> str:
    info = p.serverless.create_function(
        name,
        "python",
        "record",
        HTTP,
        env={"RECORD": str(record)},
        **opts,  # type: ignore[arg-type]
    )
    return info.id


def _lines(record: Path) -> list[list[str]]:
    """The record's complete lines (a run may be appending the next one), split."""
    if not record.exists():
        return []
    lines = record.read_text().splitlines(keepends=True)
    return [line.split() for line in lines if line.endswith("\n")]


# -- schedules --------------------------------------------------------------------------
def test_cron_macros_and_rates_parse() -> None:
    assert parse_schedule("0 * * * *").next_after(T0) == T0 + 3600
    assert parse_schedule("*/5   * * * *").expression == "*/5 * * * *"
    assert parse_schedule("@hourly").next_after(T0 + 1) == T0 + 3600
    assert parse_schedule("@daily").next_after(T0) == datetime(2027, 1, 16, tzinfo=UTC).timestamp()
    rate = parse_schedule("rate(5 minutes)", anchor=T0)
    assert rate.period_s == 300 and rate.next_after(T0) == T0 + 300
    assert parse_schedule("rate(1 hour)").period_s == 3600
    assert parse_schedule("rate(2 days)").period_s == 172800
    assert parse_schedule("rate(30 seconds)").period_s == 30


def test_timezone_is_honoured_and_utc_is_the_default() -> None:
    spec = validate_timer({"type": "timer", "schedule": "0 9 * * *", "timezone": "Europe/Paris"})
    paris = parse_schedule(spec["schedule"], spec["timezone"])
    # 09:00 in Paris in January is 08:00 UTC; in July (summer time) 07:00 UTC.
    assert paris.next_after(T0 - 1) == T0
    july = datetime(2027, 7, 1, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(paris.next_after(july), UTC).hour == 7
    assert validate_timer({"type": "timer", "schedule": "@daily"})["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"schedule": "every hour"}, "trigger.schedule"),
        ({"schedule": "* * * * * *"}, "trigger.schedule"),
        ({"schedule": "61 * * * *"}, "trigger.schedule"),
        ({"schedule": "@reboot"}, "trigger.schedule"),
        ({"schedule": "rate(0 minutes)"}, "trigger.schedule"),
        ({"schedule": "rate(5 fortnights)"}, "trigger.schedule"),
        ({}, "trigger.schedule"),
        ({"schedule": "@hourly", "timezone": "Mars/Olympus"}, "trigger.timezone"),
        ({"schedule": "@hourly", "catch_up": "yes"}, "trigger.catch_up"),
        ({"schedule": "@hourly", "allow_overlap": 1}, "trigger.allow_overlap"),
        ({"schedule": "@hourly", "every": 5}, "trigger.every"),
    ],
)
def test_bad_timer_specs_name_the_field(spec: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_timer({"type": "timer", **spec})
    assert info.value.field == field


# -- firing -----------------------------------------------------------------------------
def test_fires_at_the_scheduled_time_once(
    plat: Constellation, clock: FakeClock, tmp_path: Path
) -> None:
    record = tmp_path / "record.txt"
    fid = _recorder(plat, record)
    trigger = plat.serverless.add_trigger(fid, {"type": "timer", "schedule": "* * * * *"})
    timers = plat.serverless.timers
    assert timers.tick(T0 + 30) == []
    fired = timers.tick(T0 + 60.2)
    assert [(f.trigger_id, f.scheduled_at, f.action, f.catch_up) for f in fired] == [
        (trigger.id, T0 + 60, "fired", False)
    ]
    assert timers.tick(T0 + 60.5) == []
    assert timers.wait_idle(WAIT_S)
    assert [float(line[0]) for line in _lines(record)] == [T0 + 60]


def test_a_scaled_to_zero_function_cold_starts(plat: Constellation, tmp_path: Path) -> None:
    fid = _recorder(plat, tmp_path / "r.txt")
    plat.serverless.add_trigger(fid, {"type": "timer", "schedule": "rate(1 minute)"})
    assert plat.serverless.list_instances(fid) == []
    plat.serverless.timers.tick(T0 + 60)
    assert plat.serverless.timers.wait_idle(WAIT_S)
    metrics = plat.serverless.get_function_metrics(fid)
    assert metrics.successful_invocations == 1 and metrics.cold_starts == 1


def test_missed_runs_are_caught_up_once(plat: Constellation, tmp_path: Path) -> None:
    record = tmp_path / "r.txt"
    fid = _recorder(plat, record)
    plat.serverless.add_trigger(fid, {"type": "timer", "schedule": "* * * * *"})
    fired = plat.serverless.timers.tick(T0 + 3600 + 10)  # 60 runs were missed
    assert [(f.scheduled_at, f.action, f.catch_up) for f in fired] == [(T0 + 3600, "fired", True)]
    assert plat.serverless.timers.tick(T0 + 3600 + 20) == []
    assert plat.serverless.timers.wait_idle(WAIT_S)
    assert len(_lines(record)) == 1 and _lines(record)[0][1] == "True"


def test_catch_up_can_be_turned_off(plat: Constellation, tmp_path: Path) -> None:
    record = tmp_path / "r.txt"
    fid = _recorder(plat, record)
    spec = {"type": "timer", "schedule": "* * * * *", "catch_up": False}
    plat.serverless.add_trigger(fid, spec)
    fired = plat.serverless.timers.tick(T0 + 3600 + 10)
    assert [f.action for f in fired] == ["skipped_missed"]
    assert [f.action for f in plat.serverless.timers.tick(T0 + 3660)] == ["fired"]
    assert plat.serverless.timers.wait_idle(WAIT_S)
    assert [float(line[0]) for line in _lines(record)] == [T0 + 3660]


def test_no_overlapping_runs_unless_allowed(plat: Constellation, tmp_path: Path) -> None:
    record = tmp_path / "r.txt"
    fid = _recorder(plat, record, concurrency=4)
    sleepy = {"type": "timer", "schedule": "rate(1 minute)", "event": {"sleep": 1.5}}
    plat.serverless.add_trigger(fid, sleepy)
    timers = plat.serverless.timers
    assert [f.action for f in timers.tick(T0 + 60)] == ["fired"]
    assert [f.action for f in timers.tick(T0 + 120)] == ["skipped_overlap"]
    assert timers.wait_idle(WAIT_S)
    overlapping = _recorder(plat, tmp_path / "o.txt", name="overlap", concurrency=4)
    plat.serverless.add_trigger(overlapping, {**sleepy, "allow_overlap": True})
    assert [f.action for f in timers.tick(T0 + 180) if f.function_id == overlapping] == ["fired"]
    assert [f.action for f in timers.tick(T0 + 240) if f.function_id == overlapping] == ["fired"]
    assert timers.running(plat.serverless.list_triggers("overlap")[0].id) == 2
    assert timers.wait_idle(WAIT_S)
    assert len(_lines(tmp_path / "o.txt")) == 2


def test_a_restart_catches_up_what_was_missed_while_down(tmp_path: Path) -> None:
    record = tmp_path / "r.txt"
    home = tmp_path / "home"
    clock = FakeClock(T0)
    with _platform(home, clock) as first:
        fid = _recorder(first, record)
        first.serverless.add_trigger(fid, {"type": "timer", "schedule": "*/10 * * * *"})
        assert [f.action for f in first.serverless.timers.tick(T0 + 600)] == ["fired"]
        assert first.serverless.timers.wait_idle(WAIT_S)
    clock.now = T0 + 3 * 3600 + 5  # down for three hours
    with _platform(home, clock) as second:
        fired = second.serverless.timers.tick()
        assert [(f.scheduled_at, f.catch_up) for f in fired] == [(T0 + 3 * 3600, True)]
        assert second.serverless.timers.wait_idle(WAIT_S)
        assert second.serverless.timers.tick() == []
    assert [float(line[0]) for line in _lines(record)] == [T0 + 600, T0 + 3 * 3600]


def test_deleting_the_function_removes_its_timers(plat: Constellation, tmp_path: Path) -> None:
    fid = _recorder(plat, tmp_path / "r.txt")
    plat.serverless.add_trigger(fid, {"type": "timer", "schedule": "* * * * *"})
    plat.serverless.delete_function(fid)
    assert plat.serverless.list_triggers() == []
    assert plat.serverless.timers.tick(T0 + 120) == []


def test_the_loop_fires_on_the_real_clock(tmp_path: Path) -> None:
    record = tmp_path / "r.txt"
    with _platform(tmp_path / "home", None, background=True) as p:
        fid = _recorder(p, record)
        p.serverless.init()
        p.serverless.add_trigger(fid, {"type": "timer", "schedule": "rate(1 second)"})
        wait_until(lambda: len(_lines(record)) >= 2, what="two runs recorded")
    lines = _lines(record)
    assert len(lines) >= 2
    scheduled = [float(line[0]) for line in lines]
    assert scheduled[1] - scheduled[0] == pytest.approx(1.0)
