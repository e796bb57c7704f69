"""Timer triggers: cron schedules and rates, fired by one scheduler thread.

Spec: ``{"type": "timer", "schedule": "0 * * * *"}`` with optional ``timezone`` (IANA
name, default ``"UTC"``), ``catch_up`` (default true), ``allow_overlap`` (default false)
and ``event`` (any JSON, handed to the handler as ``event["detail"]``).

``schedule`` is a cron expression, a macro or ``rate(N unit)`` (see :mod:`._schedule`).

How runs are decided (:meth:`TimerScheduler.tick`, a pure step given ``now``):

* each timer remembers the last scheduled time it dealt with (in SQLite, so a restart
  knows it); a new timer starts from its creation time;
* when scheduled times have passed, one run is made for the latest of them. It is *on
  time* when it is at most ``GRACE_S`` old; older ones were missed (the platform was
  down or busy): with ``catch_up`` they are caught up by that one run, without it they
  are skipped;
* without ``allow_overlap``, a run is skipped while the previous run of the same timer
  is still going.

A run is an ordinary ``invoke_sync``: a function scaled to zero cold-starts.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import ConstellationError
from ._registry import Trigger, TriggerRegistry
from ._schedule import Schedule, parse_schedule

__all__ = ["GRACE_S", "Firing", "TimerScheduler"]

GRACE_S = 1.0

Invoke = Callable[[str, Any], Any]  # (function id, event) -> InvocationResult


def schedule_of(trigger: Trigger) -> Schedule:
    return parse_schedule(trigger.spec["schedule"], trigger.spec["timezone"], trigger.created_at)


@dataclass(frozen=True)
class Firing:
    """One decision of the scheduler about a scheduled time."""

    trigger_id: str
    function_id: str
    scheduled_at: float
    decided_at: float
    action: str  # "fired" | "skipped_missed" | "skipped_overlap"
    catch_up: bool


class TimerScheduler:
    """Fires timer triggers. ``tick(now)`` decides; ``start()`` runs it on a thread."""

    def __init__(
        self,
        registry: TriggerRegistry,
        invoke: Invoke,
        *,
        clock: Callable[[], float],
        max_workers: int = 8,
        history: int = 1000,
    ) -> None:
        self._registry = registry
        self._invoke = invoke
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="timer-run")
        self._running: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()  # the loop and a caller never decide together
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.history: deque[Firing] = deque(maxlen=history)
        self.errors: deque[str] = deque(maxlen=100)

    # -- the decision ----------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[Firing]:
        """Decide every timer's runs due at ``now``; runs start on worker threads."""
        moment = self._clock() if now is None else now
        decisions = []
        with self._tick_lock:
            for trigger in self._registry.list(type="timer"):
                firing = self._decide(trigger, moment)
                if firing is not None:
                    decisions.append(firing)
                    self.history.append(firing)
        return decisions

    def _last_dealt(self, trigger: Trigger) -> float:
        last = self._last.get(trigger.id)
        if last is None:
            stored = self._registry.state(trigger.id).get("last_scheduled")
            last = float(stored) if stored is not None else trigger.created_at
            self._last[trigger.id] = last
        return last

    def _decide(self, trigger: Trigger, now: float) -> Firing | None:
        due = schedule_of(trigger).latest_due(self._last_dealt(trigger), now)
        if due is None:
            return None
        self._last[trigger.id] = due
        self._registry.set_state(trigger.id, {"last_scheduled": due})
        on_time = now - due <= GRACE_S
        spec = trigger.spec
        if not on_time and not spec["catch_up"]:
            action = "skipped_missed"
        else:
            with self._lock:
                busy = self._running.get(trigger.id, 0) > 0
                action = "skipped_overlap" if busy and not spec["allow_overlap"] else "fired"
                if action == "fired":
                    self._running[trigger.id] = self._running.get(trigger.id, 0) + 1
        firing = Firing(trigger.id, trigger.function_id, due, now, action, not on_time)
        if action == "fired":
            self._pool.submit(self._run, trigger, firing)
        return firing

    def _run(self, trigger: Trigger, firing: Firing) -> None:
        event = {
            "type": "timer",
            "trigger_id": trigger.id,
            "schedule": trigger.spec["schedule"],
            "timezone": trigger.spec["timezone"],
            "scheduled_at": firing.scheduled_at,
            "scheduled_time": datetime.fromtimestamp(firing.scheduled_at, UTC).isoformat(),
            "fired_at": self._clock(),
            "catch_up": firing.catch_up,
            "detail": trigger.spec.get("event"),
        }
        try:
            self._invoke(trigger.function_id, event)
        except ConstellationError as exc:  # the function was deleted meanwhile, or shut down
            self.errors.append(f"{trigger.id}: {exc}")
        finally:
            with self._lock:
                self._running[trigger.id] -= 1

    def running(self, trigger_id: str) -> int:
        with self._lock:
            return self._running.get(trigger_id, 0)

    def next_due(self, now: float) -> float | None:
        """The earliest next scheduled time of any timer (for the loop's sleep)."""
        times = [
            schedule_of(t).next_after(max(self._last_dealt(t), now - GRACE_S))
            for t in self._registry.list(type="timer")
        ]
        return min(times) if times else None

    def forget(self, trigger_id: str) -> None:
        self._last.pop(trigger_id, None)

    # -- the loop --------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._loop, name="timers", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Re-plan now (a timer was added or removed)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                now = self._clock()
                nxt = self.next_due(now)
            except ConstellationError as exc:
                self.errors.append(str(exc))
                nxt = None
                now = self._clock()
            # Sleep to the next scheduled time, re-checking at least every second.
            delay = 1.0 if nxt is None else min(1.0, max(0.0, nxt - now))
            self._wake.wait(delay)
            self._wake.clear()

    def close(self) -> None:
        """Stop the loop; runs in progress finish (bounded by the function's timeout)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no run is in progress (tests)."""
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            with self._lock:
                if not any(self._running.values()):
                    return True
            deadline.wait(0.01)
        return False

    def __enter__(self) -> TimerScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
