"""At-least-once under failure, on every broker: a worker killed mid-message, a consumer
process killed mid-message, and a long delivery that must keep its lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from constellation.platform import Constellation
from constellation.store import Store
from constellation.triggers import peek, publish, start_trigger

from .._support import wait_until
from .conftest import FIXTURES, Recorder

BROKERS = ["sqlite", "redis", "nats"]


def _url(request: pytest.FixtureRequest, broker: str) -> str | None:
    return None if broker == "sqlite" else request.getfixturevalue(f"{broker}_url")


def _spec(broker: str, queue: str, url: str | None, **options: Any) -> dict[str, Any]:
    spec = {"type": "queue", "broker": broker, "queue": queue, **options}
    if url:
        spec["url"] = url
    return spec


def _read(path: Path) -> str:
    """The file's text once written (it may exist, still empty, for a moment)."""
    return path.read_text() if path.exists() else ""


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Constellation]:
    # sandbox off: the handler writes its pid into the test's folder, and the test kills
    # that pid; a sandboxed function sees neither (tests/security checks that)
    with Constellation(
        tmp_path / "home", ledger_flush_interval_s=0.05, reaper_interval_s=3600.0, sandbox="off"
    ) as p:
        yield p


@pytest.mark.slow
@pytest.mark.parametrize("broker", BROKERS)
def test_a_worker_killed_while_processing_gets_the_message_again(
    request: pytest.FixtureRequest,
    platform: Constellation,
    tmp_path: Path,
    name: str,
    broker: str,
) -> None:
    url = _url(request, broker)
    sls = platform.serverless
    sls.create_function(
        "slow", code=str(FIXTURES / "handlers.py"), handler="slow_first_attempt", timeout_s=90
    )
    sls.deploy_function("slow")
    folder = tmp_path / "attempts"
    folder.mkdir()

    def invoke(event: Any) -> Any:
        return sls.invoke_sync("slow", event)

    spec = _spec(broker, name, url, retry_delay_s=0.1)
    with start_trigger(spec, invoke, store=platform.store) as runner:
        publish(name, {"dir": str(folder)}, broker=broker, url=url, store=platform.store)
        wait_until(lambda: _read(folder / "attempt-1"))
        worker = int((folder / "attempt-1").read_text())
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: runner.stats().succeeded == 1)
        stats = runner.stats()
    assert (stats.delivered, stats.failed, stats.dead_lettered) == (2, 1, 0)
    assert "crashed" in str(stats.last_error)
    assert int((folder / "attempt-2").read_text()) != worker
    assert not (folder / "attempt-3").exists()
    if broker != "nats":
        assert peek(name, broker=broker, url=url, store=platform.store) == []


@pytest.mark.slow
@pytest.mark.parametrize("broker", BROKERS)
def test_a_consumer_process_killed_mid_message_loses_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, broker: str
) -> None:
    url = _url(request, broker)
    db = tmp_path / "platform.db"
    folder = tmp_path / "consumer"
    folder.mkdir()
    args = [sys.executable, str(FIXTURES / "consumer.py"), broker, name, str(db), str(folder)]
    consumer = subprocess.Popen([*args, url] if url else args)
    try:
        wait_until(lambda: (folder / "ready").exists() or consumer.poll() is not None)
        assert consumer.poll() is None, "the consumer process did not start"
        with Store(db) as store:
            message_id = publish(name, {"n": 1}, broker=broker, url=url, store=store)
            wait_until(lambda: _read(folder / "took"))
            assert (folder / "took").read_text() == message_id
            consumer.send_signal(signal.SIGKILL)
            consumer.wait(10)
            recorder = Recorder()
            with start_trigger(
                _spec(broker, name, url, visibility_timeout_s=1.0), recorder, store=store
            ):
                wait_until(lambda: recorder.events)
        assert recorder.bodies() == [{"n": 1}]
        assert recorder.events[0]["message_id"] == message_id
        assert recorder.events[0]["delivery_count"] == 2
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait(10)


@pytest.mark.parametrize("broker", BROKERS)
def test_a_delivery_longer_than_the_visibility_timeout_keeps_its_lease(
    request: pytest.FixtureRequest, store: Store, name: str, broker: str
) -> None:
    url = _url(request, broker)
    spec = _spec(broker, name, url, visibility_timeout_s=0.3, max_in_flight=1)
    slow, other = Recorder(), Recorder()
    slow.hold.clear()
    other.hold = slow.hold  # whichever takes it holds it
    with start_trigger(spec, slow, store=store), start_trigger(spec, other, store=store):
        publish(name, "long job", broker=broker, url=url, store=store)
        wait_until(lambda: slow.active or other.active)
        time.sleep(1.0)  # > 3 visibility timeouts: the heartbeat must have kept it
        slow.hold.set()
        wait_until(lambda: len(slow.events) + len(other.events) == 1)
        time.sleep(0.3)
    assert slow.bodies() + other.bodies() == ["long job"]


@pytest.mark.parametrize("broker", BROKERS)
def test_close_leaves_no_thread_behind(
    request: pytest.FixtureRequest, store: Store, name: str, broker: str
) -> None:
    url = _url(request, broker)
    publish(name, "first", broker=broker, url=url, store=store)  # the publisher's connection
    before = {t.ident for t in threading.enumerate()}
    recorder = Recorder()
    runner = start_trigger(_spec(broker, name, url, max_in_flight=3), recorder, store=store)
    wait_until(lambda: recorder.events)
    runner.close()
    wait_until(lambda: {t.ident for t in threading.enumerate()} <= before)
