"""Library mode equals server mode: a script gets the loops and wiring ``serve`` starts.

A platform used as a library (the module-level API's default platform, or an explicit
``Constellation(home)``) gets the autoscaler with the forecaster, the default anomaly
detectors and one anomaly registry on first use, without ``start()``; the default
platform is closed at interpreter exit. ``background=False`` (the CLI) starts nothing.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from constellation import anomaly, serverless
from constellation.platform import (
    Constellation,
    current_default_platform,
    default_platform,
    reset_default_platform,
)

HANDLERS = str(Path(__file__).resolve().parent / "fixtures" / "serverless" / "handlers.py")

PERIOD = 60  # minutes per cycle of demand
BURST = 10  # the last minutes of each cycle: 8 invocations in flight instead of 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _in_flight(minute: int) -> int:
    return 8 if minute % PERIOD >= PERIOD - BURST else 1


@pytest.fixture
def fresh_default(tmp_home: Path) -> Iterator[Path]:
    """No default platform before the test; the one it made is closed after."""
    reset_default_platform()
    yield tmp_home
    reset_default_platform()


@pytest.mark.parametrize("predictive", [True, False])
def test_a_script_scales_ahead_of_a_forecast_peak_only_with_predictive_scaling(
    tmp_path: Path, predictive: bool
) -> None:
    clock = Clock()
    # A platform as default_platform() makes it (background loops on, no start()),
    # with a clock the test moves.
    with Constellation(tmp_path / "home", clock=clock) as platform:
        sls = platform.serverless
        sls.autoscaler.close()  # its loop ends at once: the test ticks it at its own times
        # The seed's serverless example, as a plain script would write it.
        func = sls.create_function("process-order", "python", "noop", HANDLERS)
        sls.set_scaling_policy(
            func.id,
            {
                "min_instances": 0,
                "max_instances": 50,
                "target_concurrency": 100,
                "enable_predictive_scaling": predictive,
            },
        )
        sls.deploy_function(func.id)
        [pool] = sls.pools()
        pool.fill = lambda *args, **kwargs: None  # type: ignore[method-assign]  # targets only
        # Five cycles of demand, then the minutes up to the sixth burst; in each minute
        # the load changes at its middle and the autoscaler ticks at its end.
        in_flight = 0
        decisions: dict[int, Any] = {}
        for minute in range(6 * PERIOD):
            clock.now += 30
            pool.meter.change(_in_flight(minute) - in_flight, clock.now)
            in_flight = _in_flight(minute)
            clock.now += 30
            decisions[minute] = sls.autoscaler.tick(clock.now)[func.id]
        before_peak = decisions[6 * PERIOD - BURST - 1]  # the minute before the last burst
        assert before_peak.reactive == 1  # one in flight now
        if predictive:
            assert before_peak.predicted == 8 and before_peak.desired == 8
            assert before_peak.reason.startswith("predictive")
            assert pool.autoscale_target == 8
        else:
            assert before_peak.predicted is None and before_peak.desired == 1
        during_peak = decisions[6 * PERIOD - BURST]
        assert during_peak.desired == 8  # the reactive count catches up either way


def test_an_explicit_platform_gets_the_forecaster_and_default_detectors(tmp_path: Path) -> None:
    with Constellation(tmp_path / "home") as platform:
        sls = platform.serverless
        assert sls.autoscaler.forecaster == platform.forecast_concurrency
        f = sls.create_function("steady", "python", "noop", HANDLERS)
        for _ in range(3):
            sls.invoke_sync(f.id)
        platform.flush_metrics()
        metrics = {d.metric for d in platform.anomaly.detectors()}
        assert 'function_duration_ms{function="steady"}' in metrics
        assert 'function_error_rate{function="steady"}' in metrics


LOOPS = {"autoscaler", "telemetry-deferred", "anomaly-baselines", "control"}


def test_the_read_only_platform_starts_none_of_the_loops(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with Constellation(tmp_path / "home", background=False) as platform:
        sls = platform.serverless
        sls.create_function("quiet", "python", "noop", HANDLERS)
        assert [f.name for f in sls.list_functions()] == ["quiet"]
        assert not sls.is_running()
        started = {t.name for t in set(threading.enumerate()) - before}
        assert started & LOOPS == set(), started


def test_the_module_level_anomaly_api_sees_the_default_platforms_anomalies(
    fresh_default: Path,
) -> None:
    assert current_default_platform() is None
    assert not anomaly.is_running() and not serverless.is_running()  # and makes nothing
    assert current_default_platform() is None
    f = serverless.create_function("fragile", "python", "always_fail", HANDLERS)
    platform = current_default_platform()
    assert platform is not None and platform.settings.home == fresh_default
    assert platform.serverless.autoscaler.forecaster == platform.forecast_concurrency
    for _ in range(5):
        serverless.invoke_sync(f.id)
    assert serverless.is_running()
    platform.flush_metrics()
    assert anomaly.get_registry() is platform.anomaly
    [found] = anomaly.get_active()
    assert found.metric_name == 'function_error_rate{function="fragile"}'
    assert anomaly.get_stats()["anomalies_detected"] >= 1
    serverless.shutdown()
    assert not serverless.is_running()


def test_an_installed_registry_overrides_the_default_platforms(fresh_default: Path) -> None:
    mine = anomaly.AnomalyRegistry()
    assert anomaly.set_registry(mine) is None
    try:
        assert anomaly.get_registry() is mine
        assert current_default_platform() is None  # nothing made to answer
    finally:
        assert anomaly.set_registry(None) is mine
        mine.shutdown()


def test_a_started_platform_is_the_default_when_none_is_open(fresh_default: Path) -> None:
    with Constellation(fresh_default) as platform:
        platform.start()
        assert current_default_platform() is platform
        assert default_platform() is platform
        assert anomaly.get_registry() is platform.anomaly
    assert current_default_platform() is None


SCRIPT = f"""
from constellation import serverless
f = serverless.create_function("exit-test", "python", "noop", {HANDLERS!r})
print(serverless.invoke_sync(f.id).status)
# no shutdown: the default platform is closed at interpreter exit
"""


def test_the_default_platform_is_closed_at_interpreter_exit(fresh_default: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "success"
    with Constellation(fresh_default, background=False) as again:  # the ledger was flushed
        [f] = again.serverless.list_functions()
        assert again.serverless.get_function_metrics(f.id).total_invocations == 1
        assert again.list_instances() == []


def test_the_platform_modules_public_names() -> None:
    import constellation.platform

    assert constellation.platform.__all__ == [
        "Constellation",
        "current_default_platform",
        "default_platform",
        "reset_default_platform",
    ]
