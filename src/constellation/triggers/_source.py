"""What a broker implements for the runner: a Source of Deliveries, and group-committed acks.

A :class:`Source` fetches batches of :class:`Delivery` objects; each delivery carries the
event to invoke the function with and settles itself on its broker (ack, nak with a
delay, extend the lease, give back unstarted, dead-letter). The policy (when to do which)
lives in :class:`~._runner.TriggerRunner`, the same for every broker.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = ["Delivery", "GroupCommit", "Source"]


class GroupCommit:
    """Acks from many threads, written in few round trips (a group commit).

    The first thread to ack becomes the flusher and writes every id queued meanwhile in
    one call of ``flush``; the others queue their id and return. An id whose flush fails
    is simply not acked: the broker delivers it again (at least once).
    """

    def __init__(self, flush: Callable[[list[Any]], None]) -> None:
        self._flush = flush
        self._lock = threading.Lock()
        self._queued: list[Any] = []
        self._flushing = False

    def add(self, item: Any) -> None:
        with self._lock:
            self._queued.append(item)
            if self._flushing:
                return
            self._flushing = True
        try:
            while True:
                with self._lock:
                    batch, self._queued = self._queued, []
                    if not batch:
                        return
                self._flush(batch)
        finally:
            with self._lock:
                self._flushing = False


class Delivery(ABC):
    """One delivery of one message: the event to invoke with, and how to settle it."""

    __slots__ = ("deliveries", "event", "message_id")

    def __init__(self, message_id: str, deliveries: int, event: Any) -> None:
        self.message_id = message_id
        self.deliveries = deliveries  # including this one
        self.event = event

    @abstractmethod
    def ack(self) -> None:
        """The message was processed: it is never delivered again."""

    @abstractmethod
    def nak(self, delay_s: float) -> None:
        """Deliver the message again, no sooner than ``delay_s`` from now."""

    @abstractmethod
    def dead_letter(self, reason: str) -> None:
        """Move the message to the dead-letter queue with ``reason``; remove it here."""

    def release(self) -> None:
        """Give back a message fetched but never started (closing): visible again now.
        Brokers that can undo the delivery count do; the others count it."""
        self.nak(0.0)

    def extend(self) -> None:  # noqa: B027 - brokers without leases need nothing
        """Still working on it: restart the visibility timeout (a heartbeat)."""


class Source(ABC):
    """Where deliveries come from (a queue, a stream, an event subscription)."""

    def start(self) -> None:  # noqa: B027 - optional hook
        """Connect and create what the consumer needs (group, durable, subscription)."""

    @abstractmethod
    def fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        """Up to ``limit`` deliveries, waiting up to ``wait_s`` for the first one."""

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """Cut a waiting ``fetch`` short (the runner is closing)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Idempotent."""
