"""SQLite persistence shared by every part of the platform.

One file in WAL mode under ``$CONSTELLATION_HOME``. Its tables are defined in one
place, :mod:`constellation.schema`, and brought up to date when the store is opened
(``PRAGMA user_version`` and ordered migrations).
One connection is shared by the platform's threads behind a lock: SQLite serialises
writers anyway, and the hot paths (the invocation ledger) batch their writes.
Several processes (the server and a CLI) may open the same file; WAL lets readers and
one writer proceed together, and ``busy_timeout`` makes a writer wait its turn.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ClosedError
from .schema import migrate

__all__ = ["Store"]


class Store:
    """A thread-safe SQLite connection to a store at the current schema version.
    ``close()`` is idempotent."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=30000")
        if str(path) != ":memory:":
            self.path.chmod(0o600)
        try:
            self.schema_version = migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ClosedError(f"store {self.path} is closed")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement in its own transaction; returns the rows changed."""
        with self._lock:
            return self._connection().execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.transaction() as conn:
            conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def query_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._connection().execute(sql, params).fetchone()
            return row

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
