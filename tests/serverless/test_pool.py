"""Instances: concurrency limit and throttling, warm pool, cold-start optimisation, scale to zero."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from constellation.serverless import InvocationResult, ServerlessService

from .._support import FakeClock
from .conftest import HANDLERS, make_platform


def _parallel(
    sls: ServerlessService, fid: str, events: list[object], timeout: int | None = None
) -> list[InvocationResult]:
    results: list[InvocationResult] = []
    lock = threading.Lock()

    def run(event: object) -> None:
        r = sls.invoke_sync(fid, event, timeout)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=run, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_invocation_per_instance_up_to_the_concurrency_limit(sls: ServerlessService) -> None:
    f = sls.create_function("limited", "python", "sleep", HANDLERS, concurrency=2)
    results = _parallel(sls, f.id, [{"seconds": 0.3}] * 4)
    assert all(r.ok for r in results)
    assert len({r.output["pid"] for r in results}) == 2  # never more than 2 instances
    assert sls.get_function_metrics(f.id).instances == 2


def test_over_the_limit_waits_then_is_throttled(sls: ServerlessService) -> None:
    f = sls.create_function("narrow", "python", "sleep", HANDLERS, concurrency=1)
    sls.invoke_sync(f.id, {"seconds": 0})  # warm
    long_call = threading.Thread(target=sls.invoke_sync, args=(f.id, {"seconds": 1.5}))
    long_call.start()
    while [i.status for i in sls.list_instances("narrow")] != ["busy"]:
        threading.Event().wait(0.01)
    throttled = sls.invoke_sync(f.id, {"seconds": 0}, timeout=300)
    long_call.join()
    assert throttled.status == "throttled"
    assert "concurrency limit (1)" in str(throttled.error) and "300 ms" in str(throttled.error)
    metrics = sls.get_function_metrics(f.id)
    assert (metrics.throttles, metrics.successful_invocations, metrics.total_invocations) == (
        1,
        2,
        2,
    )


def test_waiting_invocation_gets_the_freed_instance(sls: ServerlessService) -> None:
    f = sls.create_function("queueing", "python", "sleep", HANDLERS, concurrency=1)
    results = _parallel(sls, f.id, [{"seconds": 0.2}] * 3, timeout=10_000)
    assert [r.status for r in results] == ["success"] * 3
    assert len({r.instance_id for r in results}) == 1


def test_prewarm_keeps_idle_instances_ready(sls: ServerlessService) -> None:
    f = sls.create_function("warm", "python", "count", HANDLERS)
    sls.deploy_function(f.id)
    sls.prewarm_function(f.id, instances=2)
    assert [i.status for i in sls.list_instances("warm")] == ["idle", "idle"]
    result = sls.invoke_sync(f.id)
    assert not result.cold_start


# Function zygotes are the local backend's mechanism; on Ray an actor is the unit of start-up.
@pytest.mark.local_only
def test_cold_start_optimisation_forks_from_a_zygote_with_the_module_loaded(
    sls: ServerlessService,
) -> None:
    f = sls.create_function("fast", "python", "count", HANDLERS)
    sls.deploy_function(f.id)
    sls.enable_cold_start_optimization(f.id)
    first = sls.invoke_sync(f.id)
    sls.restart_instance(first.instance_id)
    second = sls.invoke_sync(f.id)
    # Both instances were forked from the same function zygote: the module-level
    # LOADED_AT was set once, in the zygote, before either fork.
    assert first.output["loaded_at"] == second.output["loaded_at"]
    assert first.output["pid"] != second.output["pid"]
    assert first.cold_start


def test_without_optimisation_each_instance_imports_the_module(sls: ServerlessService) -> None:
    f = sls.create_function("plain", "python", "count", HANDLERS)
    first = sls.invoke_sync(f.id)
    sls.restart_instance(first.instance_id)
    second = sls.invoke_sync(f.id)
    assert first.output["loaded_at"] != second.output["loaded_at"]


def test_idle_instances_scale_to_zero_after_the_idle_period(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_platform(tmp_path / "home", clock) as platform:
        sls = platform.serverless
        sls.autoscaler.close()  # reaped by hand: no real-time tick's target in between
        f = sls.create_function("sleepy", "python", "noop", HANDLERS)
        sls.invoke_sync(f.id)
        assert len(sls.list_instances("sleepy")) == 1
        clock.advance(299)
        assert sls.reap_idle() == 0
        clock.advance(2)
        assert sls.reap_idle() == 1
        assert sls.list_instances("sleepy") == []
        assert sls.invoke_sync(f.id).cold_start


def test_idle_period_and_minimum_come_from_the_scaling_policy(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_platform(tmp_path / "home", clock) as platform:
        sls = platform.serverless
        f = sls.create_function(
            "kept",
            "python",
            "sleep",
            HANDLERS,
            scaling_policy={"min_instances": 1, "idle_timeout_s": 10},
        )
        # The autoscaler ticks on real time: a tick during the calls below would (rightly)
        # keep the instances it saw busy; this test is about the policy's own floor.
        sls.autoscaler.close()
        sls.deploy_function(f.id)
        assert len(sls.list_instances("kept")) == 1
        # Three calls that overlap in time need three instances.
        _parallel(sls, f.id, [{"seconds": 0.5}] * 3)
        assert len(sls.list_instances("kept")) == 3
        clock.advance(11)
        sls.reap_idle()
        assert len(sls.list_instances("kept")) == 1


def test_changing_memory_replaces_warm_instances(sls: ServerlessService) -> None:
    f = sls.create_function("resized", "python", "echo", HANDLERS)
    before = sls.invoke_sync(f.id, 1)
    sls.set_memory(f.id, 512)
    after = sls.invoke_sync(f.id, 2)
    assert after.cold_start and after.instance_id != before.instance_id
    assert after.output["memory"] == 512


def test_restart_instance_gives_a_new_process(platform: object) -> None:
    from constellation.platform import Constellation

    assert isinstance(platform, Constellation)
    sls = platform.serverless
    f = sls.create_function("restartable", "python", "count", HANDLERS)
    first = sls.invoke_sync(f.id)
    assert first.instance_id is not None
    platform.restart_instance(first.instance_id)
    second = sls.invoke_sync(f.id)
    assert second.output["pid"] != first.output["pid"]
    assert second.output["calls"] == 1


class _SlowInstance:
    """Just what the pool reads of an instance."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.closed = False
        self.idle_since = 0.0
        self.init_ms = 0.0

    def close(self) -> None:
        self.closed = True


@pytest.mark.local_only
def test_a_fill_waits_for_a_start_another_thread_began(sls: ServerlessService) -> None:
    """prewarm_function must not return while the autoscaler's fill is still starting
    the instance prewarm's own fill then counted as already there (a race seen on Ray)."""
    from constellation.serverless._pool import FunctionPool

    info = sls.create_function("racy", "python", "count", HANDLERS)
    release = threading.Event()

    def launch(_info: object, generation: int) -> _SlowInstance:
        release.wait(30.0)
        return _SlowInstance(generation)

    pool = FunctionPool(info, launch)  # type: ignore[arg-type]
    autoscaler = threading.Thread(target=pool.fill, args=(1,))
    autoscaler.start()
    while pool.counts().starting == 0:
        release.wait(0.01)
    assert pool.fill(1) == 0  # counted as under way: this fill starts nothing itself
    waiter = threading.Thread(target=pool.wait_started)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # still starting: it waits
    release.set()
    waiter.join(10.0)
    autoscaler.join(10.0)
    assert not waiter.is_alive()
    assert pool.counts().idle == 1 and pool.counts().starting == 0
