"""The trigger registry: every function's triggers, persisted in SQLite.

A :class:`Trigger` is a validated spec (see :func:`~._validate.validate_trigger`)
attached to a function. The registry keeps them in the store's ``triggers`` table with a
per-trigger ``state`` (timers keep their last scheduled time there), caches them in
memory, and notices another process's changes (``refresh_if_changed``). ``version`` moves
on every change, for the server's route cache.
"""

from __future__ import annotations

import builtins
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..store import Store
from ._http import routes_overlap
from ._validate import validate_trigger

__all__ = ["Trigger", "TriggerRegistry"]


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


def _from_row(row: Any) -> Trigger:
    return Trigger(
        row["id"], row["function_id"], row["type"], json.loads(row["spec"]), row["created_at"]
    )


class TriggerRegistry:
    """Triggers in SQLite; ``version`` moves on every change (for route caches)."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
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
        """Validate and store ``spec`` for the function. What the registry fills in (and
        the API shows): a Redis or NATS queue trigger's consumer ``group`` is the
        function's id unless one is given, so every function on a queue sees every
        message (a shared ``group`` splits them); a stream or event trigger's ``name``
        (its durable subscription) is the trigger's id unless one is given."""
        normal = validate_trigger(spec)
        trigger_id = "trg-" + uuid.uuid4().hex[:12]
        if normal["type"] == "queue" and normal["broker"] != "sqlite" and "group" not in spec:
            normal["group"] = function_id
        if normal["type"] in ("stream", "event") and normal["name"] is None:
            normal["name"] = trigger_id
        self.refresh_if_changed()
        with self._lock:
            if normal["type"] == "http":
                for other in self._cache:
                    if other.type == "http" and routes_overlap(other.spec, normal):
                        raise ConflictError(
                            f"trigger.path: {normal['method']} {normal['path']} conflicts with "
                            f"trigger {other.id} ({other.spec['method']} {other.spec['path']})"
                        )
            trigger = Trigger(trigger_id, function_id, normal["type"], normal, self._clock())
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
