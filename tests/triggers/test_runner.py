"""The delivery policy of TriggerRunner, on an in-memory Source (the broker-independent
part: admission, ordering, retries in place, giving back on close, fetch errors)."""

from __future__ import annotations

import threading
from typing import Any

from constellation.triggers import validate_trigger
from constellation.triggers._runner import TriggerRunner
from constellation.triggers._source import Delivery, GroupCommit, Source

from .._support import wait_until
from .conftest import Recorder


class MemoryDelivery(Delivery):
    def __init__(self, source: MemorySource, n: int, deliveries: int = 1) -> None:
        super().__init__(str(n), deliveries, {"body": n, "delivery_count": deliveries})
        self.source = source

    def ack(self) -> None:
        self.source.log.append(("ack", self.message_id))

    def nak(self, delay_s: float) -> None:
        self.source.log.append(("nak", self.message_id))

    def release(self) -> None:
        self.source.log.append(("release", self.message_id))

    def dead_letter(self, reason: str) -> None:
        self.source.log.append(("dead", self.message_id))


class MemorySource(Source):
    """Hands out prepared batches; ``errors`` fetches fail first."""

    def __init__(self, batches: list[list[tuple[int, int]]], errors: int = 0) -> None:
        self.batches = batches
        self.errors = errors
        self.log: list[tuple[str, str]] = []
        self.closed = False
        self.fetched: list[int] = []

    def fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        if self.errors:
            self.errors -= 1
            raise ConnectionError("broker went away")
        if not self.batches:
            threading.Event().wait(min(wait_s, 0.01))
            return []
        self.fetched.append(limit)
        return [MemoryDelivery(self, n, d) for n, d in self.batches.pop(0)]

    def close(self) -> None:
        self.closed = True


def _spec(**options: Any) -> dict[str, Any]:
    return validate_trigger({"type": "queue", "queue": "q", "retry_delay_s": 0.0, **options})


def test_a_message_over_its_delivery_budget_is_dead_lettered_without_a_call() -> None:
    source = MemorySource([[(1, 4), (2, 1)]])
    recorder = Recorder()
    with TriggerRunner(_spec(max_deliveries=3), recorder, source).start() as runner:
        wait_until(lambda: ("ack", "2") in source.log)
    assert [e["body"] for e in recorder.events] == [2]
    assert ("dead", "1") in source.log
    assert runner.stats().dead_lettered == 1 and source.closed


def test_failures_nak_until_the_last_delivery_dead_letters() -> None:
    source = MemorySource([[(1, 1)], [(1, 2)]])
    recorder = Recorder(fail=lambda e: True)
    with TriggerRunner(_spec(max_deliveries=2), recorder, source).start():
        wait_until(lambda: len(source.log) == 2)
    assert source.log == [("nak", "1"), ("dead", "1")]


def test_ordered_delivery_retries_in_place_and_keeps_order() -> None:
    source = MemorySource([[(1, 1), (2, 1), (3, 1)]])
    tries = {"n": 0}

    def two_fails(event: dict[str, Any]) -> bool:
        if event["body"] == 2 and tries["n"] < 2:
            tries["n"] += 1
            return True
        return False

    recorder = Recorder(fail=two_fails)
    runner = TriggerRunner(_spec(max_deliveries=5), recorder, source, ordered=True).start()
    with runner:
        wait_until(lambda: ("ack", "3") in source.log)
    assert [e["body"] for e in recorder.events] == [1, 2, 2, 2, 3]
    assert source.log == [("ack", "1"), ("ack", "2"), ("ack", "3")]
    assert runner.stats().failed == 2


def test_ordered_delivery_dead_letters_after_its_budget_and_moves_on() -> None:
    source = MemorySource([[(1, 1), (2, 1)]])
    recorder = Recorder(fail=lambda e: e["body"] == 1)
    with TriggerRunner(_spec(max_deliveries=3), recorder, source, ordered=True).start():
        wait_until(lambda: ("ack", "2") in source.log)
    assert [e["body"] for e in recorder.events] == [1, 1, 1, 2]
    assert source.log == [("dead", "1"), ("ack", "2")]


def test_close_gives_back_what_has_not_started() -> None:
    source = MemorySource([[(n, 1) for n in range(6)]])
    recorder = Recorder()
    recorder.hold.clear()
    runner = TriggerRunner(_spec(max_in_flight=2, batch_size=6), recorder, source).start()
    wait_until(lambda: recorder.active == 2)
    closing = threading.Thread(target=runner.close)
    closing.start()
    wait_until(lambda: sum(1 for action, _ in source.log if action == "release") == 4)
    recorder.hold.set()
    closing.join(10)
    assert sorted(action for action, _ in source.log) == ["ack"] * 2 + ["release"] * 4
    assert source.closed


def test_a_failing_fetch_is_retried_and_reported() -> None:
    source = MemorySource([[(1, 1)]], errors=2)
    recorder = Recorder()
    with TriggerRunner(_spec(), recorder, source).start() as runner:
        wait_until(lambda: ("ack", "1") in source.log)
        assert "broker went away" in str(runner.stats().last_error)


def test_a_batch_is_fetched_only_when_a_worker_is_free() -> None:
    source = MemorySource([[(n, 1) for n in range(3)], [(9, 1)]])
    recorder = Recorder()
    recorder.hold.clear()
    with TriggerRunner(_spec(max_in_flight=2, batch_size=3), recorder, source).start():
        wait_until(lambda: recorder.active == 2)
        threading.Event().wait(0.05)
        assert len(source.batches) == 1  # 2 running + 1 waiting: no second fetch yet
        recorder.hold.set()
        wait_until(lambda: len(recorder.events) == 4)


def test_group_commit_flushes_everything_and_survives_a_failed_flush() -> None:
    flushed: list[list[int]] = []

    def flush(items: list[int]) -> None:
        if items == [0]:
            raise OSError("lost")
        flushed.append(items)

    acks = GroupCommit(flush)
    try:
        acks.add(0)
    except OSError:
        pass
    threads = [threading.Thread(target=acks.add, args=(n,)) for n in range(1, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(n for batch in flushed for n in batch) == list(range(1, 50))
