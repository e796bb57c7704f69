"""The embedded durable queue: one SQLite table in the platform's store, with leases.

A message is a row. It is *visible* when ``visible_at <= now``. A consumer claims a batch
with one ``UPDATE ... RETURNING`` that counts the delivery and hides the rows for the
visibility timeout (the lease). Ack deletes the row (acks that arrive together are
deleted in one transaction); nak makes it visible again after a
delay; dead-lettering moves it to the dead-letter queue (another queue in the same
table) in one transaction. A consumer that dies leaves its rows hidden until the lease
ends, or, when a runner starts on this host and finds the leasing process gone, at once.

Publishing in this process wakes waiting consumers at once; a publish from another
process is seen within the runner's poll interval.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .._proc import pid_alive
from ..errors import ValidationError
from ..store import Store
from ._source import Delivery, GroupCommit, Source

__all__ = ["SqliteQueueSource", "encode", "notify", "sqlite_peek", "sqlite_publish"]


_CLAIM = """
UPDATE trigger_queue SET deliveries = deliveries + 1, visible_at = ?, lease_owner = ?
WHERE seq IN (
    SELECT seq FROM trigger_queue WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?
)
RETURNING seq, id, body, enqueued_at, deliveries
"""

_HOST = socket.gethostname()

# (database path, queue) -> events of the consumers waiting in this process.
_waiters: dict[tuple[str, str], set[threading.Event]] = {}
_waiters_lock = threading.Lock()


def encode(message: Any, field: str = "message") -> str:
    try:
        return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError as exc:
        raise ValidationError(field, f"is not JSON-serialisable: {exc}") from None


def notify(store: Store, queue: str) -> None:
    with _waiters_lock:
        events = list(_waiters.get((str(store.path), queue), ()))
    for event in events:
        event.set()


def sqlite_publish(
    store: Store, queue: str, message: Any, clock: Callable[[], float], message_id: str = ""
) -> str:
    """Commit ``message`` to ``queue``; returns its id."""
    body = encode(message)
    message_id = message_id or uuid.uuid4().hex
    now = clock()
    store.execute(
        "INSERT INTO trigger_queue (queue, id, body, enqueued_at, visible_at) VALUES (?,?,?,?,?)",
        (queue, message_id, body, now, now),
    )
    notify(store, queue)
    return message_id


def publish_rows(store: Store, rows: Iterable[tuple[str, str, str]], now: float) -> None:
    """Insert (queue, id, body) rows in one transaction, then wake their consumers."""
    rows = list(rows)
    store.executemany(
        "INSERT INTO trigger_queue (queue, id, body, enqueued_at, visible_at) VALUES (?,?,?,?,?)",
        [(q, mid, body, now, now) for q, mid, body in rows],
    )
    for queue in {q for q, _, _ in rows}:
        notify(store, queue)


def sqlite_peek(store: Store, queue: str, limit: int = 100) -> list[dict[str, Any]]:
    """The messages in ``queue`` (visible or leased), oldest first, without claiming them."""
    rows = store.query(
        "SELECT id, body, enqueued_at, visible_at, deliveries, last_error FROM trigger_queue "
        "WHERE queue = ? ORDER BY seq LIMIT ?",
        (queue, limit),
    )
    return [
        {
            "id": r["id"],
            "body": orjson.loads(r["body"]),
            "enqueued_at": r["enqueued_at"],
            "deliveries": r["deliveries"],
            "error": r["last_error"],
        }
        for r in rows
    ]


class SqliteDelivery(Delivery):
    __slots__ = ("_seq", "_source")

    def __init__(
        self, source: SqliteQueueSource, seq: int, message_id: str, deliveries: int, event: Any
    ) -> None:
        super().__init__(message_id, deliveries, event)
        self._source = source
        self._seq = seq

    def ack(self) -> None:
        self._source.acks.add(self._seq)

    def nak(self, delay_s: float) -> None:
        # Only while this delivery still holds the lease (a later claim bumps deliveries).
        self._source.store.execute(
            "UPDATE trigger_queue SET visible_at = ?, lease_owner = NULL "
            "WHERE seq = ? AND deliveries = ?",
            (self._source.clock() + delay_s, self._seq, self.deliveries),
        )

    def release(self) -> None:
        self._source.store.execute(
            "UPDATE trigger_queue SET visible_at = ?, lease_owner = NULL, "
            "deliveries = deliveries - 1 WHERE seq = ? AND deliveries = ?",
            (self._source.clock(), self._seq, self.deliveries),
        )

    def extend(self) -> None:
        source = self._source
        source.store.execute(
            "UPDATE trigger_queue SET visible_at = ? WHERE seq = ? AND deliveries = ?",
            (source.clock() + source.visibility_s, self._seq, self.deliveries),
        )

    def dead_letter(self, reason: str) -> None:
        source = self._source
        now = source.clock()
        with source.store.transaction() as conn:
            moved = conn.execute(
                "UPDATE trigger_queue SET queue = ?, visible_at = ?, deliveries = 0, "
                "lease_owner = NULL, last_error = ? WHERE seq = ? AND deliveries = ?",
                (source.dead_letter, now, reason, self._seq, self.deliveries),
            ).rowcount
        if moved:
            notify(source.store, source.dead_letter)


class SqliteQueueSource(Source):
    """Claims batches from one queue of the embedded queue table.

    ``wrap`` puts each body in the queue envelope (queue triggers); event subscriptions
    deliver the stored CloudEvent as it is.
    """

    def __init__(
        self,
        store: Store,
        queue: str,
        dead_letter: str,
        visibility_timeout_s: float,
        clock: Callable[[], float],
        *,
        wrap: bool = True,
    ) -> None:
        self.store = store
        self.queue = queue
        self.dead_letter = dead_letter
        self.clock = clock
        self.visibility_s = visibility_timeout_s
        self._wrap = wrap
        self._owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._key = (str(store.path), queue)
        self.acks = GroupCommit(self._ack_many)

    def _ack_many(self, seqs: list[int]) -> None:
        self.store.executemany("DELETE FROM trigger_queue WHERE seq = ?", [(q,) for q in seqs])

    def start(self) -> None:
        self.requeue_orphans()
        with _waiters_lock:
            _waiters.setdefault(self._key, set()).add(self._wake)

    def requeue_orphans(self) -> int:
        """Leased rows whose process on this host is gone become visible now."""
        now = self.clock()
        rows = self.store.query(
            "SELECT DISTINCT lease_owner FROM trigger_queue "
            "WHERE queue = ? AND lease_owner IS NOT NULL AND visible_at > ?",
            (self.queue, now),
        )
        freed = 0
        for row in rows:
            host, _, rest = str(row[0]).partition(":")
            pid = int(rest.partition(":")[0] or 0)
            if host == _HOST and not pid_alive(pid):
                freed += self.store.execute(
                    "UPDATE trigger_queue SET visible_at = ?, lease_owner = NULL "
                    "WHERE queue = ? AND lease_owner = ?",
                    (now, self.queue, row[0]),
                )
        return freed

    def fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        batch = self._claim(limit)
        if not batch and self._wake.wait(wait_s):
            self._wake.clear()
            batch = self._claim(limit)
        return batch

    def _claim(self, limit: int) -> list[Delivery]:
        now = self.clock()
        with self.store.transaction() as conn:
            rows = conn.execute(
                _CLAIM, (now + self.visibility_s, self._owner, self.queue, now, limit)
            ).fetchall()
        out: list[Delivery] = []
        for row in sorted(rows, key=lambda r: r["seq"]):
            body = orjson.loads(row["body"])
            event = body
            if self._wrap:
                event = {
                    "type": "queue",
                    "broker": "sqlite",
                    "queue": self.queue,
                    "message_id": row["id"],
                    "delivery_count": row["deliveries"],
                    "published_at": row["enqueued_at"],
                    "body": body,
                }
            out.append(SqliteDelivery(self, row["seq"], row["id"], row["deliveries"], event))
        return out

    def interrupt(self) -> None:
        self._wake.set()

    def close(self) -> None:
        with _waiters_lock:
            waiting = _waiters.get(self._key)
            if waiting is not None:
                waiting.discard(self._wake)
                if not waiting:
                    del _waiters[self._key]
        self._wake.set()
