"""TriggerRunner: one consuming loop shared by every broker.

A broker plugs in as a :class:`~._source.Source` that fetches deliveries (each knows how
to ack, nak, extend or dead-letter itself). The runner owns the policy, the same for all:

* it fetches ``batch_size`` messages whenever one of its ``max_in_flight`` workers is
  free, so at most ``max_in_flight`` invocations run at once and at most one batch waits
  (leased, its leases extended) behind them;
* each delivery calls ``invoke(event)``; ``result.ok`` acks it. A failure (or an
  exception from ``invoke``) naks it with ``retry_delay_s``, or dead-letters it once it
  has been delivered ``max_deliveries`` times. A message that comes back with more
  deliveries than that (its consumer died mid-way, again and again) is dead-lettered
  without another call;
* while a delivery runs, a heartbeat extends its lease every third of the visibility
  timeout, so only a consumer that died (or hangs its whole process) loses a message
  to another one;
* ordered runners (event streams) deliver one message at a time in stream order and
  retry a failed one in place, so a later message never overtakes it.

``close()`` stops fetching, gives fetched-but-unstarted messages back at once (nak),
waits for running deliveries to finish and be acked (up to ``timeout``; what is still
running then is redelivered after its visibility timeout), then closes the source. It
is idempotent.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._source import Delivery, Source

__all__ = ["Invoke", "TriggerRunner", "TriggerStats"]

log = logging.getLogger("constellation.triggers")

Invoke = Callable[[Any], Any]  # returns an InvocationResult (anything with .ok and .error)


@dataclasses.dataclass(frozen=True)
class TriggerStats:
    """Counters of one runner since it started."""

    delivered: int
    succeeded: int
    failed: int
    dead_lettered: int
    in_flight: int
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class TriggerRunner:
    """Consumes one trigger's source and calls ``invoke`` per message. Use ``close()``."""

    def __init__(
        self,
        spec: dict[str, Any],
        invoke: Invoke,
        source: Source,
        *,
        ordered: bool = False,
        poll_s: float = 0.25,
    ) -> None:
        self.spec = spec
        self._invoke = invoke
        self._source = source
        self._poll_s = poll_s
        self._max_in_flight = 1 if ordered else int(spec["max_in_flight"])
        self._batch = int(spec["batch_size"])
        self._max_deliveries = int(spec["max_deliveries"])
        self._retry_delay = float(spec["retry_delay_s"])
        self._cond = threading.Condition()
        # Every fetched, unsettled delivery: id -> [delivery, lease extended at, state],
        # state "waiting" (for a worker), "running" or "released" (given back on close).
        self._held: dict[int, list[Any]] = {}
        self._active = 0  # invocations running now
        self._counts = {"delivered": 0, "succeeded": 0, "failed": 0, "dead_lettered": 0}
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._closed = False
        self._pool = (
            None
            if ordered
            else ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="trigger-deliver")
        )
        self._thread = threading.Thread(target=self._loop, name="trigger-fetch", daemon=True)
        self._beat_s = max(0.01, float(spec["visibility_timeout_s"]) / 3)
        self._beat = threading.Thread(target=self._heartbeat, name="trigger-lease", daemon=True)
        self._beat_wake = threading.Event()

    def start(self) -> TriggerRunner:
        self._source.start()
        self._thread.start()
        self._beat.start()
        return self

    def _heartbeat(self) -> None:
        """Extend the lease of every held delivery once a third of its timeout has passed."""
        while True:
            self._beat_wake.wait(self._beat_s)  # its own event: no wake-up per message
            with self._cond:
                if self._beat_wake.is_set():  # closed (or gave up waiting on the rest)
                    return
                now = time.monotonic()
                due = [entry for entry in self._held.values() if now - entry[1] >= self._beat_s]
                for entry in due:
                    entry[1] = now
            for delivery, _, _ in due:
                self._settle(delivery.extend)

    # -- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        """Fetch a batch whenever a worker is free; at most one batch waits beyond them."""
        failures = 0
        while not self._stop.is_set():
            with self._cond:
                while len(self._held) >= self._max_in_flight and not self._stop.is_set():
                    self._cond.wait(self._poll_s)
            if self._stop.is_set():
                return
            try:
                batch = self._source.fetch(self._batch, self._poll_s)
                failures = 0
            except Exception as exc:  # a broker hiccup must not end the trigger
                if self._stop.is_set():
                    return
                failures += 1
                self._note_error(f"fetch failed: {exc!r}")
                log.warning("trigger %s: fetch failed: %r", self.describe(), exc)
                self._stop.wait(min(5.0, 0.1 * 2**failures))
                continue
            ready = [d for d in batch if self._admit(d)]
            with self._cond:
                for delivery in ready:
                    self._held[id(delivery)] = [delivery, time.monotonic(), "waiting"]
            for delivery in ready:
                if self._pool is None:
                    self._deliver_in_order(delivery)
                else:
                    self._pool.submit(self._deliver, delivery)

    def _admit(self, delivery: Delivery) -> bool:
        """False for a message that has used up its deliveries: it is dead-lettered."""
        if delivery.deliveries <= self._max_deliveries:
            return True
        self._settle(
            delivery.dead_letter,
            f"delivered {delivery.deliveries - 1} times without success "
            f"(max_deliveries {self._max_deliveries})",
        )
        self._count("dead_lettered")
        return False

    def _call(self, delivery: Delivery) -> str | None:
        """Invoke once; None on success, else the error."""
        with self._cond:
            self._counts["delivered"] += 1
            self._active += 1
        try:
            result = self._invoke(delivery.event)
        except Exception as exc:
            return f"invoke raised {exc!r}"
        finally:
            with self._cond:
                self._active -= 1
        if getattr(result, "ok", False):
            self._count("succeeded")
            return None
        return str(getattr(result, "error", None) or getattr(result, "status", "failed"))

    def _start(self, delivery: Delivery) -> bool:
        """Mark a waiting delivery running; False if close() already gave it back."""
        with self._cond:
            entry = self._held.get(id(delivery))
            if entry is None or entry[2] != "waiting":
                return False
            entry[2] = "running"
            return True

    def _deliver(self, delivery: Delivery) -> None:
        if not self._start(delivery):
            return
        try:
            error = self._call(delivery)
            if error is None:
                self._settle(delivery.ack)
            else:
                self._failed(delivery, error)
        finally:
            self._release(delivery)

    def _deliver_in_order(self, delivery: Delivery) -> None:
        if not self._start(delivery):
            return
        try:
            attempt = delivery.deliveries
            while True:
                if self._stop.is_set():  # closing: give it back for next time
                    if attempt == delivery.deliveries:
                        self._settle(delivery.release)  # never started
                    else:
                        self._settle(delivery.nak, 0.0)
                    return
                error = self._call(delivery)
                if error is None:
                    self._settle(delivery.ack)
                    return
                self._count("failed")
                self._note_error(error)
                if attempt >= self._max_deliveries:
                    self._dead(delivery, error)
                    return
                self._stop.wait(self._retry_delay)
                attempt += 1
        finally:
            self._release(delivery)

    def _failed(self, delivery: Delivery, error: str) -> None:
        self._count("failed")
        self._note_error(error)
        if delivery.deliveries >= self._max_deliveries:
            self._dead(delivery, error)
        else:
            self._settle(delivery.nak, self._retry_delay)

    def _dead(self, delivery: Delivery, error: str) -> None:
        reason = f"failed {self._max_deliveries} deliveries; last error: {error}"
        self._settle(delivery.dead_letter, reason)
        self._count("dead_lettered")

    def _settle(self, action: Callable[..., None], *args: Any) -> None:
        try:
            action(*args)
        except Exception as exc:  # the broker redelivers what was not settled
            self._note_error(f"{action.__name__} failed: {exc!r}")
            log.warning("trigger %s: %s failed: %r", self.describe(), action.__name__, exc)

    def _release(self, delivery: Delivery) -> None:
        with self._cond:
            self._held.pop(id(delivery), None)
            if len(self._held) < self._max_in_flight:  # the fetcher (or close) may go on
                self._cond.notify_all()

    def _count(self, name: str) -> None:
        with self._cond:
            self._counts[name] += 1

    def _note_error(self, error: str) -> None:
        self._last_error = error

    # -- public ----------------------------------------------------------------------
    def describe(self) -> str:
        spec = self.spec
        target = spec.get("queue") or spec.get("subject") or spec.get("stream")
        return f"{spec['type']}:{spec.get('broker', 'sqlite')}:{target or spec.get('event_type')}"

    def stats(self) -> TriggerStats:
        with self._cond:
            return TriggerStats(**self._counts, in_flight=self._active, last_error=self._last_error)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float = 30.0) -> None:
        """Stop fetching; let in-flight deliveries finish (up to ``timeout``). Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        self._source.interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:  # what waits for a worker goes back to the broker now
            waiting = [entry for entry in self._held.values() if entry[2] == "waiting"]
            for entry in waiting:
                entry[2] = "released"
        for delivery, _, _ in waiting:
            self._settle(delivery.release)
            self._release(delivery)
        with self._cond:
            self._cond.wait_for(lambda: not self._held, timeout)
        self._beat_wake.set()
        self._beat.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self._source.close()

    def __enter__(self) -> TriggerRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<TriggerRunner {self.describe()} {state}>"
