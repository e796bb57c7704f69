"""Registered functions, persisted in SQLite and cached in memory for the hot path.

Another process (the CLI beside a running server) may change the same file; the cache
notices through SQLite's ``data_version`` when :meth:`FunctionRegistry.refresh_if_changed`
is called (the platform's housekeeping loop does it every second). Environments are
stored encrypted (``_secrets.py``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..store import Store
from ._models import FunctionInfo, Resources, ScalingPolicy
from ._secrets import EMPTY, PREFIX, SecretBox

__all__ = ["FunctionRegistry"]


_COLUMNS = (
    "id",
    "name",
    "runtime",
    "handler",
    "source",
    "code_hash",
    "entry",
    "memory_mb",
    "timeout_s",
    "concurrency",
    "env",
    "scaling_policy",
    "cold_start_optimization",
    "prewarm_instances",
    "version",
    "status",
    "created_at",
    "updated_at",
    "deployed_at",
    "gas_limit",
    "resources",
    "gpu",
    "network",
)


def _to_row(info: FunctionInfo, box: SecretBox) -> tuple[Any, ...]:
    values = {c: getattr(info, c) for c in _COLUMNS}
    values["env"] = box.seal(info.env)
    values["scaling_policy"] = json.dumps(info.scaling_policy.to_dict())
    values["cold_start_optimization"] = int(info.cold_start_optimization)
    values["resources"] = json.dumps(info.resources.to_dict())
    values["gpu"] = None if info.gpu is None else json.dumps(info.gpu)
    values["network"] = int(info.network)
    return tuple(values[c] for c in _COLUMNS)


def _from_row(row: Any, box: SecretBox) -> FunctionInfo:
    data = {c: row[c] for c in _COLUMNS}
    data["env"] = box.open(data["env"], data["name"])
    data["scaling_policy"] = ScalingPolicy(**json.loads(data["scaling_policy"]))
    data["cold_start_optimization"] = bool(data["cold_start_optimization"])
    data["resources"] = Resources.from_mapping(json.loads(data["resources"] or "{}"))
    data["gpu"] = None if data["gpu"] is None else json.loads(data["gpu"])
    data["network"] = bool(data["network"])
    return FunctionInfo(**data)


class FunctionRegistry:
    def __init__(self, store: Store, box: SecretBox) -> None:
        self._store = store
        self._box = box
        self._lock = threading.Lock()
        self._by_id: dict[str, FunctionInfo] = {}
        self._by_name: dict[str, str] = {}
        self._data_version = -1
        self._seal_clear_text()
        self.reload()

    def _seal_clear_text(self) -> None:
        """Encrypt the environments an older release stored in clear."""
        with self._store.transaction() as conn:
            rows = conn.execute(
                "SELECT id, name, env FROM functions WHERE env NOT LIKE ? AND env != ?",
                (PREFIX + "%", EMPTY),
            ).fetchall()
            for row in rows:
                sealed = self._box.seal(self._box.open(row[2], row[1]))
                conn.execute("UPDATE functions SET env = ? WHERE id = ?", (sealed, row[0]))
        if rows:
            # No copy of the clear text may stay behind in a free page or the log.
            self._store.execute("PRAGMA secure_delete = ON")
            self._store.execute("VACUUM")
            self._store.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def reload(self) -> list[FunctionInfo]:
        """Re-read every function; returns the ones that changed or appeared."""
        rows = self._store.query("SELECT * FROM functions")
        fresh = {row["id"]: _from_row(row, self._box) for row in rows}
        with self._lock:
            changed = [f for fid, f in fresh.items() if self._by_id.get(fid) != f]
            self._by_id = fresh
            self._by_name = {f.name: f.id for f in fresh.values()}
            self._data_version = self._current_data_version()
        return changed

    def _current_data_version(self) -> int:
        row = self._store.query_one("PRAGMA data_version")
        return int(row[0]) if row else 0

    def refresh_if_changed(self) -> list[FunctionInfo]:
        if self._current_data_version() == self._data_version:
            return []
        return self.reload()

    def get(self, key: str) -> FunctionInfo:
        """By id or by name."""
        info = self._by_id.get(key)
        if info is not None:
            return info
        fid = self._by_name.get(key)
        if fid is not None:
            return self._by_id[fid]
        if self.refresh_if_changed():
            return self.get(key)
        raise NotFoundError("function", key)

    def find(self, key: str) -> FunctionInfo | None:
        try:
            return self.get(key)
        except NotFoundError:
            return None

    def list(self) -> list[FunctionInfo]:
        return sorted(self._by_id.values(), key=lambda f: f.name)

    def __len__(self) -> int:
        return len(self._by_id)

    def insert(self, info: FunctionInfo) -> FunctionInfo:
        placeholders = ",".join("?" * len(_COLUMNS))
        with self._lock:
            if self._store.query_one("SELECT 1 FROM functions WHERE name = ?", (info.name,)):
                raise ConflictError(f"name: a function called {info.name!r} already exists")
            self._store.execute(
                f"INSERT INTO functions ({','.join(_COLUMNS)}) VALUES ({placeholders})",
                _to_row(info, self._box),
            )
            self._by_id[info.id] = info
            self._by_name[info.name] = info.id
        return info

    def save(self, info: FunctionInfo) -> FunctionInfo:
        sets = ",".join(f"{c} = ?" for c in _COLUMNS[1:])
        with self._lock:
            row = _to_row(info, self._box)
            if not self._store.execute(
                f"UPDATE functions SET {sets} WHERE id = ?", (*row[1:], info.id)
            ):
                raise NotFoundError("function", info.id)
            self._by_id[info.id] = info
        return info

    def delete(self, function_id: str) -> None:
        with self._lock:
            info = self._by_id.pop(function_id, None)
            if info is not None:
                self._by_name.pop(info.name, None)
            self._store.execute("DELETE FROM functions WHERE id = ?", (function_id,))
