"""Redis Streams, for real: a consumer group queue (ack, XAUTOCLAIM, dead-letter stream)
and ordered stream subscriptions from a start position."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest
import redis

from constellation.triggers import BrokerUnavailableError, peek, publish, start_trigger

from .._support import wait_until
from .conftest import Recorder


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _queue(key: str, url: str, **options: object) -> dict[str, object]:
    return {"type": "queue", "broker": "redis", "queue": key, "url": url, **options}


def _stream(key: str, url: str, **options: object) -> dict[str, object]:
    return {"type": "stream", "broker": "redis", "stream": key, "url": url, **options}


def test_queue_messages_are_processed_acked_and_removed(
    name: str, redis_url: str, client: redis.Redis
) -> None:
    ids = [publish(name, {"n": n}, broker="redis", url=redis_url) for n in range(10)]
    recorder = Recorder()
    with start_trigger(_queue(name, redis_url), recorder) as runner:
        wait_until(lambda: runner.stats().succeeded == 10)
    assert sorted(b["n"] for b in recorder.bodies()) == list(range(10))
    assert {e["message_id"] for e in recorder.events} == set(ids)
    assert recorder.events[0]["broker"] == "redis" and recorder.events[0]["queue"] == name
    assert client.xlen(name) == 0
    assert client.xpending(name, "constellation")["pending"] == 0


def test_a_failure_is_retried_then_dead_lettered_to_a_stream(
    name: str, redis_url: str, client: redis.Redis
) -> None:
    publish(name, {"bad": 1}, broker="redis", url=redis_url)
    recorder = Recorder(fail=lambda e: True)
    spec = _queue(name, redis_url, max_deliveries=3, retry_delay_s=0.05, visibility_timeout_s=5)
    with start_trigger(spec, recorder) as runner:
        wait_until(lambda: runner.stats().dead_lettered == 1)
    assert [e["delivery_count"] for e in recorder.events] == [1, 2, 3]
    [dead] = peek(name + ".dlq", broker="redis", url=redis_url)
    assert dead["body"] == {"bad": 1} and dead["deliveries"] == 3
    assert "failed 3 deliveries" in dead["error"]
    assert client.xlen(name) == 0


def test_an_entry_left_pending_by_a_dead_consumer_is_reclaimed(
    name: str, redis_url: str, client: redis.Redis
) -> None:
    publish(name, "orphan", broker="redis", url=redis_url)
    client.xgroup_create(name, "constellation", id="0")
    client.xreadgroup("constellation", "died", {name: ">"}, count=1)  # never acked
    recorder = Recorder()
    with start_trigger(_queue(name, redis_url, visibility_timeout_s=0.3), recorder) as runner:
        wait_until(lambda: runner.stats().succeeded == 1)
    assert recorder.bodies() == ["orphan"]
    assert recorder.events[0]["delivery_count"] == 2
    assert client.xpending(name, "constellation")["pending"] == 0


def test_max_in_flight_and_competing_runners(name: str, redis_url: str) -> None:
    for n in range(30):
        publish(name, n, broker="redis", url=redis_url)
    first, second = Recorder(), Recorder()
    first.hold.clear()
    spec = _queue(name, redis_url, max_in_flight=2, batch_size=5)
    with start_trigger(spec, first), start_trigger(spec, second):
        wait_until(lambda: first.active == 2)
        wait_until(lambda: len(second.events) >= 30 - 2 - 5)  # the first holds one batch
        first.hold.set()
        wait_until(lambda: len(first.events) + len(second.events) == 30)
    assert sorted(first.bodies() + second.bodies()) == list(range(30))  # each once
    assert first.peak == 2 and second.peak <= 2


def test_entries_from_other_tools_arrive_as_their_fields(
    name: str, redis_url: str, client: redis.Redis
) -> None:
    client.xadd(name, {"order": "7", "kind": "new"})
    recorder = Recorder()
    with start_trigger(_queue(name, redis_url), recorder):
        wait_until(lambda: recorder.events)
    assert recorder.bodies() == [{"order": "7", "kind": "new"}]


def test_stream_from_earliest_in_order(name: str, redis_url: str, client: redis.Redis) -> None:
    for n in range(25):
        publish(name, n, broker="redis", url=redis_url)
    recorder = Recorder()
    with start_trigger(_stream(name, redis_url, start="earliest", batch_size=4), recorder):
        wait_until(lambda: len(recorder.events) == 25)
    assert recorder.bodies() == list(range(25))
    assert recorder.events[0]["type"] == "stream" and recorder.events[0]["stream"] == name
    assert client.xlen(name) == 25  # a stream keeps its entries for other subscribers


def test_stream_from_latest_skips_the_past(name: str, redis_url: str) -> None:
    publish(name, "old", broker="redis", url=redis_url)
    recorder = Recorder()
    with start_trigger(_stream(name, redis_url), recorder):
        time.sleep(0.1)
        publish(name, "new", broker="redis", url=redis_url)
        wait_until(lambda: recorder.events)
    assert recorder.bodies() == ["new"]


def test_stream_from_a_timestamp(name: str, redis_url: str, client: redis.Redis) -> None:
    for n in range(3):
        client.xadd(name, {"data": str(n)}, id=f"{1_000_000 + n * 1000}-0")
    recorder = Recorder()
    with start_trigger(_stream(name, redis_url, start=1001.0), recorder):
        wait_until(lambda: len(recorder.events) == 2)
    assert recorder.bodies() == [1, 2]
    assert recorder.events[0]["published_at"] == 1001.0


def test_a_failing_stream_entry_is_retried_in_place_so_order_holds(
    name: str, redis_url: str
) -> None:
    for n in range(4):
        publish(name, n, broker="redis", url=redis_url)
    failures = {"left": 2}

    def flaky(event: dict[str, object]) -> bool:
        if event["body"] == 1 and failures["left"]:
            failures["left"] -= 1
            return True
        return False

    recorder = Recorder(fail=flaky)
    spec = _stream(name, redis_url, start="earliest", retry_delay_s=0.01)
    with start_trigger(spec, recorder) as runner:
        wait_until(lambda: runner.stats().succeeded == 4)
    assert recorder.bodies() == [0, 1, 1, 1, 2, 3]


def test_a_named_subscription_resumes_where_it_stopped(name: str, redis_url: str) -> None:
    spec = _stream(name, redis_url, start="earliest", name="sub1")
    publish(name, "a", broker="redis", url=redis_url)
    first = Recorder()
    with start_trigger(spec, first):
        wait_until(lambda: first.events)
    publish(name, "b", broker="redis", url=redis_url)
    second = Recorder()
    with start_trigger(spec, second):
        wait_until(lambda: second.events)
        time.sleep(0.1)
    assert (first.bodies(), second.bodies()) == (["a"], ["b"])


def test_an_unreachable_redis_is_a_clear_error(name: str) -> None:
    with pytest.raises(BrokerUnavailableError, match=r"redis at redis://127\.0\.0\.1:1/0"):
        start_trigger(_queue(name, "redis://127.0.0.1:1/0"), Recorder())
    with pytest.raises(BrokerUnavailableError):
        publish(name, 1, broker="redis", url="redis://127.0.0.1:1/0")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed: the restart test runs its own Redis"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait_until(up)
    client.close()
    return server


def test_the_trigger_outlives_a_redis_restart_that_lost_everything(name: str) -> None:
    """A Redis restart without persistence loses the stream and its group: the runner
    reports the outage, then makes them again and goes on consuming."""
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis_server(port)
    recorder = Recorder()
    try:
        with start_trigger(_queue(name, url), recorder) as runner:
            publish(name, 1, broker="redis", url=url)
            wait_until(lambda: recorder.bodies() == [1])
            server.kill()
            server.wait(10)
            wait_until(lambda: "fetch failed" in str(runner.stats().last_error))
            server = _redis_server(port)
            publish(name, 2, broker="redis", url=url)
            wait_until(lambda: recorder.bodies() == [1, 2])
    finally:
        server.kill()
        server.wait(10)
