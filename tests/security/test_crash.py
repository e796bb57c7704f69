"""The crash suite: the platform is SIGKILLed under async load and under queue load (its
functions sandboxed), then restarted: no accepted invocation or message is lost, only
those in flight at the kill run twice, and no process of the dead platform's functions
is left."""

from __future__ import annotations

import collections
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from constellation.store import Store
from constellation.triggers import publish

from .._support import wait_until
from ..serverless.conftest import HANDLERS, make_platform
from .conftest import HOSTILE, sandboxed

LOAD = 60
WORKERS = 4

_LOADED_PLATFORM = f"""
import sys, time
from constellation.platform import Constellation
p = Constellation(sys.argv[1], async_retry_base_s=0.05, async_workers={WORKERS})
f = p.serverless.create_function("steady", "python", "sleep", sys.argv[2])
for n in range({LOAD}):
    print(p.serverless.invoke_async(f.id, {{"seconds": 0.05}}), flush=True)
time.sleep(120)
"""


def _states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT state, COUNT(*) FROM async_invocations GROUP BY state")
        return dict(rows.fetchall())


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children = {int(c) for c in f.read().split()}
        except OSError:
            continue
        found |= children
        for child in children:
            found |= _descendants(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if os.path.exists(f"/proc/{p}") and not _zombie(p)}


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@sandboxed
def test_sigkill_under_async_load_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_LOADED_PLATFORM), str(home), HANDLERS],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        accepted = [proc.stdout.readline().strip() for _ in range(LOAD)]
        db = home / "constellation.db"
        # Killed mid-way: some done, some running, the rest still queued.
        wait_until(lambda: _states(db).get("succeeded", 0) >= LOAD // 4, what="a quarter done")
        sandboxes = _descendants(proc.pid)  # bwrap, zygotes, workers
        assert sandboxes
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        at_kill = _states(db)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert at_kill.get("succeeded", 0) < LOAD, at_kill
    # The dead platform's sandboxes ended with it (their zygotes saw EOF).
    wait_until(lambda: not _alive(sandboxes), what="no process of its functions left")
    with make_platform(home) as platform:
        sls = platform.serverless
        sls.init()
        wait_until(lambda: _states(db).get("succeeded", 0) == LOAD, what="all succeeded")
        attempts = [sls.get_invocation(rid).attempts for rid in accepted]
    lost = LOAD - _states(db).get("succeeded", 0)
    duplicated = sum(1 for a in attempts if a > 1)
    assert lost == 0
    assert duplicated <= at_kill.get("running", 0) <= WORKERS, (duplicated, at_kill)


class _Tally:
    """A TCP listener counting the lines that handlers send (one message id each)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.seen: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
            with self._lock:
                self.seen.update(line for line in data.decode().split("\n") if line)

    def counts(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.seen)

    def close(self) -> None:
        self.server.close()


_QUEUE_PLATFORM = """
import sys, time
from constellation.platform import Constellation
p = Constellation(sys.argv[1], ledger_flush_interval_s=0.05)
s = p.serverless
f = s.create_function("consume", "python", "report_to", sys.argv[2], env={"REPORT_PORT": sys.argv[3]})
s.add_trigger(f.id, {"type": "queue", "broker": "sqlite", "queue": "jobs"})
s.deploy_function(f.id)
p.start()
print("ready", flush=True)
time.sleep(120)
"""


@sandboxed
def test_sigkill_under_queue_load_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tally = _Tally()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_QUEUE_PLATFORM),
            str(home),
            HOSTILE,
            str(tally.port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        with Store(home / "constellation.db") as store:
            ids = [publish("jobs", {"n": n}, store=store) for n in range(LOAD)]
        wait_until(lambda: sum(tally.counts().values()) >= LOAD // 4, what="a quarter handled")
        sandboxes = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    with sqlite3.connect(home / "constellation.db") as conn:
        (leased,) = conn.execute(
            "SELECT COUNT(*) FROM trigger_queue WHERE queue = 'jobs' AND deliveries > 0"
        ).fetchone()
    assert sum(tally.counts().values()) < LOAD
    wait_until(lambda: not _alive(sandboxes), what="no process of its functions left")
    with make_platform(home) as platform:
        platform.start()
        wait_until(lambda: set(tally.counts()) >= set(ids), what="every message handled")
    tally.close()
    counts = tally.counts()
    lost = [i for i in ids if counts[i] == 0]
    duplicated = [i for i in ids if counts[i] > 1]
    assert lost == []
    assert len(duplicated) <= leased, (duplicated, leased)
