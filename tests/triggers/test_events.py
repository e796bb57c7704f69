"""Custom events: CloudEvents envelopes, glob subscriptions, durable per-subscription queues."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.errors import ValidationError
from constellation.platform import default_platform, reset_default_platform
from constellation.store import Store
from constellation.triggers import emit, make_event, peek, start_trigger

from .._support import FakeClock, wait_until
from .conftest import Recorder


def _on(pattern: str, **options: object) -> dict[str, object]:
    return {"type": "event", "event_type": pattern, **options}


def test_the_envelope_is_a_cloudevent(store: Store, clock: FakeClock) -> None:
    recorder = Recorder()
    with start_trigger(_on("order.*"), recorder, store=store, clock=clock):
        assert emit("order.created", {"order_id": 1}, source="/shop", store=store, clock=clock) == 1
        wait_until(lambda: recorder.events)
    [event] = recorder.events
    assert set(event) == {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}
    assert event["specversion"] == "1.0"
    assert (event["type"], event["source"], event["data"]) == (
        "order.created",
        "/shop",
        {"order_id": 1},
    )
    assert event["datacontenttype"] == "application/json"
    when = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert when.timestamp() == clock.now and event["time"].endswith("Z")


def test_globs_choose_the_subscribers_and_emit_counts_them(store: Store) -> None:
    orders, created, everything, users = Recorder(), Recorder(), Recorder(), Recorder()
    with (
        start_trigger(_on("order.*"), orders, store=store),
        start_trigger(_on("*.created"), created, store=store),
        start_trigger(_on("*"), everything, store=store),
        start_trigger(_on("user.[ab]?"), users, store=store),
    ):
        assert emit("order.created", 1, store=store) == 3
        assert emit("order.item.added", 2, store=store) == 2
        assert emit("user.ax", 3, store=store) == 2
        assert emit("user.cx", 4, store=store) == 1
        wait_until(lambda: len(everything.events) == 4)
        wait_until(lambda: len(orders.events) == 2 and len(created.events) == 1)
        wait_until(lambda: len(users.events) == 1)
    assert sorted(e["data"] for e in orders.events) == [1, 2]
    assert [e["data"] for e in created.events] == [1]
    assert [e["data"] for e in users.events] == [3]


def test_an_event_without_subscribers_goes_nowhere(store: Store) -> None:
    assert emit("nobody.listens", {}, store=store) == 0
    with start_trigger(_on("nobody.*"), Recorder(), store=store):
        pass
    assert emit("nobody.listens", {}, store=store) == 0  # closed runners unsubscribe


def test_one_event_reaches_each_subscriber_once(store: Store) -> None:
    first, second = Recorder(), Recorder()
    with (
        start_trigger(_on("tick"), first, store=store),
        start_trigger(_on("tick"), second, store=store),
    ):
        for n in range(10):
            emit("tick", n, store=store)
        wait_until(lambda: len(first.events) == 10 and len(second.events) == 10)
    assert sorted(e["data"] for e in first.events) == list(range(10))
    assert {e["id"] for e in first.events} == {e["id"] for e in second.events}


def test_a_failing_subscriber_is_retried_then_dead_lettered(store: Store, clock: FakeClock) -> None:
    recorder = Recorder(fail=lambda e: True)
    spec = _on("pay.*", name="fn-pay", max_deliveries=2, retry_delay_s=1.0)
    with start_trigger(spec, recorder, store=store, clock=clock) as runner:
        emit("pay.failed", {"id": 9}, store=store, clock=clock)
        wait_until(lambda: runner.stats().failed == 1)
        clock.advance(1.1)
        wait_until(lambda: runner.stats().dead_lettered == 1)
    [dead] = peek("event:fn-pay.dlq", store=store)
    assert dead["body"]["type"] == "pay.failed" and dead["body"]["data"] == {"id": 9}


def test_a_named_subscription_keeps_its_backlog_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "platform.db"
    slow = Recorder()
    slow.hold.clear()
    spec = _on("job.*", name="fn-jobs", max_in_flight=1)
    with Store(path) as store:
        runner = start_trigger(spec, slow, store=store)
        for n in range(5):
            emit("job.queued", n, store=store)
        wait_until(lambda: slow.active == 1)
        slow.hold.set()
        runner.close()
    done = [e["data"] for e in slow.events]
    again = Recorder()
    with Store(path) as store, start_trigger(spec, again, store=store):
        wait_until(lambda: len(done) + len(again.events) == 5)
    assert sorted(done + [e["data"] for e in again.events]) == list(range(5))


@pytest.mark.parametrize(
    ("event_type", "payload", "source", "field"),
    [
        ("", 1, "s", "event_type"),
        ("has space", 1, "s", "event_type"),
        ("order.*", 1, "s", "event_type"),
        (7, 1, "s", "event_type"),
        ("ok", {1, 2}, "s", "payload"),
        ("ok", 1, "", "source"),
        ("ok", 1, "bad\nsource", "source"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_queued(
    store: Store, event_type: object, payload: object, source: object, field: str
) -> None:
    recorder = Recorder()
    with start_trigger(_on("*"), recorder, store=store):
        with pytest.raises(ValidationError) as info:
            emit(event_type, payload, source=source, store=store)  # type: ignore[arg-type]
        assert info.value.field == field
    assert recorder.events == []


def test_make_event_is_usable_alone() -> None:
    event = make_event("a.b", [1], "src", 0.0, event_id="id-1")
    assert event["time"] == "1970-01-01T00:00:00.000000Z" and event["id"] == "id-1"


@pytest.fixture
def default_home(tmp_home: Path) -> Iterator[Path]:
    reset_default_platform()
    yield tmp_home
    reset_default_platform()


def test_emit_and_triggers_use_the_default_platform(default_home: Path) -> None:
    recorder = Recorder()
    with start_trigger(_on("hello"), recorder):
        assert emit("hello", "world") == 1
        wait_until(lambda: recorder.events)
    assert default_platform().settings.home == default_home
    assert recorder.events[0]["data"] == "world"
