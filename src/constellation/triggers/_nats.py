"""NATS JetStream: queue triggers and subject subscriptions, driven from threads.

nats-py is asyncio; each :class:`NatsConnection` runs its own event loop in a daemon
thread and the runner's threads call into it with :meth:`NatsConnection.run`.

Queues: a queue is a subject held by a stream (found by subject, or created as
``CQ_<subject>`` with limits retention); each group (the function's id when the
platform attaches the trigger) has one durable pull consumer (``<group>-<subject>``),
shared by that trigger's runners, so every function sees every message. Messages that
every consumer of the subject has acked are purged (every second and on close). A
work-queue stream made elsewhere still works for one group; JetStream refuses a second
consumer of the same subject on it. Consumers use explicit acks and ``ack_wait = visibility_timeout_s``. Failure naks with
``retry_delay_s`` as the delay; after ``max_deliveries`` the message is published to the
dead-letter subject (its own work-queue stream) with ``Constellation-Error``,
``Constellation-Origin-Seq`` and ``Constellation-Deliveries`` headers, then acked. The
server's own ``max_deliver`` is left unlimited so that no message is dropped unseen.

Subject subscriptions (event streams): a durable pull consumer per ``name`` (ephemeral
without one) with the start position as its deliver policy, consumed in order.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import datetime
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.js import api

from ..errors import ClosedError
from ._errors import BrokerError, BrokerUnavailableError
from ._source import Delivery, Source
from ._sqlite import encode

__all__ = ["NatsConnection", "NatsQueueSource", "NatsStreamSource", "nats_publish"]

log = logging.getLogger("constellation.triggers")

T = TypeVar("T")
_TIMEOUT_S = 10.0
PURGE_EVERY_S = 1.0  # how often a queue's runner purges what every consumer has acked


class NatsConnection:
    """A NATS connection with its own asyncio loop thread. ``close()`` is idempotent."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats", daemon=True)
        self._thread.start()
        self._streams: dict[tuple[str, str], str] = {}
        self._closed = False
        try:
            _probe(url)  # nats-py would keep retrying a refused first connect
            self.nc = self.run(
                nats.connect(
                    url,
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,  # a broker restart is waited out
                    error_cb=self._on_error,
                )
            )
        except Exception as exc:
            self._stop_loop()
            raise BrokerUnavailableError("nats", url, exc) from None
        self.js = self.nc.jetstream(timeout=5.0)

    async def _on_error(self, exc: Exception) -> None:
        # nats-py logs a traceback per failed reconnect by default; one line is enough.
        log.warning("nats at %s: %r", self.url, exc)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = _TIMEOUT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def submit(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Schedule ``coro`` on the loop without waiting (ordered before later calls)."""
        asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def ensure_stream(self, subject: str, kind: str, name: str | None = None) -> str:
        """The stream holding ``subject``: the named one, the one found, or a new one."""
        key = (subject, name or "")
        found = self._streams.get(key)
        if found:
            return found
        if name is None:
            try:
                name = await self.js.find_stream_name_by_subject(subject)
            except nats.js.errors.NotFoundError:
                prefix = "CS_" if kind == "stream" else "CQ_"
                name = prefix + re.sub(r"[^A-Za-z0-9_-]", "_", subject.replace(">", "all"))
                # A queue keeps each message for every function's consumer (limits
                # retention; what all have acked is purged); a dead-letter subject is a
                # plain work queue.
                work_queue = kind == "dead_letter"
                retention = api.RetentionPolicy.WORK_QUEUE if work_queue else None
                await self._call(
                    self.js.add_stream(name=name, subjects=[subject], retention=retention)
                )
        self._streams[key] = name
        return name

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await coro
        except nats.js.errors.APIError as exc:
            raise BrokerError(f"JetStream refused the request: {exc}") from None

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        self._loop.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.run(self.nc.close(), timeout=5.0)
        except Exception:
            pass
        self._stop_loop()


def _probe(url: str) -> None:
    for server in url.split(","):
        parsed = urllib.parse.urlsplit(server.strip())
        try:
            socket.create_connection(
                (parsed.hostname or "127.0.0.1", parsed.port or 4222), 2.0
            ).close()
            return
        except OSError as exc:
            error = exc
    raise error


_publishers: dict[str, NatsConnection] = {}
_publishers_lock = threading.Lock()


def shared_connection(url: str) -> NatsConnection:
    """The process's connection for publishing to ``url`` (closed by ``close_shared``)."""
    with _publishers_lock:
        conn = _publishers.get(url)
        if conn is None or conn.nc.is_closed:
            if not _publishers:
                atexit.register(close_shared)  # flush and close the loop at exit
            conn = _publishers[url] = NatsConnection(url)
        return conn


def close_shared() -> None:
    with _publishers_lock:
        conns = list(_publishers.values())
        _publishers.clear()
    for conn in conns:
        conn.close()


def nats_publish(url: str, subject: str, message: Any) -> str:
    """Publish to a JetStream subject (its stream made on first use); returns ``stream:seq``."""
    data = encode(message).encode()
    conn = shared_connection(url)

    async def go() -> str:
        stream = await conn.ensure_stream(subject, "queue")
        ack = await conn._call(conn.js.publish(subject, data, stream=stream))
        return f"{ack.stream}:{ack.seq}"

    return conn.run(go())


def durable_name(group: str, subject: str) -> str:
    """The JetStream durable consumer of a queue trigger: ``<group>-<subject with _ for .>``."""
    return f"{group}-{re.sub(r'[^A-Za-z0-9_-]', '_', subject)}"


def _subject_matches(pattern: str | None, subject: str) -> bool:
    """Whether a consumer filtered on ``pattern`` (None: the whole stream) reads ``subject``."""
    if not pattern:
        return True
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or (token != "*" and token != have[index]):
            return False
    return len(want) == len(have)


def _decode(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode(errors="replace")


class NatsDelivery(Delivery):
    __slots__ = ("_msg", "_source")

    def __init__(self, source: _NatsSource, msg: Any, event: Any) -> None:
        meta = msg.metadata
        super().__init__(f"{meta.stream}:{meta.sequence.stream}", meta.num_delivered, event)
        self._source = source
        self._msg = msg

    def ack(self) -> None:
        # An ack is a plain publish: hand it to the loop without waiting. If it is lost
        # (the connection drops), JetStream redelivers: at least once still holds.
        self._source.conn.submit(self._msg.ack())

    def nak(self, delay_s: float) -> None:
        self._source.conn.run(self._msg.nak(delay=delay_s or None))

    def extend(self) -> None:
        self._source.conn.run(self._msg.in_progress())  # restarts the ack wait

    def dead_letter(self, reason: str) -> None:
        source, msg = self._source, self._msg
        headers = {
            "Constellation-Error": " ".join(reason.split())[:1000],
            "Constellation-Origin-Seq": self.message_id,
            "Constellation-Deliveries": str(self.deliveries),
        }

        async def go() -> None:
            stream = await source.conn.ensure_stream(source.dead_letter, "dead_letter")
            await source.conn._call(
                source.conn.js.publish(source.dead_letter, msg.data, stream=stream, headers=headers)
            )
            await msg.ack()

        source.conn.run(go())


class _NatsSource(Source):
    kind = "queue"  # the event's "type"
    key = "queue"  # the event's field that names where it came from

    def __init__(self, spec: dict[str, Any], subject: str, dead_letter: str) -> None:
        self.spec = spec
        self.subject = subject
        self.dead_letter = dead_letter
        self._conn: NatsConnection | None = None
        self._sub: Any = None
        self.stream_name = ""

    @property
    def conn(self) -> NatsConnection:
        if self._conn is None:
            raise ClosedError(f"the NATS consumer of {self.subject!r} is closed")
        return self._conn

    def _consumer_config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=float(self.spec["visibility_timeout_s"]),
            max_deliver=-1,
        )

    def fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        async def go() -> list[Any]:
            try:
                return list(await self._sub.fetch(batch=limit, timeout=wait_s))
            except (TimeoutError, nats.errors.TimeoutError):
                return []

        msgs = self.conn.run(go(), timeout=wait_s + _TIMEOUT_S)
        return [NatsDelivery(self, m, self._event(m)) for m in msgs]

    def _event(self, msg: Any) -> dict[str, Any]:
        meta = msg.metadata
        return {
            "type": self.kind,
            "broker": "nats",
            self.key: msg.subject if self.kind == "stream" else self.subject,
            "message_id": f"{meta.stream}:{meta.sequence.stream}",
            "delivery_count": meta.num_delivered,
            "published_at": meta.timestamp.timestamp() if meta.timestamp else None,
            "body": _decode(msg.data),
        }

    def _subscribe(self, stream_name: str | None, kind: str, durable: str | None) -> None:
        conn = self._conn = NatsConnection(self.spec["url"])

        async def go() -> Any:
            stream = await conn.ensure_stream(self.subject, kind, stream_name)
            self.stream_name = stream
            return await conn._call(
                conn.js.pull_subscribe(
                    self.subject, durable=durable, stream=stream, config=self._consumer_config()
                )
            )

        try:
            self._sub = conn.run(go())
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.run(self._sub.unsubscribe(), timeout=5.0)
            except Exception:
                pass
            conn.close()


class NatsQueueSource(_NatsSource):
    """A queue: one durable consumer per group (per function), so each function sees
    every message; what every consumer of the queue's subject has acked is purged."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec, spec["queue"], spec["dead_letter"])
        self._last_purge = time.monotonic()

    def start(self) -> None:
        # One durable per (group, queue): queues may share a stream ("orders.>"), and a
        # durable bound to another queue's filter would take that queue's messages.
        self._subscribe(None, "queue", durable=durable_name(self.spec["group"], self.subject))

    def fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        now = time.monotonic()
        if now - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = now
            self.purge_acked()
        return super().fetch(limit, wait_s)

    def purge_acked(self) -> int:
        """Purge this queue's messages that every consumer reading them has acked (a
        limits stream keeps them otherwise; a work queue drops them itself)."""
        conn, stream, subject = self.conn, self.stream_name, self.subject

        async def go() -> int:
            info = await conn.js.stream_info(stream)
            if info.config.retention != api.RetentionPolicy.LIMITS:
                return 0
            floors = [
                c.ack_floor.stream_seq if c.ack_floor else 0
                for c in await conn.js.consumers_info(stream)
                if _subject_matches(c.config.filter_subject, subject)
            ]
            if not floors or min(floors) == 0:
                return 0
            await conn.js.purge_stream(stream, seq=min(floors) + 1, subject=subject)
            return min(floors)

        try:
            return conn.run(go())
        except (nats.errors.Error, TimeoutError, BrokerError) as exc:
            log.warning("nats: purging %s failed: %r", subject, exc)
            return 0

    def close(self) -> None:
        if self._conn is not None:
            try:
                self.conn.run(self.conn.nc.flush(), timeout=5.0)  # the acks sent
                self.purge_acked()
            except Exception:
                pass
        super().close()


class NatsStreamSource(_NatsSource):
    """In-order consumption of a subject from a start position."""

    kind = "stream"
    key = "subject"

    def __init__(self, spec: dict[str, Any]) -> None:
        # "dlq." first: "orders.dlq" would match a subscription to "orders.*" itself.
        tokens = [
            "any" if t == "*" else "all" if t == ">" else t for t in spec["subject"].split(".")
        ]
        super().__init__(spec, spec["subject"], "dlq." + ".".join(tokens))

    def _consumer_config(self) -> api.ConsumerConfig:
        config = super()._consumer_config()
        config.max_ack_pending = int(self.spec["batch_size"])
        start = self.spec["start"]
        if start == "latest":
            config.deliver_policy = api.DeliverPolicy.NEW
        elif start == "earliest":
            config.deliver_policy = api.DeliverPolicy.ALL
        else:
            config.deliver_policy = api.DeliverPolicy.BY_START_TIME
            config.opt_start_time = datetime.datetime.fromtimestamp(float(start), datetime.UTC)
        if self.spec["name"] is None:
            config.inactive_threshold = 60.0  # an ephemeral subscription's consumer goes away
        return config

    def start(self) -> None:
        self._subscribe(self.spec["stream"], "stream", durable=self.spec["name"])
