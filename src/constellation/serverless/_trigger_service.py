"""Functions' triggers: attached, listed and removed here; fired by constellation.triggers.

The trigger package stores the triggers and runs them (the timer scheduler, one runner
per queue/stream/event trigger); it knows functions only by id and calls back
:meth:`TriggerService.invoke_for_trigger`, which runs an ordinary ``invoke_sync``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..config import Settings
from ..errors import NotFoundError
from ..store import Store
from ..triggers import (
    RunnerSupervisor,
    TimerScheduler,
    Trigger,
    TriggerRegistry,
    emit,
    emit_cloudevents,
    publish,
    start_trigger,
)
from ._models import InvocationResult
from ._registry import FunctionRegistry

__all__ = ["TriggerService"]

# (function id, event, traceparent, trigger type) -> the invocation's result
InvokeById = Callable[[str, Any, str | None, str | None], InvocationResult]
_EVENT_TYPES = ("timer", "queue", "stream")


def _trigger_type(event: Any) -> str | None:
    """Which trigger made ``event`` (they are all made by constellation.triggers)."""
    if not isinstance(event, dict):
        return None
    if "specversion" in event:
        return "event"
    kind = event.get("type")
    return kind if kind in _EVENT_TYPES else None


def _trace_parent(event: Any) -> str | None:
    """A CloudEvent's distributed-tracing extension (``traceparent``), for the context."""
    if isinstance(event, dict) and "specversion" in event:
        value = event.get("traceparent")
        return value if isinstance(value, str) else None
    return None


class TriggerService:
    """The triggers of every function. ``close`` is idempotent."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        functions: FunctionRegistry,
        invoke: InvokeById,
        clock: Callable[[], float],
        *,
        is_running: Callable[[], bool],
    ) -> None:
        self._store = store
        self._settings = settings
        self._functions = functions
        self._invoke = invoke
        self._is_running = is_running
        self.registry = TriggerRegistry(store, clock)
        self.timers = TimerScheduler(self.registry, self.invoke_for_trigger, clock=clock)
        start = functools.partial(start_trigger, store=store, settings=settings, clock=clock)
        self.runners = RunnerSupervisor(self.registry, self.invoke_for_trigger, start)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start the timer scheduler and the runners of the triggers there are."""
        self.timers.start()
        self.runners.sync()

    def refresh(self) -> None:
        """Follow another process's changes, and retry runners whose broker was down."""
        changed = self.registry.refresh_if_changed()
        if changed or self.runners.retry_due(time.monotonic()):
            self.runners.sync()
        if changed:
            self.timers.wake()

    def close(self) -> None:
        self.timers.close()
        self.runners.close()

    # -- triggers --------------------------------------------------------------------
    def add(self, function: str, spec: Mapping[str, Any]) -> Trigger:
        """Attach an http, timer, queue, stream or event trigger (validated, persisted)."""
        info = self._functions.get(function)
        trigger = self.registry.add(info.id, spec)
        if self._is_running():
            self.runners.sync()
            self.timers.wake()
        return trigger

    def remove(self, trigger_id: str) -> Trigger:
        trigger = self.registry.remove(trigger_id)
        self.timers.forget(trigger.id)
        if self._is_running():
            self.runners.sync()
        return trigger

    def list(self, function: str | None = None) -> list[Trigger]:
        self.registry.refresh_if_changed()
        fid = self._functions.get(function).id if function else None
        return self.registry.list(fid)

    def remove_for_function(self, function_id: str) -> None:
        """The function is gone: so are its triggers, their timers and runners."""
        self._forget(function_id)
        self.runners.sync()

    def _forget(self, function_id: str) -> None:
        for trigger in self.registry.remove_for_function(function_id):
            self.timers.forget(trigger.id)

    def invoke_for_trigger(self, function_id: str, event: Any) -> InvocationResult:
        try:
            return self._invoke(function_id, event, _trace_parent(event), _trigger_type(event))
        except NotFoundError:
            self._forget(function_id)  # deleted by another process: its triggers go too
            raise

    # -- messages for queue and event triggers ---------------------------------------
    def publish(
        self, queue: str, message: Any, *, broker: str = "sqlite", url: str | None = None
    ) -> str:
        """Put a message on a queue that queue triggers consume; returns its id."""
        return publish(
            queue, message, broker=broker, url=url, store=self._store, settings=self._settings
        )

    def emit(self, event_type: str, payload: Any, *, source: str = "constellation") -> int:
        """Send a custom event (CloudEvents envelope) to the event triggers whose glob
        matches ``event_type``; returns how many it was queued for."""
        return emit(event_type, payload, source=source, store=self._store)

    def emit_cloudevents(
        self, envelopes: Sequence[dict[str, Any]], *, trigger_id: str | None = None
    ) -> Sequence[int]:
        """Send CloudEvents as they came (the HTTP ingress) to the matching event
        triggers, as :meth:`emit` does, or to the event trigger ``trigger_id`` only;
        returns how many triggers each reached."""
        subscription = None
        if trigger_id is not None:
            trigger = self.registry.get(trigger_id)
            subscription = trigger.spec.get("name") or trigger.id
        return emit_cloudevents(list(envelopes), store=self._store, subscription=subscription)
