"""invoke_awaitable: the event loop waits on a warm worker itself; else a thread does."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest
import uvloop

from constellation.serverless import InvocationResult, ServerlessService

from .._support import wait_until
from .conftest import HANDLERS

RUNNERS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]


@pytest.mark.parametrize("run", RUNNERS)
def test_warm_call_on_the_loop_and_cold_call_on_a_thread(sls: ServerlessService, run: Any) -> None:
    f = sls.create_function("awaited", "python", "echo", HANDLERS)

    async def calls() -> list[InvocationResult]:
        cold = await sls.invoke_awaitable(f.id, {"n": 1})
        warm = await asyncio.gather(*(sls.invoke_awaitable(f.id, {"n": k}) for k in range(5)))
        return [cold, *warm]

    results = run(calls())
    assert all(r.ok for r in results)
    assert results[0].cold_start and not results[1].cold_start
    assert [r.output["event"]["n"] for r in results] == [1, 0, 1, 2, 3, 4]
    assert sls.get_function_metrics(f.id).total_invocations == 6


@pytest.mark.parametrize("run", RUNNERS)
def test_many_concurrent_calls_each_get_their_own_reply(sls: ServerlessService, run: Any) -> None:
    f = sls.create_function("crowd", "python", "echo", HANDLERS, concurrency=3)
    sls.invoke_sync(f.id, 0)

    async def calls() -> list[InvocationResult]:
        return await asyncio.gather(*(sls.invoke_awaitable(f.id, {"n": n}) for n in range(300)))

    results = run(calls())
    assert [r.status for r in results] == ["success"] * 300
    assert [r.output["event"]["n"] for r in results] == list(range(300))


@pytest.mark.parametrize("run", RUNNERS)
def test_timeout_and_crash_on_the_loop_path(sls: ServerlessService, run: Any) -> None:
    slow = sls.create_function("slow-await", "python", "sleep", HANDLERS, timeout_s=1)
    crash = sls.create_function("crash-await", "python", "segfault", HANDLERS)
    sls.invoke_sync(slow.id, {"seconds": 0})  # warm: the next call takes the loop path
    sls.prewarm_function(crash.id, instances=1)

    async def calls() -> tuple[InvocationResult, InvocationResult, InvocationResult]:
        timed_out = await sls.invoke_awaitable(slow.id, {"seconds": 5})
        crashed = await sls.invoke_awaitable(crash.id, None)
        after = await sls.invoke_awaitable(slow.id, {"seconds": 0})
        return timed_out, crashed, after

    timed_out, crashed, after = run(calls())
    assert timed_out.status == "timeout" and timed_out.error == "timed out after 1000 ms"
    assert crashed.status == "crashed" and "SIGSEGV" in str(crashed.error)
    assert after.ok and after.cold_start


@pytest.mark.parametrize("run", RUNNERS)
def test_calls_over_the_limit_wait_on_the_loop_for_a_released_instance(
    sls: ServerlessService, run: Any
) -> None:
    f = sls.create_function("queue", "python", "sleep", HANDLERS, concurrency=1)
    first = sls.invoke_sync(f.id, {"seconds": 0})
    pool = sls.pools()[0]

    async def calls() -> tuple[list[InvocationResult], int]:
        # The first holds the one instance long enough for the other three to queue.
        tasks = [
            asyncio.ensure_future(sls.invoke_awaitable(f.id, {"seconds": seconds}))
            for seconds in (1.0, 0.05, 0.05, 0.05)
        ]
        # Three wait for the one instance, on the loop (a thread watches, the loop runs on).
        await asyncio.to_thread(
            wait_until, lambda: len(pool._loop_waiters) >= 3, what="three waiters on the loop"
        )
        queued = len(pool._loop_waiters)
        return list(await asyncio.gather(*tasks)), queued

    results, queued = run(calls())
    assert queued == 3
    assert [r.status for r in results] == ["success"] * 4
    assert {r.instance_id for r in results} == {first.instance_id}  # handed on, not restarted
    assert pool.counts().idle == 1 and pool.counts().busy == 0


@pytest.mark.parametrize("run", RUNNERS)
def test_a_wait_past_the_timeout_is_throttled_and_a_cancelled_wait_loses_nothing(
    sls: ServerlessService, run: Any
) -> None:
    # timeout_s bounds the holder's 0.6 s call: generous, the wait under test has its own 200 ms.
    f = sls.create_function("busy", "python", "sleep", HANDLERS, concurrency=1, timeout_s=30)
    sls.invoke_sync(f.id, {"seconds": 0})
    pool = sls.pools()[0]

    async def calls() -> tuple[InvocationResult, InvocationResult, InvocationResult]:
        holder = asyncio.ensure_future(sls.invoke_awaitable(f.id, {"seconds": 0.6}))
        await asyncio.to_thread(
            wait_until, lambda: pool.counts().busy == 1, what="the holder on the instance"
        )
        throttled = await sls.invoke_awaitable(f.id, {"seconds": 0}, timeout=200)
        gave_up = asyncio.ensure_future(sls.invoke_awaitable(f.id, {"seconds": 0}))
        # Waiting: the throttled call's spent future may still be in the queue, not counted.
        await asyncio.to_thread(
            wait_until,
            lambda: sum(not future.done() for _, future in pool._loop_waiters) == 1,
            what="the waiter on the loop",
        )
        gave_up.cancel()  # a client that went away while waiting
        held = await holder
        after = await sls.invoke_awaitable(f.id, {"seconds": 0})
        return throttled, held, after

    throttled, held, after = run(calls())
    assert throttled.status == "throttled"
    assert throttled.error is not None and "concurrency limit (1)" in throttled.error
    assert held.status == "success" and after.status == "success"
    counts = pool.counts()
    assert (counts.idle, counts.busy) == (1, 0)  # the instance came back after the cancel


class _LoopThread:
    """An event loop running in its own thread, as the HTTP server's is."""

    def __init__(self, new_loop: Any) -> None:
        self.loop = new_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


