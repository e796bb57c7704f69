"""The timeout watchdog: one thread per engine that stops calls past their deadline.

A metered module keeps its gas in a *bank* the host can write (see :mod:`._metering`);
the watchdog stops a call by emptying that bank, and the call traps at its next refill.
Arming and disarming a call are a dict entry (the target; its ``_deadline`` a clock read
away) and its removal (callers on the hot
path write ``armed`` themselves, as :meth:`arm` does): no lock and no call into the
engine, so timeouts cost a call almost nothing. The thread polls every
``tick_s`` while calls are armed and sleeps on an event once none has been for a while
(an idle platform has no wake-ups). ``close()`` is idempotent.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Watchdog"]


class Interruptible(Protocol):
    id: str
    _deadline: float  # perf_counter() time; read while the target is armed

    def interrupt(self) -> None: ...


class Watchdog:
    def __init__(self, tick_s: float = 0.002, idle_polls: int = 250) -> None:
        self.tick_s = tick_s
        self._idle_polls = idle_polls
        self.armed: dict[str, Interruptible] = {}  # the target's _deadline says when
        self._lock = threading.Lock()  # held while interrupting: see forget()
        self._wake = threading.Event()
        self.awake = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, target: Interruptible, timeout_ms: float) -> None:
        target._deadline = time.perf_counter() + timeout_ms / 1000.0
        self.armed[target.id] = target
        if not self.awake:
            self.wake()

    def disarm(self, target: Interruptible) -> None:
        self.armed.pop(target.id, None)

    def forget(self, target: Interruptible) -> None:
        """Disarm and wait out an interrupt in progress (before the target's memory goes)."""
        with self._lock:
            self.armed.pop(target.id, None)

    def wake(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.awake = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasm-watchdog",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            self._wake.set()

    def _run(self) -> None:
        idle = 0
        while not self._closed:
            if not self.armed:
                idle += 1
                if idle >= self._idle_polls:
                    self.awake = False
                    if not self.armed:  # re-check: an arm() may have seen _awake True
                        self._wake.wait()
                    self._wake.clear()
                    self.awake = True
                    idle = 0
                    continue
            else:
                idle = 0
                self._check()
            time.sleep(self.tick_s)

    def _check(self) -> None:
        now = time.perf_counter()
        with self._lock:
            for key, target in list(self.armed.items()):
                deadline = target._deadline
                # Still the same call (not disarmed and re-armed since the snapshot)?
                if (
                    now >= deadline
                    and self.armed.get(key) is target
                    and target._deadline == deadline
                ):
                    target.interrupt()  # again every tick until the call ends: see interrupt

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.armed.clear()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
