"""Asynchronous invocations: durable, at-least-once, retried, then dead-lettered.

``submit`` commits the invocation to SQLite before it returns the request id, so an
accepted invocation survives a crash or restart of the platform. Dispatcher threads
claim due invocations with a lease (an atomic ``UPDATE ... RETURNING``), run them, and
record the result. A failed attempt is retried after ``async_retry_base_s * 2**(n-1)``
seconds; after the last retry the invocation is *dead* and stays in the dead-letter list
until it is redriven. The request id is the idempotency key the handler sees.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from .._proc import pid_alive
from ..config import Settings
from ..errors import ClosedError, NotFoundError, ValidationError
from ..store import Store
from ._models import Invocation, InvocationResult

__all__ = ["AsyncQueue"]

Runner = Callable[[str, Any, str, int], InvocationResult]


_CLAIM = """
UPDATE async_invocations
SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, updated_at = ?
WHERE request_id = (
    SELECT request_id FROM async_invocations
    WHERE (state = 'queued' AND next_attempt_at <= ?) OR (state = 'running' AND lease_until < ?)
    ORDER BY next_attempt_at LIMIT 1
)
RETURNING request_id, function_id, event, attempts, max_attempts
"""


def _row_to_invocation(row: Any) -> Invocation:
    result = None
    if row["result"]:
        data = json.loads(row["result"])
        result = InvocationResult(**data)
    return Invocation(
        row["request_id"],
        row["function_id"],
        row["function_name"],
        row["state"],
        row["attempts"],
        row["max_attempts"],
        row["created_at"],
        row["updated_at"],
        row["next_attempt_at"],
        result,
        row["error"],
    )


class AsyncQueue:
    def __init__(self, store: Store, settings: Settings, run: Runner, clock: Callable[[], float]):
        self._store = store
        self._settings = settings
        self._run = run
        self._clock = clock
        self._owner = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(
        self, function_id: str, function_name: str, event: Any, max_retries: int | None = None
    ) -> str:
        try:
            payload = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError as exc:
            raise ValidationError("input", f"the event is not JSON-serialisable: {exc}") from None
        retries = self._settings.async_max_retries if max_retries is None else max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise ValidationError("max_retries", f"{retries!r} must be an integer 0-100")
        request_id = str(uuid.uuid4())
        now = self._clock()
        self._store.execute(
            "INSERT INTO async_invocations (request_id, function_id, function_name, event, state, "
            "max_attempts, next_attempt_at, created_at, updated_at) VALUES (?,?,?,?,'queued',?,?,?,?)",
            (request_id, function_id, function_name, payload, retries + 1, now, now, now),
        )
        with self._cond:
            self._cond.notify()
        return request_id

    def start(self) -> None:
        if self._threads:
            return
        self._requeue_orphans()
        for n in range(self._settings.async_workers):
            thread = threading.Thread(target=self._work, name=f"async-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _requeue_orphans(self) -> None:
        """Running invocations whose owning process is gone go back to the queue."""
        rows = self._store.query(
            "SELECT request_id, lease_owner FROM async_invocations WHERE state = 'running'"
        )
        for row in rows:
            pid = int((row["lease_owner"] or "0:").split(":")[0])
            if pid == os.getpid() or not pid_alive(pid):
                self._store.execute(
                    "UPDATE async_invocations SET state = 'queued', next_attempt_at = ? "
                    "WHERE request_id = ? AND state = 'running'",
                    (self._clock(), row["request_id"]),
                )

    def _work(self) -> None:
        while not self._closed:
            try:
                claimed = self.run_due_once()
            except ClosedError:
                return  # shutting down: a claimed invocation is requeued on the next start
            if not claimed:
                with self._cond:
                    if not self._closed:
                        self._cond.wait(self._wait_time())

    def _wait_time(self) -> float:
        row = self._store.query_one(
            "SELECT MIN(next_attempt_at) FROM async_invocations WHERE state = 'queued'"
        )
        due = row[0] if row and row[0] is not None else None
        return 1.0 if due is None else min(1.0, max(0.005, due - self._clock()))

    def run_due_once(self) -> bool:
        """Claim and run one due invocation; False when none was due."""
        now = self._clock()
        lease = now + self._settings.async_lease_s
        with self._store.transaction() as conn:
            row = conn.execute(_CLAIM, (self._owner, lease, now, now, now)).fetchone()
        if row is None:
            return False
        event = orjson.loads(row["event"])
        result = self._run(row["function_id"], event, row["request_id"], row["attempts"])
        self._record(row["request_id"], row["attempts"], row["max_attempts"], result)
        return True

    def _record(
        self, request_id: str, attempts: int, max_attempts: int, result: InvocationResult
    ) -> None:
        now = self._clock()
        payload = orjson.dumps(result.to_dict(), default=repr).decode()
        if result.ok:
            state, next_at = "succeeded", None
        elif attempts < max_attempts:
            state = "queued"
            next_at = now + self._settings.async_retry_base_s * 2 ** (attempts - 1)
        else:
            state, next_at = "dead", None
        self._store.execute(
            "UPDATE async_invocations SET state = ?, next_attempt_at = ?, result = ?, error = ?, "
            "lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE request_id = ?",
            (state, next_at, payload, result.error, now, request_id),
        )

    def get(self, request_id: str) -> Invocation | None:
        row = self._store.query_one(
            "SELECT * FROM async_invocations WHERE request_id = ?", (request_id,)
        )
        return _row_to_invocation(row) if row else None

    def dead_letters(self, function_id: str | None = None) -> list[Invocation]:
        sql = "SELECT * FROM async_invocations WHERE state = 'dead'"
        params: tuple[Any, ...] = ()
        if function_id:
            sql, params = sql + " AND function_id = ?", (function_id,)
        return [
            _row_to_invocation(r) for r in self._store.query(sql + " ORDER BY updated_at", params)
        ]

    def redrive(self, request_id: str) -> Invocation:
        """Queue a dead invocation again, with a fresh set of attempts."""
        now = self._clock()
        # The row as this update left it: a dispatcher may claim it before a read after.
        queued = self._store.query(
            "UPDATE async_invocations SET state = 'queued', max_attempts = attempts + max_attempts, "
            "next_attempt_at = ?, updated_at = ? WHERE request_id = ? AND state = 'dead' "
            "RETURNING *",
            (now, now, request_id),
        )
        if not queued:
            raise NotFoundError("dead-lettered invocation", request_id)
        with self._cond:
            self._cond.notify()
        return _row_to_invocation(queued[0])

    def counts(self) -> dict[str, int]:
        rows = self._store.query("SELECT state, COUNT(*) FROM async_invocations GROUP BY state")
        return {r[0]: r[1] for r in rows}

    def close(self) -> None:
        """Stop the dispatchers after their current invocation. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=30.0)
        self._threads = []