LOOPS = [
    pytest.param(asyncio.new_event_loop, id="asyncio"),
    pytest.param(uvloop.new_event_loop, id="uvloop"),
]


@pytest.mark.local_only
@pytest.mark.parametrize("new_loop", LOOPS)
def test_an_instance_serves_a_running_loop_and_threads_in_turn(
    sls: ServerlessService, new_loop: Any
) -> None:
    f = sls.create_function("turns", "python", "echo", HANDLERS, concurrency=1)
    first = sls.invoke_sync(f.id, {"n": 0})
    server = _LoopThread(new_loop)
    try:
        results = []
        for n in range(1, 7):  # loop, thread, loop, thread...: one instance, both ways
            if n % 2:
                results.append(server.call(sls.invoke_awaitable(f.id, {"n": n})))
            else:
                results.append(sls.invoke_sync(f.id, {"n": n}))
        # A thread's call on an instance the loop watches, with a long wait on the thread.
        slow = sls.create_function("slow-turns", "python", "sleep", HANDLERS, concurrency=1)
        sls.invoke_sync(slow.id, {"seconds": 0})
        assert server.call(sls.invoke_awaitable(slow.id, {"seconds": 0})).ok
        assert sls.invoke_sync(slow.id, {"seconds": 0.3}).ok
        assert server.call(sls.invoke_awaitable(slow.id, {"seconds": 0})).ok
    finally:
        server.close()
    assert [r.status for r in results] == ["success"] * 6
    assert [r.output["event"]["n"] for r in results] == [1, 2, 3, 4, 5, 6]
    assert {r.instance_id for r in results} == {first.instance_id}


@pytest.mark.local_only
@pytest.mark.parametrize("new_loop", LOOPS)
def test_closing_an_instance_a_running_loop_watches_ends_its_worker(
    sls: ServerlessService, new_loop: Any
) -> None:
    f = sls.create_function("watched", "python", "echo", HANDLERS)
    server = _LoopThread(new_loop)
    try:
        sls.invoke_sync(f.id, {"n": 0})
        assert server.call(sls.invoke_awaitable(f.id, {"n": 1})).ok  # now the loop watches it
        (pid,) = [i.pid for i in sls.list_instances("watched")]
        sls.delete_function(f.id)  # closes the instance from this thread
        wait_until(lambda: not _alive(pid), what=f"worker {pid} to exit")
        assert not _alive(pid)  # its socket was closed: the worker saw EOF and exited
        # The loop goes on serving other instances (no stale watch on a reused descriptor).
        g = sls.create_function("after", "python", "echo", HANDLERS)
        sls.invoke_sync(g.id, {"n": 2})
        assert server.call(sls.invoke_awaitable(g.id, {"n": 3})).output["event"] == {"n": 3}
    finally:
        server.close()


@pytest.mark.local_only
def test_a_second_loop_is_served_while_the_first_still_watches(sls: ServerlessService) -> None:
    f = sls.create_function("two-loops", "python", "echo", HANDLERS, concurrency=1)
    sls.invoke_sync(f.id, {"n": 0})
    first, second = _LoopThread(uvloop.new_event_loop), _LoopThread(asyncio.new_event_loop)
    try:
        outputs = [
            loop.call(sls.invoke_awaitable(f.id, {"n": n})).output["event"]["n"]
            for n, loop in enumerate([first, second, second, first, second], 1)
        ]
    finally:
        first.close()
        second.close()
    assert outputs == [1, 2, 3, 4, 5]


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: ask the kernel whether it exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not _zombie(pid)
    return waited == 0


def _zombie(pid: int) -> bool:
    """Exited but not reaped, or gone altogether (reaped since the caller looked)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # ProcessLookupError: gone mid-read
        return True
