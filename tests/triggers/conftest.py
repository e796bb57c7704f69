"""Fixtures for the trigger tests: a store, real Redis and NATS, unique names, helpers.

Redis (127.0.0.1:6379) and NATS with JetStream (127.0.0.1:4222) are used for real. When
one is missing the test fails under CI (``CI=true``) and skips with the reason elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from constellation.store import Store

from .._support import FakeClock

REDIS_URL = os.environ.get("CONSTELLATION_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("CONSTELLATION_NATS_URL", "nats://127.0.0.1:4222")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "triggers"


def _missing(what: str, exc: BaseException) -> None:
    reason = f"{what} is not reachable ({exc!r}); start it to run this test"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: broker tests must run)")
    pytest.skip(reason)


class Outcome:
    """What invoke returns: the two attributes the runner reads of an InvocationResult."""

    def __init__(self, ok: bool, error: str | None = None) -> None:
        self.ok = ok
        self.error = error
        self.status = "success" if ok else "error"


class Recorder:
    """An invoke callable that records events; ``fail`` decides which ones fail."""

    def __init__(self, fail: Callable[[Any], bool] = lambda event: False) -> None:
        self.events: list[Any] = []
        self.fail = fail
        self.active = 0
        self.peak = 0
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> Outcome:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.hold.wait(30)
            with self._lock:
                self.events.append(event)
            if self.fail(event):
                return Outcome(False, f"failed on {event!r}")
            return Outcome(True)
        finally:
            with self._lock:
                self.active -= 1

    def bodies(self) -> list[Any]:
        with self._lock:
            return [e["body"] for e in self.events]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "triggers.db") as s:
        yield s


@pytest.fixture
def name() -> str:
    """A name no other test (or earlier run) uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_url(name: str) -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        _missing(f"Redis at {REDIS_URL}", exc)
    yield REDIS_URL
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


async def _nats_call(fn: Callable[[Any], Any]) -> Any:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=5, allow_reconnect=False)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def nats_call(fn: Callable[[Any], Any]) -> Any:
    """Run ``await fn(js)`` on a fresh connection (for setup and inspection)."""
    return asyncio.run(_nats_call(fn))


@pytest.fixture
def nats_url(name: str) -> Iterator[str]:
    async def check(js: Any) -> None:
        await js.account_info()

    try:
        # nats-py keeps retrying a refused first connect: look for a listener first.
        parsed = urllib.parse.urlsplit(NATS_URL)
        socket.create_connection((parsed.hostname, parsed.port or 4222), 2.0).close()
        nats_call(check)
    except Exception as exc:
        _missing(f"NATS JetStream at {NATS_URL}", exc)
    yield NATS_URL

    async def cleanup(js: Any) -> None:
        for info in await js.streams_info():
            stream = info.config.name
            if name in stream:
                await js.delete_stream(stream)

    nats_call(cleanup)
    from constellation.triggers._nats import close_shared

    close_shared()
