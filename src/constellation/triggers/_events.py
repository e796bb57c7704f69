"""Custom events: CloudEvents-shaped envelopes, fanned out to glob subscriptions.

An event trigger registers a subscription (a glob over event types) in the store while
its runner is open. ``emit`` builds one envelope::

    {"specversion": "1.0", "id": "<uuid>", "source": "constellation", "type": "order.created",
     "time": "2026-11-28T02:38:54.123456Z", "datacontenttype": "application/json",
     "data": <payload>}

and, in one transaction, queues it on the private durable queue (``event:<name>``) of
every subscription whose glob matches the type (:func:`fnmatch.fnmatchcase`, so
``order.*`` matches ``order.created`` and ``order.item.added``). Delivery from there is
the embedded queue's: at least once, retried, then dead-lettered to
``event:<name>.dlq``. It returns how many subscriptions the event was queued for; an
event that matches none is dropped (0), as with any publish/subscribe bus.

A subscription with a ``name`` keeps its queue across restarts: what was queued for it
and not yet processed is delivered when a runner with that name starts again. Emits
from other processes that share the store reach it too.
"""

from __future__ import annotations

import datetime
import fnmatch
import os
import re
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import ValidationError
from ..store import Store
from ._sqlite import SqliteQueueSource, encode, publish_rows

__all__ = ["EventSource", "emit_envelopes", "emit_event", "make_event"]

_TYPE = re.compile(r"^[A-Za-z0-9_.:/-]{1,200}$")


def make_event(
    event_type: str, payload: Any, source: str, now: float, event_id: str | None = None
) -> dict[str, Any]:
    """A CloudEvents 1.0 envelope (JSON format) for ``payload``; validates every field."""
    if not isinstance(event_type, str) or not _TYPE.match(event_type):
        raise ValidationError(
            "event_type",
            f"{event_type!r} must be 1-200 characters of letters, digits and '._:/-' "
            "(e.g. 'order.created')",
        )
    if not isinstance(source, str) or not 0 < len(source) <= 500 or not source.isprintable():
        raise ValidationError(
            "source", f"{source!r} must be 1-500 printable characters (a URI-reference)"
        )
    encode(payload, "payload")  # refuse what cannot be stored, before anything is queued
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "datacontenttype": "application/json",
        "data": payload,
    }


def emit_event(
    store: Store, event_type: str, payload: Any, source: str, clock: Callable[[], float]
) -> int:
    """Queue the event for every matching subscription; returns how many matched."""
    now = clock()
    envelope = make_event(event_type, payload, source, now)
    return emit_envelopes(store, [envelope], now)[0]


def emit_envelopes(
    store: Store, envelopes: list[dict[str, Any]], now: float, subscription: str | None = None
) -> list[int]:
    """Queue CloudEvents envelopes (already checked, e.g. from the HTTP ingress) for the
    subscriptions whose glob matches each one's ``type`` (only the one named
    ``subscription`` when given), all in one transaction; returns how many subscriptions
    each was queued for."""
    if subscription is None:
        subs = store.query("SELECT pattern, queue FROM trigger_event_subscriptions")
    else:
        subs = store.query(
            "SELECT pattern, queue FROM trigger_event_subscriptions WHERE name = ?",
            (subscription,),
        )
    rows: list[tuple[str, str, str]] = []
    counts: list[int] = []
    for envelope in envelopes:
        kind = envelope["type"]
        queues = sorted({s["queue"] for s in subs if fnmatch.fnmatchcase(kind, s["pattern"])})
        if queues:
            body = encode(envelope, "event")
            rows.extend((q, envelope["id"], body) for q in queues)
        counts.append(len(queues))
    if rows:
        publish_rows(store, rows, now)
    return counts


class EventSource(SqliteQueueSource):
    """An event subscription: registered while open, consumed from its own durable queue."""

    def __init__(self, spec: dict[str, Any], store: Store, clock: Callable[[], float]) -> None:
        self.name = spec["name"] or f"ephemeral-{uuid.uuid4().hex[:12]}"
        self.pattern = spec["event_type"]
        queue = f"event:{self.name}"
        super().__init__(
            store, queue, queue + ".dlq", spec["visibility_timeout_s"], clock, wrap=False
        )
        self._sub_owner = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        super().start()
        self.store.execute(
            "INSERT OR REPLACE INTO trigger_event_subscriptions "
            "(name, pattern, queue, owner, created_at) VALUES (?,?,?,?,?)",
            (self.name, self.pattern, self.queue, self._sub_owner, self.clock()),
        )

    def close(self) -> None:
        # Only our own row: a newer runner with the same name may have taken it over.
        if not self.store.closed:
            self.store.execute(
                "DELETE FROM trigger_event_subscriptions WHERE name = ? AND owner = ?",
                (self.name, self._sub_owner),
            )
        super().close()
