"""Asynchronous invocations: durable acceptance, retries, dead letters, crash recovery."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from constellation.serverless import Invocation, ServerlessService

from .._support import wait_until
from .conftest import HANDLERS, make_platform


def _wait_for(sls: ServerlessService, request_id: str, states: tuple[str, ...]) -> Invocation:
    """The invocation once it is in one of ``states`` (fails the test if it never is)."""

    def reached() -> Invocation | None:
        invocation = sls.get_invocation(request_id)
        return invocation if invocation.state in states else None

    return wait_until(reached, what=f"invocation {request_id} in {states}")


def test_async_invocation_is_committed_before_its_id_is_returned(sls: ServerlessService) -> None:
    f = sls.create_function("later", "python", "echo", HANDLERS)
    request_id = sls.invoke_async(f.id, {"x": 1})
    with sqlite3.connect(sls.settings.db_path) as other:
        row = other.execute(
            "SELECT function_id FROM async_invocations WHERE request_id = ?", (request_id,)
        ).fetchone()
    assert row == (f.id,)
    done = _wait_for(sls, request_id, ("succeeded",))
    assert done.state == "succeeded" and done.attempts == 1
    assert done.result is not None and done.result.output["request_id"] == request_id


def test_failures_are_retried_with_the_same_request_id(sls: ServerlessService) -> None:
    f = sls.create_function("flaky", "python", "flaky", HANDLERS)
    request_id = sls.invoke_async(f.id, {})
    done = _wait_for(sls, request_id, ("succeeded", "dead"))
    assert done.state == "succeeded" and done.attempts == 3
    assert done.result is not None and done.result.output == {
        "attempt": 3,
        "request_id": request_id,
    }


def test_exhausted_retries_go_to_the_dead_letter_list_and_can_be_redriven(
    sls: ServerlessService,
) -> None:
    f = sls.create_function("hopeless", "python", "always_fail", HANDLERS)
    request_id = sls.invoke_async(f.id, {"order": 1})
    dead = _wait_for(sls, request_id, ("dead",))
    assert dead.state == "dead" and dead.attempts == 3 and dead.max_attempts == 3
    assert dead.error == "RuntimeError: never works"
    assert [d.request_id for d in sls.list_dead_letters("hopeless")] == [request_id]
    assert sls.get_serverless_stats().dead_letters == 1
    again = sls.redrive(request_id)
    assert again.state == "queued"
    assert _wait_for(sls, request_id, ("dead",)).attempts == 6


class _ClaimedAtOnce:
    """The queue's condition, whose notify lets a dispatcher claim the invocation first."""

    def __init__(self, cond: Any, claim: Any) -> None:
        self._cond, self._claim = cond, claim

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cond, name)

    def __enter__(self) -> Any:
        return self._cond.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self._cond.__exit__(*exc)

    def notify(self, n: int = 1) -> None:
        self._claim()
        self._cond.notify(n)


def test_redrive_returns_the_invocation_as_it_queued_it(
    sls: ServerlessService, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = sls.create_function("hopeless2", "python", "always_fail", HANDLERS)
    request_id = sls.invoke_async(f.id, {})
    _wait_for(sls, request_id, ("dead",))
    queue = sls.async_queue

    def claim() -> None:  # a dispatcher that wins the race with redrive's return
        queue._store.execute(
            "UPDATE async_invocations SET state = 'running' WHERE request_id = ?", (request_id,)
        )

    monkeypatch.setattr(queue, "_cond", _ClaimedAtOnce(queue._cond, claim))
    again = sls.redrive(request_id)
    assert (again.state, again.max_attempts) == ("queued", 6)


def test_max_retries_zero_dead_letters_at_once(sls: ServerlessService) -> None:
    f = sls.create_function("once", "python", "always_fail", HANDLERS)
    request_id = sls.invoke_async(f.id, None, max_retries=0)
    assert _wait_for(sls, request_id, ("dead",)).attempts == 1


_CRASHING_PLATFORM = """
import sys, time
from constellation.platform import Constellation
p = Constellation(sys.argv[1], async_retry_base_s=0.05)
f = p.serverless.create_function("survivor", "python", "sleep", sys.argv[2])
rid = p.serverless.invoke_async(f.id, {"seconds": 2})
print(rid, flush=True)
time.sleep(60)
"""


def test_accepted_invocation_survives_a_platform_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CRASHING_PLATFORM), str(home), HANDLERS],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        request_id = proc.stdout.readline().strip()
        db = home / "constellation.db"

        def state() -> tuple[str, ...] | None:
            with sqlite3.connect(db) as conn:
                return conn.execute(
                    "SELECT state FROM async_invocations WHERE request_id = ?", (request_id,)
                ).fetchone()

        # Wait until the dead-to-be platform is running it.
        wait_until(lambda: state() == ("running",), what="the invocation running")
        assert state() == ("running",)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    with make_platform(home) as platform:
        sls = platform.serverless
        sls.init()
        done = _wait_for(sls, request_id, ("succeeded", "dead"))
        assert done.state == "succeeded"
        assert done.attempts == 2  # the crashed attempt counts
        assert done.result is not None and done.result.output["slept"] == 2


def test_sync_invocations_can_be_looked_up_by_request_id(sls: ServerlessService) -> None:
    f = sls.create_function("lookup", "python", "fail", HANDLERS)
    result = sls.invoke_sync(f.id, 1)
    found = sls.get_invocation(result.request_id)
    assert (found.state, found.function_id, found.error) == (
        "failed",
        f.id,
        "ValueError: bad order 1",
    )
