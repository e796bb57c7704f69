"""A function's instances: idle ones ready to serve, busy ones serving, and the limit.

One invocation per instance at a time (as in Lambda). ``acquire`` hands out the most
recently used idle instance (warmest caches), starts a new one when the function is
below its limit (a cold start, done outside the lock), or waits until ``deadline`` for
one to free up and then raises :class:`Throttled`. Instances of an older
*generation* (the code, memory or environment changed) are retired instead of reused.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends import Instance
from ..errors import ClosedError
from ._concurrency import ConcurrencyMeter
from ._models import FunctionInfo

__all__ = ["FunctionPool", "PoolCounts", "Throttled"]

# (function, generation) -> a ready instance (a cold start)
Launch = Callable[[FunctionInfo, int], Instance]


class Throttled(Exception):
    """No instance freed up before the deadline."""


@dataclass(frozen=True)
class PoolCounts:
    idle: int
    busy: int
    starting: int

    @property
    def total(self) -> int:
        return self.idle + self.busy + self.starting


class FunctionPool:
    def __init__(
        self, info: FunctionInfo, launch: Launch, clock: Callable[[], float] = time.time
    ) -> None:
        self.info = info
        self._launch = launch
        self._clock = clock
        self.meter = ConcurrencyMeter(clock())
        self.autoscale_target = 0  # set by the autoscaler; reaping keeps at least this many
        # Set by the autoscaler for a predictive function: its idle instances above the
        # target go after this many seconds (None: the policy's idle_timeout_s).
        self.reap_after_s: float | None = None
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[Instance] = []
        self._busy: set[Instance] = set()
        self._starting = 0
        self._generation = 0
        self._closed = False
        # Requests on an event loop (the HTTP gateway) wait here for a released instance,
        # without a thread each; threads wait on the condition. Turns alternate.
        self._loop_waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = deque()
        self._thread_waiters = 0
        self._loop_turn = True

    @property
    def limit(self) -> int:
        return min(self.info.concurrency, self.info.scaling_policy.max_instances)

    @property
    def warm_target(self) -> int:
        return min(
            self.limit, max(self.info.scaling_policy.min_instances, self.info.prewarm_instances)
        )

    @property
    def generation(self) -> int:
        return self._generation

    def acquire(self, deadline: float) -> tuple[Instance, bool]:
        """An instance for one invocation, and whether it was a cold start."""
        stale: list[Instance] = []
        with self._cond:
            while True:
                if self._closed:
                    raise ClosedError(f"function {self.info.name!r} is being removed")
                while self._idle:
                    instance = self._idle.pop()
                    if instance.closed or instance.generation != self._generation:
                        stale.append(instance)
                        continue
                    self._busy.add(instance)
                    self.meter.change(+1, self._clock())
                    break
                else:
                    instance = None
                if instance is not None:
                    break
                if len(self._busy) + self._starting < self.limit:
                    self._starting += 1
                    self.meter.change(+1, self._clock())
                    generation = self._generation
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Throttled()
                self._thread_waiters += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._thread_waiters -= 1
        for old in stale:
            old.close()
        if instance is not None:
            return instance, False
        try:
            return self._start(generation, busy=True), True
        except BaseException:
            with self._cond:
                self.meter.change(-1, self._clock())
            raise

    def try_acquire(self) -> Instance | None:
        """A warm idle instance at once, or None (never starts or waits for one)."""
        stale: list[Instance] = []
        instance = None
        with self._cond:
            while self._idle and not self._closed:
                candidate = self._idle.pop()
                if candidate.closed or candidate.generation != self._generation:
                    stale.append(candidate)
                    continue
                self._busy.add(candidate)
                self.meter.change(+1, self._clock())
                instance = candidate
                break
        for old in stale:
            old.close()
        return instance

    def _start(self, generation: int, busy: bool) -> Instance:
        try:
            instance = self._launch(self.info, generation)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            if busy:
                self._busy.add(instance)
            elif not self._closed and generation == self._generation:
                self._idle.insert(0, instance)  # prewarmed: used after the warm ones
            else:
                instance.close()
            self._cond.notify()
        return instance

    def release(self, instance: Instance, now: float, healthy: bool = True) -> None:
        handoff: tuple[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]], Any] | None = None
        with self._cond:
            self.meter.change(-1, now)
            keep = healthy and not self._closed and not instance.closed
            keep = keep and instance.generation == self._generation
            waiter = self._next_loop_waiter()
            if waiter is not None and keep:
                # Straight to a request waiting on an event loop: it stays busy.
                self.meter.change(+1, now)
                handoff = (waiter, instance)
            else:
                self._busy.discard(instance)
                if keep:
                    instance.idle_since = now
                    self._idle.append(instance)
                elif waiter is not None:
                    handoff = (waiter, None)  # a slot is free: that request starts one
                self._cond.notify()
        if not keep:
            instance.close()
        if handoff is not None:
            (loop, future), given = handoff
            if asyncio._get_running_loop() is loop:
                self._deliver(future, given)  # on the waiter's own loop: no wake-up needed
                return
            try:
                loop.call_soon_threadsafe(self._deliver, future, given)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                if given is not None:
                    self.release(given, now)

    def _next_loop_waiter(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]] | None:
        """The next live event-loop waiter, when it is the loop side's turn (call locked)."""
        while self._loop_waiters and self._loop_waiters[0][1].done():
            self._loop_waiters.popleft()  # timed out or cancelled
        if not self._loop_waiters:
            return None
        if self._thread_waiters and not self._loop_turn:
            self._loop_turn = True
            return None
        self._loop_turn = False
        return self._loop_waiters.popleft()

    def _deliver(self, future: asyncio.Future[Any], instance: Instance | None) -> None:
        if not future.done():
            future.set_result(instance)
        elif instance is not None:  # the request gave up meanwhile: next one
            self.release(instance, self._clock())

    def acquire_or_wait(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[Instance | None, asyncio.Future[Any] | None]:
        """For a caller on an event loop: ``(instance, None)`` with a warm idle one;
        ``(None, future)`` when the pool is at its limit (the future gets a released
        instance, or None when a slot freed up instead); ``(None, None)`` when a new
        instance may be started (the caller cold-starts it, off the loop)."""
        instance = self.try_acquire()
        if instance is not None:
            return instance, None
        with self._cond:
            if self._closed or len(self._busy) + self._starting < self.limit or self._idle:
                return None, None
            future: asyncio.Future[Any] = loop.create_future()
            self._loop_waiters.append((loop, future))
            return None, future

    def update(self, info: FunctionInfo, retire: bool) -> None:
        """New settings; with ``retire`` the current instances are replaced by new ones."""
        with self._cond:
            self.info = info
            retired: list[Instance] = []
            if retire:
                self._generation += 1
                retired, self._idle = self._idle, []
            self._cond.notify_all()
        for instance in retired:
            instance.close()

    def fill(self, target: int | None = None) -> int:
        """Start instances until ``target`` (default: the warm target) exist; returns how many."""
        want = self.warm_target if target is None else min(target, self.limit)
        started = 0
        while True:
            with self._cond:
                self._forget_closed()
                if self._closed or len(self._idle) + len(self._busy) + self._starting >= want:
                    return started
                self._starting += 1
                generation = self._generation
            self._start(generation, busy=False)
            started += 1

    def wait_started(self, timeout_s: float = 60.0) -> None:
        """Wait for instance starts under way in other threads (the autoscaler's fill may
        have counted the one a caller's :meth:`fill` then skipped)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._starting and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, 0.05))  # _start notifies one waiter, maybe not us

    def reap(self, now: float) -> int:
        """Close instances idle for longer than the policy allows, down to the warm target."""
        idle_timeout = self.info.scaling_policy.idle_timeout_s
        if self.reap_after_s is not None:
            idle_timeout = min(idle_timeout, self.reap_after_s)
        doomed: list[Instance] = []
        with self._cond:
            keep = max(self.warm_target, min(self.autoscale_target, self.limit))
            spare = len(self._idle) + len(self._busy) - keep
            # self._idle is ordered oldest-used first.
            while spare > 0 and self._idle and self._idle[0].idle_seconds(now) >= idle_timeout:
                doomed.append(self._idle.pop(0))
                spare -= 1
        for instance in doomed:
            instance.close()
        return len(doomed)

    def remove_instance(self, instance_id: str) -> Instance | None:
        """Take an idle instance out (to restart it); busy ones are retired on release."""
        with self._cond:
            for instance in self._idle:
                if instance.id == instance_id:
                    self._idle.remove(instance)
                    return instance
            for instance in self._busy:
                if instance.id == instance_id:
                    instance.generation = -1  # not returned to the pool after this call
                    return instance
        return None

    def _forget_closed(self) -> None:
        # An idle instance can end on its own (a Ray actor lost with its node); it is
        # already closed, so dropping it from the list is all that is left to do.
        if any(i.closed for i in self._idle):
            self._idle = [i for i in self._idle if not i.closed]

    def instances(self) -> list[tuple[Instance, str]]:
        with self._cond:
            self._forget_closed()
            return [(i, "idle") for i in self._idle] + [(i, "busy") for i in self._busy]

    def demand(self, window_s: float, now: float) -> float:
        """Mean invocations in flight over the last ``window_s`` seconds."""
        with self._cond:
            return self.meter.average(window_s, now)

    def activity(self, after: int, now: float) -> list[tuple[int, float, int]]:
        """The seconds after ``after`` with invocations in flight or started (see
        :meth:`ConcurrencyMeter.activity`): what the predictive autoscaler learns from."""
        with self._cond:
            return self.meter.activity(after, now)

    def counts(self) -> PoolCounts:
        with self._cond:
            return PoolCounts(len(self._idle), len(self._busy), self._starting)

    def close(self) -> None:
        """Close every instance; busy ones are killed. Idempotent."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy, self._busy = list(self._busy), set()
            waiters, self._loop_waiters = list(self._loop_waiters), deque()
            self._cond.notify_all()
        for loop, future in waiters:  # they fall back to invoke_sync, which says it is closed
            try:
                loop.call_soon_threadsafe(self._deliver, future, None)
            except RuntimeError:
                pass
        for instance in idle:
            instance.close()
        for instance in busy:
            instance.kill()
