"""NATS JetStream, for real: durable pull consumers with ack, nak with delay, a
dead-letter subject, and ordered subject subscriptions from a start position."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from constellation.triggers import BrokerUnavailableError, publish, start_trigger
from constellation.triggers._nats import close_shared

from .._support import wait_until
from .conftest import Recorder, nats_call


def _queue(subject: str, url: str, **options: object) -> dict[str, object]:
    return {"type": "queue", "broker": "nats", "queue": subject, "url": url, **options}


def _subscription(subject: str, url: str, **options: object) -> dict[str, object]:
    return {"type": "stream", "broker": "nats", "subject": subject, "url": url, **options}


def _messages(subject: str) -> list[Any]:
    """Every message held for ``subject`` (read straight from its stream)."""

    async def read(js: Any) -> list[Any]:
        stream = await js.find_stream_name_by_subject(subject)
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages:
                out.append(await js.get_msg(stream, seq))
        return out

    return nats_call(read)


def test_queue_messages_are_processed_and_acked(name: str, nats_url: str) -> None:
    ids = [publish(name, {"n": n}, broker="nats", url=nats_url) for n in range(10)]
    recorder = Recorder()
    with start_trigger(_queue(name, nats_url), recorder) as runner:
        wait_until(lambda: runner.stats().succeeded == 10)
    assert sorted(b["n"] for b in recorder.bodies()) == list(range(10))
    assert {e["message_id"] for e in recorder.events} == set(ids)
    assert recorder.events[0]["broker"] == "nats" and recorder.events[0]["queue"] == name

    async def left(js: Any) -> int:
        info = await js.stream_info(await js.find_stream_name_by_subject(name))
        return int(info.state.messages)

    wait_until(lambda: nats_call(left) == 0)  # a work queue drops what was acked


def test_a_failure_is_nakd_with_delay_then_dead_lettered(name: str, nats_url: str) -> None:
    publish(name, {"bad": 1}, broker="nats", url=nats_url)
    recorder = Recorder(fail=lambda e: True)
    spec = _queue(name, nats_url, max_deliveries=3, retry_delay_s=0.05)
    with start_trigger(spec, recorder) as runner:
        wait_until(lambda: runner.stats().dead_lettered == 1)
    assert [e["delivery_count"] for e in recorder.events] == [1, 2, 3]
    [dead] = _messages(name + ".dlq")
    assert dead.data == b'{"bad":1}'
    assert dead.headers["Constellation-Deliveries"] == "3"
    assert "failed 3 deliveries" in dead.headers["Constellation-Error"]


def test_an_unacked_message_is_redelivered_after_the_ack_wait(name: str, nats_url: str) -> None:
    """A consumer of the durable took the message and died: redelivered after the ack wait."""
    spec = _queue(name, nats_url, visibility_timeout_s=0.5)
    with start_trigger(spec, Recorder()):
        pass  # creates the stream and the durable consumer
    publish(name, "orphan", broker="nats", url=nats_url)

    async def take_and_die(js: Any) -> None:
        sub = await js.pull_subscribe(name, durable=f"constellation-{name}")
        [msg] = await sub.fetch(1, timeout=2)
        assert msg.data == b'"orphan"'

    nats_call(take_and_die)
    recorder = Recorder()
    with start_trigger(spec, recorder):
        wait_until(lambda: recorder.events)
    assert recorder.events[0]["delivery_count"] == 2


def test_queues_that_share_a_stream_keep_their_own_messages(name: str, nats_url: str) -> None:
    async def setup(js: Any) -> None:
        await js.add_stream(name=f"S_{name}", subjects=[f"{name}.>"], retention="workqueue")

    nats_call(setup)
    a, b = Recorder(), Recorder()
    with (
        start_trigger(_queue(f"{name}.a", nats_url), a),
        start_trigger(_queue(f"{name}.b", nats_url), b),
    ):
        for n in range(4):
            publish(f"{name}.a" if n % 2 else f"{name}.b", n, broker="nats", url=nats_url)
        wait_until(lambda: len(a.events) == 2 and len(b.events) == 2)
    assert (sorted(a.bodies()), sorted(b.bodies())) == ([1, 3], [0, 2])


def test_max_in_flight(name: str, nats_url: str) -> None:
    for n in range(12):
        publish(name, n, broker="nats", url=nats_url)
    recorder = Recorder()
    recorder.hold.clear()
    with start_trigger(_queue(name, nats_url, max_in_flight=3, batch_size=2), recorder) as r:
        wait_until(lambda: recorder.active == 3)
        time.sleep(0.1)
        assert r.stats().in_flight == 3
        recorder.hold.set()
        wait_until(lambda: len(recorder.events) == 12)
    assert recorder.peak == 3


def test_subscription_from_earliest_in_order(name: str, nats_url: str) -> None:
    async def setup(js: Any) -> None:
        await js.add_stream(name=f"S_{name}", subjects=[f"{name}.*"])
        for n in range(20):
            await js.publish(f"{name}.{n % 3}", str(n).encode())

    nats_call(setup)
    recorder = Recorder()
    spec = _subscription(f"{name}.*", nats_url, start="earliest", batch_size=4)
    with start_trigger(spec, recorder):
        wait_until(lambda: len(recorder.events) == 20)
    assert recorder.bodies() == list(range(20))
    assert recorder.events[0]["subject"] == f"{name}.0"


def test_subscription_from_latest_and_from_a_timestamp(name: str, nats_url: str) -> None:
    async def setup(js: Any) -> None:
        await js.add_stream(name=f"S_{name}", subjects=[name])
        await js.publish(name, b'"old"')

    nats_call(setup)
    cut = time.time()
    time.sleep(0.05)

    async def more(js: Any) -> None:
        await js.publish(name, b'"new"')

    latest = Recorder()
    with start_trigger(_subscription(name, nats_url), latest):
        time.sleep(0.2)
        nats_call(more)
        wait_until(lambda: latest.events)
    since = Recorder()
    with start_trigger(_subscription(name, nats_url, start=cut), since):
        wait_until(lambda: since.events)
        time.sleep(0.1)
    assert latest.bodies() == ["new"]
    assert since.bodies() == ["new"]


def test_a_named_subscription_resumes_where_it_stopped(name: str, nats_url: str) -> None:
    async def setup(js: Any) -> None:
        await js.add_stream(name=f"S_{name}", subjects=[name])

    async def put(js: Any, value: bytes) -> None:
        await js.publish(name, value)

    nats_call(setup)
    spec = _subscription(name, nats_url, start="earliest", name="sub1")
    nats_call(lambda js: put(js, b'"a"'))
    first = Recorder()
    with start_trigger(spec, first):
        wait_until(lambda: first.events)
    nats_call(lambda js: put(js, b'"b"'))
    second = Recorder()
    with start_trigger(spec, second):
        wait_until(lambda: second.events)
        time.sleep(0.1)
    assert (first.bodies(), second.bodies()) == (["a"], ["b"])


def test_an_unreachable_nats_is_a_clear_error(name: str) -> None:
    with pytest.raises(BrokerUnavailableError, match=r"nats at nats://127\.0\.0\.1:1"):
        start_trigger(_queue(name, "nats://127.0.0.1:1"), Recorder())


def test_the_trigger_outlives_a_nats_restart(tmp_path: Path, name: str) -> None:
    """Its own nats-server (JetStream on disk) is killed and started again: the runner's
    connection reconnects and the durable consumer goes on where it was."""
    binary = shutil.which("nats-server")
    if binary is None:
        reason = "nats-server is not installed: the restart test runs its own server"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    command = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path)]

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False

        wait_until(up)
        return server

    url = f"nats://127.0.0.1:{port}"
    server = start()
    recorder = Recorder()
    try:
        with start_trigger(_queue(name, url), recorder):
            publish(name, 1, broker="nats", url=url)
            wait_until(lambda: recorder.bodies() == [1])
            server.kill()
            server.wait(10)
            server = start()
            publish(name, 2, broker="nats", url=url)
            wait_until(lambda: recorder.bodies() == [1, 2])
    finally:
        close_shared()
        server.kill()
        server.wait(10)
