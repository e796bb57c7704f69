"""Consumer groups on one queue: each group sees every message, and what every group has
acked is removed from the broker (Redis trims, JetStream purges), not before."""

from __future__ import annotations

from typing import Any

import redis

from constellation.store import Store
from constellation.triggers import TriggerRegistry, publish, start_trigger

from .._support import FakeClock, wait_until
from .conftest import Recorder, nats_call


def _queue(broker: str, queue: str, url: str, group: str) -> dict[str, object]:
    return {"type": "queue", "broker": broker, "queue": queue, "url": url, "group": group}


def test_redis_entries_stay_until_every_group_acked(name: str, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    fast, slow = Recorder(), Recorder()
    slow.hold.clear()  # the slow group reads but does not finish yet
    with (
        start_trigger(_queue("redis", name, redis_url, "fast"), fast) as a,
        start_trigger(_queue("redis", name, redis_url, "slow"), slow) as b,
    ):
        # published once both groups exist: a group made later starts from what is left
        for n in range(5):
            publish(name, n, broker="redis", url=redis_url)
        wait_until(lambda: a.stats().succeeded == 5)
        assert client.xlen(name) == 5  # the slow group still needs them
        slow.hold.set()
        wait_until(lambda: b.stats().succeeded == 5)
        wait_until(lambda: client.xlen(name) == 0)
    assert sorted(fast.bodies()) == sorted(slow.bodies()) == list(range(5))


def test_nats_messages_stay_until_every_consumer_acked(name: str, nats_url: str) -> None:
    async def left(js: Any) -> int:
        info = await js.stream_info(await js.find_stream_name_by_subject(name))
        return int(info.state.messages)

    fast, slow = Recorder(), Recorder()
    slow.hold.clear()
    with (
        start_trigger(_queue("nats", name, nats_url, "fast"), fast) as a,
        start_trigger(_queue("nats", name, nats_url, "slow"), slow) as b,
    ):
        for n in range(5):
            publish(name, n, broker="nats", url=nats_url)
        wait_until(lambda: a.stats().succeeded == 5)
        assert nats_call(left) == 5
        slow.hold.set()
        wait_until(lambda: b.stats().succeeded == 5)
        wait_until(lambda: nats_call(left) == 0)
    assert sorted(fast.bodies()) == sorted(slow.bodies()) == list(range(5))


def test_the_registry_names_groups_and_subscriptions(store: Store) -> None:
    registry = TriggerRegistry(store, FakeClock())
    queue = {"type": "queue", "broker": "redis", "queue": "orders"}
    assert registry.add("fn-a", queue).spec["group"] == "fn-a"
    assert registry.add("fn-b", {**queue, "group": "shared"}).spec["group"] == "shared"
    sqlite = registry.add("fn-c", {"type": "queue", "queue": "jobs"})
    assert sqlite.spec["group"] == "constellation"  # one embedded queue, no groups
    stream = registry.add("fn-d", {"type": "stream", "stream": "clicks"})
    assert stream.spec["name"] == stream.id
    named = registry.add("fn-e", {"type": "event", "event_type": "a.*", "name": "mine"})
    assert named.spec["name"] == "mine"
