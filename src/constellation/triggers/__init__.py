"""Triggers: HTTP routes, timers, queues, event streams and custom events; function calls out.

Contract:

* Every trigger type lives here: ``http`` (a route served by ``constellation serve``;
  :func:`compile_route` gives the server its :class:`RoutePattern`), ``timer`` (cron,
  macro or ``rate()``; fired by :class:`TimerScheduler`), and ``queue``, ``stream`` and
  ``event`` (consumed by a :class:`TriggerRunner`, one per trigger, kept in step with the
  registry by :class:`RunnerSupervisor`). :class:`TriggerRegistry` stores each
  :class:`Trigger` (a function's id and its normalised spec) in SQLite.
* ``validate_trigger(spec)`` checks a spec of any type and returns it normalised (every
  default filled in), or raises :class:`~constellation.errors.ValidationError` naming the
  field (``trigger.<field>``) and what is allowed. It is idempotent: a normalised spec
  validates to itself.
* ``start_trigger(spec, invoke, store=..., settings=...)`` starts consuming and returns a
  :class:`TriggerRunner`. Each message (or event) is delivered by calling
  ``invoke(event)``; a result whose ``ok`` is false (or an exception) is a failed delivery.
  Delivery is **at least once**: a message is acked only after ``invoke`` succeeded; a
  failed one is delivered again after ``retry_delay_s``; one whose consumer died is
  delivered again after ``visibility_timeout_s``; after ``max_deliveries`` it goes to the
  dead-letter queue. At most ``max_in_flight`` deliveries run at once per runner, fetched
  ``batch_size`` at a time. Event streams are delivered in order, one at a time.
  ``TriggerRunner.close()`` is idempotent and stops consuming without losing messages.
* Brokers: ``sqlite`` (the embedded default: a durable queue in the platform's store),
  ``redis`` (Redis Streams with a consumer group, XAUTOCLAIM, a dead-letter stream) and
  ``nats`` (JetStream durable pull consumers, nak with delay, a dead-letter subject).
* ``publish(queue, message)`` puts a JSON-serialisable message on a queue of any broker
  and returns its id. ``emit(event_type, payload)`` sends a CloudEvents-shaped envelope
  to every event trigger whose glob matches and returns how many it was queued for.
* Without ``store``, ``publish`` (sqlite), ``emit``, ``peek`` (sqlite) and
  ``start_trigger`` use the store of the process's default platform (found through
  :mod:`constellation.defaults`).
* This package knows functions only by id: what a trigger invokes is a callback
  (``invoke(function_id, event)``) given by the serverless core, which owns the calls.
  It imports only the base layer.

What the function receives: for queues and streams ``{"type", "broker", "queue" |
"stream" | "subject", "message_id", "delivery_count", "published_at", "body"}`` where
``body`` is the published message; for events the CloudEvents envelope itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ._broker_spec import QUEUE_BROKERS, broker_url, check_queue_name
from ._errors import BrokerError, BrokerUnavailableError, TriggerError
from ._events import emit_envelopes, emit_event, make_event
from ._http import RoutePattern, compile_route
from ._registry import Trigger, TriggerRegistry
from ._runner import TriggerRunner, TriggerStats
from ._runners import RunnerSupervisor, StartRunner
from ._schedule import Schedule, parse_schedule
from ._sqlite import sqlite_peek, sqlite_publish
from ._start import default_store, start_trigger
from ._timers import Firing, TimerScheduler
from ._validate import RUNNER_TYPES, TRIGGER_TYPES, validate_trigger

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import Store

__all__ = [
    "RUNNER_TYPES",
    "TRIGGER_TYPES",
    "BrokerError",
    "BrokerUnavailableError",
    "Firing",
    "RoutePattern",
    "RunnerSupervisor",
    "Schedule",
    "StartRunner",
    "TimerScheduler",
    "Trigger",
    "TriggerError",
    "TriggerRegistry",
    "TriggerRunner",
    "TriggerStats",
    "compile_route",
    "emit",
    "emit_cloudevents",
    "make_event",
    "parse_schedule",
    "peek",
    "publish",
    "start_trigger",
    "validate_trigger",
]


def _check_publish(queue: str, broker: str, url: str | None) -> None:
    if broker not in QUEUE_BROKERS:
        raise ValidationError.choice("broker", broker, QUEUE_BROKERS)
    check_queue_name("queue", queue, broker)
    if broker == "sqlite" and url is not None:
        raise ValidationError("url", "the sqlite queue lives in the platform's store; omit url")


def publish(
    queue: str,
    message: Any,
    *,
    broker: str = "sqlite",
    url: str | None = None,
    store: Store | None = None,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
) -> str:
    """Put ``message`` (JSON-serialisable) on ``queue``; returns the message id.

    sqlite: committed to the store before this returns. redis: ``XADD`` to the stream
    key ``queue``. nats: published to the subject ``queue`` with a JetStream ack (a
    work-queue stream is created for it on first use).
    """
    del settings
    _check_publish(queue, broker, url)
    if broker == "sqlite":
        return sqlite_publish(default_store(store), queue, message, clock)
    if broker == "redis":
        from ._redis import redis_publish

        return redis_publish(broker_url("redis", url), queue, message)
    from ._nats import nats_publish

    return nats_publish(broker_url("nats", url), queue, message)


def emit(
    event_type: str,
    payload: Any,
    *,
    source: str = "constellation",
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Send a CloudEvents-shaped event to every matching event trigger; returns how many."""
    return emit_event(default_store(store), event_type, payload, source, clock)


def emit_cloudevents(
    envelopes: list[dict[str, Any]],
    *,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    subscription: str | None = None,
) -> list[int]:
    """Send CloudEvents envelopes as they came (ids, sources and extensions kept; each
    needs at least ``type`` and ``id``) to the event triggers whose glob matches each
    one's type (only the one named ``subscription`` when given), in one transaction;
    returns how many triggers each reached."""
    for index, envelope in enumerate(envelopes):
        for attribute in ("id", "type"):
            if not isinstance(envelope.get(attribute), str) or not envelope[attribute]:
                raise ValidationError(f"[{index}].{attribute}", "required: a non-empty string")
    return emit_envelopes(default_store(store), envelopes, clock(), subscription)


def peek(
    queue: str,
    *,
    broker: str = "sqlite",
    url: str | None = None,
    store: Store | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The messages waiting in ``queue`` (a dead-letter queue too), oldest first, unclaimed.

    Each is ``{"id", "body", "deliveries", "error"}`` (``error``: why it was
    dead-lettered). sqlite and redis only; JetStream has its own tools (``nats stream``).
    """
    _check_publish(queue, broker, url)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
        raise ValidationError("limit", f"{limit!r} must be an integer 1-10000")
    if broker == "sqlite":
        return sqlite_peek(default_store(store), queue, limit)
    if broker == "redis":
        from ._redis import redis_peek

        return redis_peek(broker_url("redis", url), queue, limit)
    raise ValidationError.choice("broker", broker, ("sqlite", "redis"))
