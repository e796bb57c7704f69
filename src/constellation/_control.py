"""Cross-process control: what a running platform shows to, and takes from, the CLI.

A platform started with ``constellation run`` writes its instance list to SQLite every
second and carries out the restart requests that other processes (the CLI) leave there.
Rows of a platform process that is gone are ignored and cleaned up.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._proc import pid_alive
from .store import Store

__all__ = ["ControlTables"]


class ControlTables:
    def __init__(self, store: Store) -> None:
        self._store = store

    def publish(self, rows: list[dict[str, Any]]) -> None:
        """Replace this process's published instance list."""
        me, now = os.getpid(), time.time()
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM platform_instances WHERE owner_pid = ?", (me,))
            conn.executemany(
                "INSERT OR REPLACE INTO platform_instances VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r["id"],
                        me,
                        r["kind"],
                        r["owner"],
                        r["status"],
                        r["pid"],
                        r["uptime_s"],
                        r["restarts"],
                        now,
                    )
                    for r in rows
                ],
            )

    def withdraw(self) -> None:
        self._store.execute("DELETE FROM platform_instances WHERE owner_pid = ?", (os.getpid(),))

    def published(self) -> list[dict[str, Any]]:
        """Instances published by live platform processes."""
        rows = [
            dict(r)
            for r in self._store.query("SELECT * FROM platform_instances ORDER BY kind, owner, id")
        ]
        dead = {r["owner_pid"] for r in rows if not pid_alive(r["owner_pid"])}
        for pid in dead:
            self._store.execute("DELETE FROM platform_instances WHERE owner_pid = ?", (pid,))
        return [r for r in rows if r["owner_pid"] not in dead]

    def request(self, action: str, target: str) -> int:
        self._store.execute(
            "INSERT INTO platform_requests (action, target, created_at) VALUES (?,?,?)",
            (action, target, time.time()),
        )
        row = self._store.query_one("SELECT last_insert_rowid()")
        return int(row[0]) if row else 0

    def pending(self) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self._store.query("SELECT * FROM platform_requests WHERE state = 'pending'")
        ]

    def answer(self, request_id: int, answer: str) -> None:
        self._store.execute(
            "UPDATE platform_requests SET state = 'done', answer = ? WHERE id = ?",
            (answer, request_id),
        )

    def wait_answer(self, request_id: int, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self._store.query_one(
                "SELECT state, answer FROM platform_requests WHERE id = ?", (request_id,)
            )
            if row and row["state"] == "done":
                return str(row["answer"])
            time.sleep(0.05)
        return None
