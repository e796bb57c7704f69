"""The embedded SQLite queue: at-least-once delivery with leases, retries and a DLQ."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from constellation.errors import ValidationError
from constellation.store import Store
from constellation.triggers import peek, publish, start_trigger
from constellation.triggers._sqlite import SqliteQueueSource

from .._support import FakeClock, wait_until
from .conftest import Recorder


def _spec(**options: object) -> dict[str, object]:
    return {"type": "queue", "queue": "orders", "retry_delay_s": 5.0, **options}


def test_messages_are_delivered_once_each_and_removed_when_processed(store: Store) -> None:
    ids = [publish("orders", {"n": n}, store=store) for n in range(20)]
    recorder = Recorder()
    with start_trigger(_spec(), recorder, store=store) as runner:
        wait_until(lambda: len(recorder.events) == 20)
        wait_until(lambda: runner.stats().in_flight == 0)
        assert sorted(b["n"] for b in recorder.bodies()) == list(range(20))
        assert {e["message_id"] for e in recorder.events} == set(ids)
        assert peek("orders", store=store) == []
        stats = runner.stats()
    assert (stats.delivered, stats.succeeded, stats.failed) == (20, 20, 0)


def test_the_event_is_the_queue_envelope(store: Store, clock: FakeClock) -> None:
    message_id = publish("orders", {"order_id": 7}, store=store, clock=clock)
    recorder = Recorder()
    with start_trigger(_spec(), recorder, store=store, clock=clock):
        wait_until(lambda: recorder.events)
    assert recorder.events[0] == {
        "type": "queue",
        "broker": "sqlite",
        "queue": "orders",
        "message_id": message_id,
        "delivery_count": 1,
        "published_at": clock.now,
        "body": {"order_id": 7},
    }


def test_a_publish_while_running_wakes_the_consumer(store: Store) -> None:
    recorder = Recorder()
    with start_trigger(_spec(), recorder, store=store):
        publish("orders", "late", store=store)
        wait_until(lambda: recorder.bodies() == ["late"])


def test_a_failed_message_is_redelivered_after_the_retry_delay(
    store: Store, clock: FakeClock
) -> None:
    recorder = Recorder(fail=lambda e: e["delivery_count"] == 1)
    publish("orders", "x", store=store, clock=clock)
    with start_trigger(_spec(), recorder, store=store, clock=clock) as runner:
        wait_until(lambda: runner.stats().failed == 1)
        row = peek("orders", store=store)[0]
        assert row["deliveries"] == 1  # waiting out its retry delay, not lost
        clock.advance(5.1)
        wait_until(lambda: runner.stats().succeeded == 1)
    assert [e["delivery_count"] for e in recorder.events] == [1, 2]
    assert peek("orders", store=store) == []


def test_after_max_deliveries_the_message_is_dead_lettered(store: Store, clock: FakeClock) -> None:
    recorder = Recorder(fail=lambda e: True)
    publish("orders", {"bad": True}, store=store, clock=clock)
    spec = _spec(max_deliveries=3, dead_letter="orders-dead")
    with start_trigger(spec, recorder, store=store, clock=clock) as runner:
        for n in range(1, 4):
            wait_until(lambda n=n: runner.stats().failed == n)
            clock.advance(5.1)
        wait_until(lambda: runner.stats().dead_lettered == 1)
    assert len(recorder.events) == 3
    assert peek("orders", store=store) == []
    [dead] = peek("orders-dead", store=store)
    assert dead["body"] == {"bad": True}
    assert "failed 3 deliveries" in dead["error"] and "failed on" in dead["error"]


def test_a_message_whose_lease_runs_out_is_delivered_again(store: Store, clock: FakeClock) -> None:
    """A consumer that claimed a message and then stopped (no ack, no heartbeat)."""
    publish("orders", "orphan", store=store, clock=clock)
    gone = SqliteQueueSource(store, "orders", "orders.dlq", 10.0, clock)
    gone.start()
    assert [d.message_id for d in gone.fetch(5, 0.0)]  # claimed, never settled
    gone.close()
    recorder = Recorder()
    with start_trigger(_spec(visibility_timeout_s=10.0), recorder, store=store, clock=clock):
        clock.advance(9.0)
        time.sleep(0.3)
        assert recorder.events == []  # still leased
        clock.advance(1.1)
        wait_until(lambda: recorder.events)
    assert recorder.events[0]["delivery_count"] == 2


def test_max_in_flight_bounds_concurrent_deliveries(store: Store) -> None:
    for n in range(12):
        publish("orders", n, store=store)
    recorder = Recorder()
    recorder.hold.clear()
    with start_trigger(_spec(max_in_flight=3, batch_size=2), recorder, store=store) as runner:
        wait_until(lambda: recorder.active == 3)
        assert runner.stats().in_flight == 3
        leased = sum(1 for m in peek("orders", store=store) if m["deliveries"])
        assert 3 <= leased <= 3 + 2  # the running ones and at most one batch waiting
        recorder.hold.set()
        wait_until(lambda: len(recorder.events) == 12)
    assert recorder.peak == 3


def test_close_waits_for_in_flight_deliveries_and_leaves_the_rest(store: Store) -> None:
    for n in range(5):
        publish("orders", n, store=store)
    recorder = Recorder()
    recorder.hold.clear()
    runner = start_trigger(_spec(max_in_flight=1), recorder, store=store)
    wait_until(lambda: recorder.active == 1)
    recorder.hold.set()
    runner.close()
    runner.close()  # idempotent
    assert runner.closed
    left = peek("orders", store=store)
    assert len(recorder.events) + len(left) == 5
    assert all(m["deliveries"] == 0 for m in left)  # nothing held by the closed runner
    again = Recorder()
    with start_trigger(_spec(), again, store=store):
        wait_until(lambda: len(again.events) == len(left))


def test_an_exception_from_invoke_is_a_failed_delivery(store: Store, clock: FakeClock) -> None:
    def explode(event: object) -> object:
        raise RuntimeError("no such function")

    publish("orders", 1, store=store, clock=clock)
    with start_trigger(_spec(max_deliveries=1), explode, store=store, clock=clock) as runner:
        wait_until(lambda: runner.stats().dead_lettered == 1)
        assert "no such function" in str(runner.stats().last_error)
    assert "no such function" in peek("orders.dlq", store=store)[0]["error"]


def test_the_queue_survives_a_restart_of_the_store(tmp_path: Path) -> None:
    path = tmp_path / "platform.db"
    with Store(path) as first:
        for n in range(10):
            publish("backlog", n, store=first)
    recorder = Recorder()
    with Store(path) as second, start_trigger(_spec(queue="backlog"), recorder, store=second):
        wait_until(lambda: len(recorder.events) == 10)
    assert sorted(recorder.bodies()) == list(range(10))


def test_queues_are_separate(store: Store) -> None:
    publish("a", "for a", store=store)
    publish("b", "for b", store=store)
    recorder = Recorder()
    with start_trigger(_spec(queue="a"), recorder, store=store):
        wait_until(lambda: recorder.events)
    assert recorder.bodies() == ["for a"]
    assert [m["body"] for m in peek("b", store=store)] == ["for b"]


def test_an_unserialisable_message_is_refused_and_nothing_is_queued(store: Store) -> None:
    with pytest.raises(ValidationError) as info:
        publish("orders", {"when": object()}, store=store)
    assert info.value.field == "message"
    assert peek("orders", store=store) == []
