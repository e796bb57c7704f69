"""Starting a queue, stream or event trigger's runner on its broker: ``start_trigger``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ._events import EventSource
from ._runner import TriggerRunner
from ._source import Source
from ._sqlite import SqliteQueueSource
from ._validate import RUNNER_TYPES, validate_trigger

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import Store

__all__ = ["default_store", "start_trigger"]


def default_store(store: Store | None) -> Store:
    """``store``, else the process's default platform's (the module-level API's)."""
    if store is not None:
        return store
    from ..defaults import default_platform

    return default_platform().store


def start_trigger(
    spec: dict[str, Any],
    invoke: Callable[[Any], Any],
    *,
    store: Store | None = None,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
) -> TriggerRunner:
    """Validate ``spec``, connect to its broker and start delivering to ``invoke``.

    Raises ValidationError for a bad spec and BrokerUnavailableError when Redis or NATS
    cannot be reached; nothing is left running then. ``settings`` is accepted for the
    platform's wiring; broker URLs come from the spec or ``$CONSTELLATION_REDIS_URL`` /
    ``$CONSTELLATION_NATS_URL``.
    """
    del settings  # nothing in Settings applies to triggers yet
    spec = validate_trigger(spec)
    if spec["type"] not in RUNNER_TYPES:
        served_by = "the server" if spec["type"] == "http" else "the platform's timer scheduler"
        raise ValidationError(
            "trigger.type", f"{spec['type']!r} triggers are run by {served_by}, not a runner"
        )
    source: Source
    if spec["type"] == "event":
        source = EventSource(spec, default_store(store), clock)
    elif spec["broker"] == "sqlite":
        source = SqliteQueueSource(
            default_store(store),
            spec["queue"],
            spec["dead_letter"],
            spec["visibility_timeout_s"],
            clock,
        )
    elif spec["broker"] == "redis":
        from ._redis import RedisQueueSource, RedisStreamSource

        source = RedisQueueSource(spec) if spec["type"] == "queue" else RedisStreamSource(spec)
    else:
        from ._nats import NatsQueueSource, NatsStreamSource

        source = NatsQueueSource(spec) if spec["type"] == "queue" else NatsStreamSource(spec)
    runner = TriggerRunner(spec, invoke, source, ordered=spec["type"] == "stream")
    try:
        return runner.start()
    except BaseException:
        source.close()
        raise
