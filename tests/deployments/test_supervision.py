"""Supervision: restarts with exponential backoff, restart policies, restart_instance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from constellation.config import Settings
from constellation.deployments import DeploymentManager, DeploymentNotFoundError, InstanceInfo
from constellation.errors import NotFoundError
from constellation.telemetry import Telemetry

from .._support import FakeClock, wait_until
from .conftest import pid_alive


def _wait_status(manager: DeploymentManager, name: str, status: str) -> InstanceInfo:
    def check() -> bool:
        manager.poll()
        return manager.list_instances(name)[0].status == status

    wait_until(check)
    return manager.list_instances(name)[0]


def test_crashing_script_restarts_with_growing_backoff(
    make_manager: Callable[..., DeploymentManager],
    clock: FakeClock,
    scripts: Path,
    settings: Settings,
) -> None:
    manager = make_manager(
        settings=settings.replace(restart_backoff_initial_s=1.0, restart_backoff_max_s=4.0),
        clock=clock,
        supervise=False,
    )
    manager.deploy("crashy", script=str(scripts / "crasher.py"))
    delays, restarts, pids = [], [], []
    for _ in range(5):
        info = _wait_status(manager, "crashy", "backoff")
        delays.append(info.next_restart_in_s)
        restarts.append(info.restarts)
        assert info.pid is None and info.last_exit_code == 1
        assert info.last_error == "exited with code 1: ZeroDivisionError: division by zero"
        clock.advance(info.next_restart_in_s - 0.01)
        manager.poll()
        assert manager.list_instances("crashy")[0].status == "backoff"  # not due yet
        clock.advance(0.01)
        manager.poll()
        pids.append(manager.list_instances("crashy")[0].pid)
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert restarts == [0, 1, 2, 3, 4]
    assert manager.list_instances("crashy")[0].restarts == 5
    assert len(set(pids)) == 5


def test_backoff_resets_after_a_stable_run(
    manual: DeploymentManager, clock: FakeClock, scripts: Path
) -> None:
    flag = scripts / "crash-now"
    flag.touch()
    manual.deploy("flaky", script=str(scripts / "flagged.py"))
    first = _wait_status(manual, "flaky", "backoff")
    clock.advance(first.next_restart_in_s)
    manual.poll()
    second = _wait_status(manual, "flaky", "backoff")
    assert second.next_restart_in_s == pytest.approx(2 * first.next_restart_in_s)  # growing

    flag.unlink()
    clock.advance(second.next_restart_in_s)
    manual.poll()
    clock.advance(10.0)  # runs for stable_after_s
    assert manual.list_instances("flaky")[0].status == "running"
    flag.touch()
    third = _wait_status(manual, "flaky", "backoff")
    assert third.last_exit_code == 3
    assert third.next_restart_in_s == pytest.approx(first.next_restart_in_s)  # initial again


def test_supervisor_thread_restarts_a_crashing_script(
    manager: DeploymentManager, scripts: Path
) -> None:
    manager.deploy("crashy", script=str(scripts / "crasher.py"))
    wait_until(lambda: manager.list_instances("crashy")[0].restarts >= 3)
    info = manager.list_instances("crashy")[0]
    assert info.last_exit_code == 1 and "ZeroDivisionError" in (info.last_error or "")
    log = Path(info.log_path).read_text()
    assert log.count("about to crash") >= 3 and "restarting in" in log


@pytest.mark.parametrize(
    ("policy", "script", "status", "code"),
    [
        ("never", "crasher.py", "failed", 1),
        ("never", "exit0.py", "stopped", 0),
        ("on-failure", "exit0.py", "stopped", 0),
        ("on-failure", "crasher.py", "backoff", 1),
        ("always", "exit0.py", "backoff", 0),
    ],
)
def test_restart_policies(
    manual: DeploymentManager, scripts: Path, policy: str, script: str, status: str, code: int
) -> None:
    manual.deploy("job", script=str(scripts / script), restart_policy=policy)
    info = _wait_status(manual, "job", status)
    assert info.last_exit_code == code
    assert info.restarts == 0 and info.pid is None
    assert (info.last_error is None) == (code == 0)
    assert manual.get_deployment("job").running == 0


def test_deploying_the_same_spec_again_reruns_a_finished_job(
    manual: DeploymentManager, scripts: Path
) -> None:
    spec = {"script": str(scripts / "exit0.py"), "restart_policy": "never"}
    manual.deploy("once", spec)
    first = _wait_status(manual, "once", "stopped")
    manual.deploy("once", spec)
    again = manual.list_instances("once")[0]
    assert again.id == first.id and again.status == "starting" and again.pid is not None


def test_restart_instance_gives_a_new_pid(manager: DeploymentManager, scripts: Path) -> None:
    manager.deploy("svc", script=str(scripts / "sleeper.py"), instances=2)
    before = manager.list_instances("svc")
    target = before[1]

    after = manager.restart_instance(target.id)

    assert after.id == target.id and after.index == 1
    assert after.pid is not None and after.pid != target.pid and pid_alive(after.pid)
    assert not pid_alive(target.pid)
    assert after.restarts == 1
    assert manager.list_instances("svc")[0].pid == before[0].pid  # the other one untouched
    assert "restart requested" in Path(after.log_path).read_text()


def test_restart_instance_kills_a_script_that_ignores_sigterm(
    make_manager: Callable[..., DeploymentManager], scripts: Path
) -> None:
    manager = make_manager(stop_timeout_s=0.3)
    manager.deploy("stubborn", script=str(scripts / "stubborn.py"))
    [info] = manager.list_instances("stubborn")
    wait_until(lambda: (scripts / f"{info.id}.ready").exists())
    after = manager.restart_instance(info.id)
    assert not pid_alive(info.pid) and after.pid != info.pid


def test_restart_unknown_instance_raises_not_found(manager: DeploymentManager) -> None:
    with pytest.raises(DeploymentNotFoundError) as err:
        manager.restart_instance("dep-nope-00000000")
    assert isinstance(err.value, NotFoundError)
    assert not manager.has_instance("dep-nope-00000000")


def test_missing_script_at_restart_is_reported(
    manual: DeploymentManager, clock: FakeClock, scripts: Path, tmp_path: Path
) -> None:
    script = tmp_path / "vanishing.py"
    script.write_text("raise SystemExit(2)\n")
    manual.deploy("vanish", script=str(script))
    info = _wait_status(manual, "vanish", "backoff")
    script.unlink()
    clock.advance(info.next_restart_in_s)
    manual.poll()
    info = manual.list_instances("vanish")[0]
    assert info.status == "backoff" and info.pid is None
    assert info.last_error is not None and "script not found" in info.last_error


def test_restart_deployment_replaces_every_instance_rolling(
    manual: DeploymentManager, clock: FakeClock, scripts: Path
) -> None:
    manual.deploy("svc", script=str(scripts / "sleeper.py"), instances=2)
    old = manual.list_instances("svc")
    manual.restart_deployment("svc")
    assert len(manual.list_instances("svc")) == 3  # one successor started beside the old two
    for _ in range(2):
        clock.advance(1.5)
        manual.poll()
    infos = manual.list_instances("svc")
    assert [i.index for i in infos] == [0, 1]
    assert not {i.id for i in infos} & {i.id for i in old}
    wait_until(lambda: not any(pid_alive(i.pid) for i in old if i.pid))
    with pytest.raises(NotFoundError):
        manual.restart_deployment("ghost")


def test_telemetry_records_running_and_restarts_when_they_change(
    make_manager: Callable[..., DeploymentManager], clock: FakeClock, scripts: Path
) -> None:
    telemetry = Telemetry()
    manager = make_manager(clock=clock, supervise=False, telemetry=telemetry)
    manager.deploy("crashy", script=str(scripts / "crasher.py"))
    manager.poll()
    manager.poll()  # nothing changed: no new points
    running = telemetry.series("deployment_instances_running", {"deployment": "crashy"})
    restarts = telemetry.series("deployment_restarts_total", {"deployment": "crashy"})
    assert [p.value for p in running] == [1.0] and [p.value for p in restarts] == [0.0]

    info = _wait_status(manager, "crashy", "backoff")
    clock.advance(info.next_restart_in_s)
    manager.poll()
    assert [p.value for p in running] == [1.0, 0.0, 1.0]
    assert [p.value for p in restarts] == [0.0, 0.0, 1.0]
    assert running.last() is not None and running.last().timestamp == clock.now
