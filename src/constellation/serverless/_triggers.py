"""Triggers: what invokes a function besides a direct call, persisted in SQLite.

A trigger is a validated spec (a dict) attached to a function. Types:

* ``http``  ``{"type": "http", "path": "/api/orders/{order_id}", "method": "POST"}``:
  served by ``constellation serve`` (see :mod:`constellation.server`). Two routes that
  can match the same request with the same method are refused when the second is added.
* ``timer`` ``{"type": "timer", "schedule": "0 * * * *"}``: see :mod:`._timers`.
* ``queue``, ``stream``, ``event``: validated and run by :mod:`constellation.triggers`
  (imported lazily; these types are refused with a clear message when it is absent).

Bad specs raise :class:`ValidationError` naming the field; nothing is stored then.
"""

from __future__ import annotations

import builtins
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConflictError, NotFoundError, ValidationError
from ..store import Store

__all__ = [
    "DELEGATED_TYPES",
    "HTTP_METHODS",
    "RESERVED_PREFIXES",
    "TRIGGER_TYPES",
    "RoutePattern",
    "Trigger",
    "TriggerRegistry",
    "TriggerRunners",
    "compile_route",
    "validate_spec",
]

TRIGGER_TYPES = ("http", "timer", "queue", "stream", "event")
DELEGATED_TYPES = ("queue", "stream", "event")
HTTP_METHODS = ("ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# The server's own paths: an HTTP trigger may not shadow them.
RESERVED_PREFIXES = ("/api/v1", "/healthz", "/metrics", "/openapi.json")
MAX_PATH_LENGTH = 1024
DEFAULT_MAX_QUEUED = 100

_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]+$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS triggers (
    id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    type TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS triggers_function ON triggers(function_id);
"""


@dataclass(frozen=True)
class Trigger:
    """A trigger as stored: ``spec`` is the normalised spec."""

    id: str
    function_id: str
    type: str
    spec: dict[str, Any]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "function_id": self.function_id,
            "type": self.type,
            "spec": self.spec,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class RoutePattern:
    """A compiled HTTP route: literal segments and ``{name}`` parameters (``None`` slots)."""

    path: str
    segments: tuple[str | None, ...]
    params: tuple[str, ...]

    @property
    def shape(self) -> tuple[str | None, ...]:
        return self.segments

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        values: dict[str, str] = {}
        names = iter(self.params)
        for part, literal in zip(parts, self.segments, strict=True):
            if literal is None:
                values[next(names)] = part
            elif literal != part:
                return None
        return values

    @property
    def specificity(self) -> int:
        """More literal segments first: ``/orders/new`` wins over ``/orders/{id}``."""
        return sum(1 for s in self.segments if s is not None)


def split_path(path: str) -> list[str]:
    return [p for p in path.split("/") if p] if path != "/" else []


def compile_route(path: Any, field: str = "trigger.path") -> RoutePattern:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValidationError(field, f"{path!r} must be a string starting with '/'")
    if len(path) > MAX_PATH_LENGTH:
        raise ValidationError(field, f"is {len(path)} characters long; at most {MAX_PATH_LENGTH}")
    normal = "/" + "/".join(split_path(path))
    if "//" in path.rstrip("/") or (path != normal and path != normal + "/"):
        raise ValidationError(field, f"{path!r} has an empty segment")
    for prefix in RESERVED_PREFIXES:
        if normal == prefix or normal.startswith(prefix.rstrip("/") + "/"):
            raise ValidationError(field, f"{normal!r} is reserved by the server ({prefix})")
    segments: list[str | None] = []
    params: list[str] = []
    for part in split_path(normal):
        param = _PARAM.match(part)
        if param:
            if param.group(1) in params:
                raise ValidationError(field, f"parameter {{{param.group(1)}}} appears twice")
            params.append(param.group(1))
            segments.append(None)
        elif part in (".", "..") or not _LITERAL.match(part):
            raise ValidationError(
                field,
                f"segment {part!r} is not allowed; use letters, digits, '-._~' "
                "and similar URL characters, or a parameter like {order_id}",
            )
        else:
            segments.append(part)
    return RoutePattern(normal, tuple(segments), tuple(params))


def _check_keys(spec: Mapping[str, Any], allowed: Iterable[str], kind: str) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValidationError(
            f"trigger.{unknown[0]}",
            f"unknown option for a {kind} trigger; allowed: {', '.join(sorted(allowed))}",
        )


def _validate_http(spec: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(spec, ("type", "path", "method", "max_queued"), "http")
    if "path" not in spec:
        raise ValidationError("trigger.path", "required for an http trigger, e.g. '/api/orders'")
    route = compile_route(spec["path"])
    method = spec.get("method", "ANY")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise ValidationError.choice("trigger.method", method, HTTP_METHODS)
    queued = spec.get("max_queued", DEFAULT_MAX_QUEUED)
    if isinstance(queued, bool) or not isinstance(queued, int) or not 0 <= queued <= 100_000:
        raise ValidationError("trigger.max_queued", f"{queued!r} must be an integer 0-100000")
    return {"type": "http", "path": route.path, "method": method.upper(), "max_queued": queued}


def _delegate_validate(spec: Mapping[str, Any]) -> dict[str, Any]:
    try:
        from ..triggers import validate_trigger  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise ValidationError(
            "trigger.type",
            f"{spec['type']!r} triggers need the constellation.triggers package, "
            "which this installation does not have; available here: 'http', 'timer'",
        ) from None
    try:
        normal: dict[str, Any] = validate_trigger(dict(spec))
    except ValidationError as exc:  # name fields as the other trigger types do
        field = exc.field if exc.field.startswith("trigger") else f"trigger.{exc.field}"
        raise ValidationError(field, exc.message) from None
    return normal


def validate_spec(spec: Any) -> dict[str, Any]:
    """The normalised spec, or ValidationError naming the offending field."""
    if not isinstance(spec, Mapping):
        raise ValidationError("trigger", f"expected a mapping, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in TRIGGER_TYPES:
        raise ValidationError.choice("trigger.type", kind, TRIGGER_TYPES)
    if kind == "http":
        return _validate_http(spec)
    if kind == "timer":
        from ._timers import validate_timer

        return validate_timer(spec)
    return _delegate_validate(spec)


def routes_overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two http specs can match the same request (same shape and method)."""
    methods_meet = "ANY" in (a["method"], b["method"]) or a["method"] == b["method"]
    return methods_meet and compile_route(a["path"]).shape == compile_route(b["path"]).shape


def _from_row(row: Any) -> Trigger:
    return Trigger(
        row["id"], row["function_id"], row["type"], json.loads(row["spec"]), row["created_at"]
    )


class TriggerRegistry:
    """Triggers in SQLite; ``version`` moves on every change (for route caches)."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        store.ensure_schema("serverless.triggers", _SCHEMA)
        self._lock = threading.Lock()
        self._cache: list[Trigger] = []
        self._data_version = -1
        self.version = 0
        self.reload()

    def reload(self) -> None:
        rows = self._store.query("SELECT * FROM triggers ORDER BY created_at, id")
        with self._lock:
            self._cache = [_from_row(r) for r in rows]
            self._data_version = self._current_data_version()
            self.version += 1

    def _current_data_version(self) -> int:
        row = self._store.query_one("PRAGMA data_version")
        return int(row[0]) if row else 0

    def refresh_if_changed(self) -> bool:
        """Re-read when another process changed the file; True when something was read."""
        if self._current_data_version() == self._data_version:
            return False
        self.reload()
        return True

    def add(self, function_id: str, spec: Mapping[str, Any]) -> Trigger:
        normal = validate_spec(spec)
        self.refresh_if_changed()
        with self._lock:
            if normal["type"] == "http":
                for other in self._cache:
                    if other.type == "http" and routes_overlap(other.spec, normal):
                        raise ConflictError(
                            f"trigger.path: {normal['method']} {normal['path']} conflicts with "
                            f"trigger {other.id} ({other.spec['method']} {other.spec['path']})"
                        )
            trigger = Trigger(
                "trg-" + uuid.uuid4().hex[:12], function_id, normal["type"], normal, self._clock()
            )
            self._store.execute(
                "INSERT INTO triggers (id, function_id, type, spec, created_at) VALUES (?,?,?,?,?)",
                (trigger.id, function_id, trigger.type, json.dumps(normal), trigger.created_at),
            )
            self._cache = [*self._cache, trigger]
            self._data_version = self._current_data_version()
            self.version += 1
        return trigger

    def get(self, trigger_id: str) -> Trigger:
        for trigger in self._cache:
            if trigger.id == trigger_id:
                return trigger
        if self.refresh_if_changed():
            return self.get(trigger_id)
        raise NotFoundError("trigger", trigger_id)

    def list(self, function_id: str | None = None, type: str | None = None) -> list[Trigger]:
        return [
            t
            for t in self._cache
            if (function_id is None or t.function_id == function_id)
            and (type is None or t.type == type)
        ]

    def remove(self, trigger_id: str) -> Trigger:
        trigger = self.get(trigger_id)
        self._delete("id", trigger_id)
        return trigger

    def remove_for_function(self, function_id: str) -> builtins.list[Trigger]:
        gone = self.list(function_id)
        self._delete("function_id", function_id)
        return gone

    def _delete(self, column: str, value: str) -> None:
        assert column in ("id", "function_id")
        with self._lock:
            self._store.execute(f"DELETE FROM triggers WHERE {column} = ?", (value,))
            self._cache = [t for t in self._cache if getattr(t, column) != value]
            self._data_version = self._current_data_version()
            self.version += 1

    # -- per-trigger state (timers keep their last scheduled time here) ----------------
    def state(self, trigger_id: str) -> dict[str, Any]:
        row = self._store.query_one("SELECT state FROM triggers WHERE id = ?", (trigger_id,))
        return dict(json.loads(row[0])) if row else {}

    def set_state(self, trigger_id: str, state: Mapping[str, Any]) -> None:
        with self._lock:
            self._store.execute(
                "UPDATE triggers SET state = ? WHERE id = ?", (json.dumps(dict(state)), trigger_id)
            )
            # Our own write is not another process's change.
            self._data_version = self._current_data_version()


class TriggerRunners:
    """One runner per queue/stream/event trigger, started by :mod:`constellation.triggers`.

    ``sync()`` starts runners for new triggers and closes those whose trigger is gone;
    the service calls it when triggers change (here or in another process).
    """

    def __init__(
        self,
        registry: TriggerRegistry,
        invoke: Callable[[str, Any], Any],
        *,
        store: Store,
        settings: Any,
        clock: Callable[[], float],
    ) -> None:
        self._registry = registry
        self._invoke = invoke
        self._store = store
        self._settings = settings
        self._clock = clock
        self._runners: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._failed: set[str] = set()
        self._last_sync = 0.0
        self.errors: list[str] = []

    def retry_due(self, now: float, every_s: float = 10.0) -> bool:
        """Whether some runner failed to start and it is time to try again."""
        return bool(self._failed) and now - self._last_sync >= every_s

    def sync(self) -> None:
        wanted = {t.id: t for t in self._registry.list() if t.type in DELEGATED_TYPES}
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
        try:
            from ..triggers import start_trigger  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            self.errors.append("constellation.triggers is not installed: queue/stream/event off")
            return
        for trigger in new:
            fid = trigger.function_id

            def invoke(event: Any, _fid: str = fid) -> Any:
                return self._invoke(_fid, event)

            try:
                # A durable name (the trigger's id): an event trigger's backlog and a
                # stream's position survive a restart.
                spec = {**trigger.spec, "name": trigger.spec.get("name") or trigger.id}
                runner = start_trigger(
                    spec,
                    invoke,
                    store=self._store,
                    settings=self._settings,
                    clock=self._clock,
                )
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
