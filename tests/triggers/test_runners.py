"""RunnerSupervisor: one runner per queue/stream/event trigger, in step with the registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from constellation.store import Store
from constellation.triggers import RunnerSupervisor, TriggerRegistry


class _Runner:
    """What ``start_trigger`` returns: delivers one event from a thread until closed."""

    def __init__(self, spec: dict[str, Any], invoke: Callable[[Any], Any]) -> None:
        self.spec, self.closed = spec, 0
        self.results: list[Any] = []
        self.thread = threading.Thread(target=lambda: self.results.append(invoke({"n": 1})))
        self.thread.start()

    def close(self) -> None:
        self.closed += 1


def _registry(tmp_path: Path) -> TriggerRegistry:
    return TriggerRegistry(Store(tmp_path / "store.db"), time.time)


def test_runners_follow_the_registry_and_invoke_by_function_id(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    started: list[_Runner] = []
    calls: list[tuple[str, Any]] = []

    def start(spec: dict[str, Any], invoke: Callable[[Any], Any]) -> Any:
        runner = _Runner(spec, invoke)
        started.append(runner)
        return runner

    def invoke(function_id: str, event: Any) -> str:
        calls.append((function_id, event))
        return "ok"

    supervisor = RunnerSupervisor(registry, invoke, start)
    registry.add("fn-1", {"type": "http", "path": "/a"})  # not a runner's type
    trigger = registry.add("fn-1", {"type": "queue", "queue": "orders"})
    supervisor.sync()
    assert supervisor.running() == [trigger.id]
    runner = started[0]
    runner.thread.join()
    assert runner.spec["name"] == trigger.id  # a durable name: the trigger's id
    assert calls == [("fn-1", {"n": 1})] and runner.results == ["ok"]
    registry.remove(trigger.id)
    supervisor.sync()
    assert runner.closed == 1 and supervisor.running() == []
    supervisor.close()
    supervisor.close()  # idempotent


def test_a_runner_that_failed_to_start_is_retried(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    started: list[_Runner] = []
    attempts = {"n": 0}

    def flaky_start(spec: dict[str, Any], invoke: Callable[[Any], Any]) -> Any:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ConnectionError("broker down")
        runner = _Runner(spec, invoke)
        started.append(runner)
        return runner

    runners = RunnerSupervisor(registry, lambda fid, event: None, flaky_start)
    trigger = registry.add("fn-1", {"type": "queue", "queue": "orders"})
    runners.sync()
    assert runners.running() == [] and "broker down" in runners.errors[-1]
    assert not runners.retry_due(time.monotonic())
    assert runners.retry_due(time.monotonic() + 11)
    runners.sync()
    assert runners.running() == [trigger.id]
    assert not runners.retry_due(time.monotonic() + 11)
    started[0].thread.join()
    runners.close()
    assert started[0].closed == 1
