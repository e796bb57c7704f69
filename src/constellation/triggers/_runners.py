"""Keeping one :class:`~._runner.TriggerRunner` per queue, stream and event trigger
running, in step with the registry: :class:`RunnerSupervisor`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ._registry import TriggerRegistry
from ._runner import TriggerRunner
from ._validate import RUNNER_TYPES

__all__ = ["RunnerSupervisor", "StartRunner"]

# (normalised spec, invoke(event)) -> a started runner; constellation.triggers.start_trigger
# bound to the platform's store.
StartRunner = Callable[[dict[str, Any], Callable[[Any], Any]], TriggerRunner]


class RunnerSupervisor:
    """One runner per queue/stream/event trigger of the registry.

    ``sync()`` starts runners for new triggers and closes those whose trigger is gone;
    the owner calls it when triggers change (here or in another process). A runner that
    fails to start (its broker is down) is tried again at the next ``sync`` once
    :meth:`retry_due` says so; the others are not held up by it. ``close`` is idempotent.
    """

    def __init__(
        self,
        registry: TriggerRegistry,
        invoke: Callable[[str, Any], Any],
        start: StartRunner,
    ) -> None:
        self._registry = registry
        self._invoke = invoke  # (function id, event) -> InvocationResult
        self._start = start
        self._runners: dict[str, TriggerRunner] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._failed: set[str] = set()
        self._last_sync = 0.0
        self.errors: list[str] = []

    def retry_due(self, now: float, every_s: float = 10.0) -> bool:
        """Whether some runner failed to start and it is time to try again."""
        return bool(self._failed) and now - self._last_sync >= every_s

    def sync(self) -> None:
        wanted = {t.id: t for t in self._registry.list() if t.type in RUNNER_TYPES}
        self._last_sync = time.monotonic()
        self._failed &= set(wanted)
        with self._lock:
            if self._closed:
                return
            gone = [tid for tid in self._runners if tid not in wanted]
            stale = [self._runners.pop(tid) for tid in gone]
            new = [t for tid, t in wanted.items() if tid not in self._runners]
        for runner in stale:
            runner.close()
        if not new:
            return
        for trigger in new:
            fid = trigger.function_id

            def invoke(event: Any, _fid: str = fid) -> Any:
                return self._invoke(_fid, event)

            try:
                # A durable name (the trigger's id): an event trigger's backlog and a
                # stream's position survive a restart.
                spec = {**trigger.spec, "name": trigger.spec.get("name") or trigger.id}
                runner = self._start(spec, invoke)
            except Exception as exc:  # a broker that is down must not stop the others
                self.errors = [*self.errors[-99:], f"{trigger.id}: {type(exc).__name__}: {exc}"]
                self._failed.add(trigger.id)
                continue
            self._failed.discard(trigger.id)
            with self._lock:
                if self._closed:
                    runner.close()
                    return
                self._runners[trigger.id] = runner

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._runners)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            runner.close()
