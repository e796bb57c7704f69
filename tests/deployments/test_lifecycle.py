"""Persistence, recover(), close(), and instances never outliving the platform."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from constellation.config import Settings
from constellation.deployments import DeploymentClosedError, DeploymentManager
from constellation.errors import ClosedError
from constellation.store import Store

from .._support import wait_until
from .conftest import pid_alive


def test_recover_restarts_persisted_deployments_with_the_same_ids(
    make_manager: Callable[..., DeploymentManager], scripts: Path
) -> None:
    first = make_manager()
    first.create_cluster(name="web", description="front end")
    first.deploy(
        "api",
        script=str(scripts / "sleeper.py"),
        instances=2,
        cluster="web",
        env={"SECRET": "kept"},
    )
    before = first.list_instances("api")
    first.close()
    assert not any(pid_alive(i.pid) for i in before if i.pid)

    second = make_manager()
    assert [d.name for d in second.list_deployments()] == ["api"]
    assert second.get_cluster("web").deployments == ("api",)
    assert {i.status for i in second.list_instances("api")} == {"stopped"}  # until recover()
    second.recover()
    after = second.list_instances("api")
    assert [i.id for i in after] == [i.id for i in before]
    assert all(i.pid and pid_alive(i.pid) and i.pid not in {b.pid for b in before} for i in after)
    wait_until(lambda: all((scripts / f"{i.id}.json").exists() for i in after))
    assert json.loads((scripts / f"{after[0].id}.json").read_text())["SECRET"] == "kept"
    second.recover()  # only the first call acts
    assert [i.pid for i in second.list_instances("api")] == [i.pid for i in after]


def test_undeployed_deployments_stay_gone_after_restart(
    make_manager: Callable[..., DeploymentManager], scripts: Path
) -> None:
    first = make_manager()
    first.deploy("keep", script=str(scripts / "sleeper.py"))
    first.deploy("drop", script=str(scripts / "sleeper.py"))
    first.undeploy("drop")
    first.close()
    second = make_manager()
    second.recover()
    assert [d.name for d in second.list_deployments()] == ["keep"]


def test_close_leaves_no_process_behind(
    make_manager: Callable[..., DeploymentManager], scripts: Path
) -> None:
    manager = make_manager(stop_timeout_s=0.5)
    manager.deploy("kids", script=str(scripts / "parent.py"), instances=2)
    manager.deploy("stubborn", script=str(scripts / "stubborn.py"))
    manager.deploy("plain", script=str(scripts / "sleeper.py"), instances=3)
    infos = manager.list_instances()
    kid_files = [scripts / f"{i.id}.child" for i in infos if i.deployment == "kids"]
    wait_until(lambda: all(f.exists() and f.read_text() for f in kid_files))
    stubborn = next(i for i in infos if i.deployment == "stubborn")
    wait_until(lambda: (scripts / f"{stubborn.id}.ready").exists())
    pids = [i.pid for i in infos if i.pid] + [int(f.read_text()) for f in kid_files]
    assert len(pids) == 8 and all(pid_alive(p) for p in pids)

    manager.close()
    manager.close()  # idempotent

    assert not [p for p in pids if pid_alive(p)]
    with pytest.raises(DeploymentClosedError) as err:
        manager.deploy("late", script=str(scripts / "sleeper.py"))
    assert isinstance(err.value, ClosedError)
    with pytest.raises(ClosedError):
        manager.restart_instance(infos[0].id)


def test_context_manager_closes(store: Store, settings: Settings, scripts: Path) -> None:
    with DeploymentManager(store, settings, stop_timeout_s=1.0) as manager:
        manager.deploy("ctx", script=str(scripts / "sleeper.py"))
        [info] = manager.list_instances("ctx")
    assert manager.closed and info.pid and not pid_alive(info.pid)


_PLATFORM = """
import sys, time
from constellation.config import Settings
from constellation.deployments import DeploymentManager
from constellation.store import Store
home, script, stop_timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
settings = Settings(home=home)
manager = DeploymentManager(Store(settings.db_path), settings, stop_timeout_s=stop_timeout)
manager.deploy("orphans", script=script, instances=2)
print(" ".join(str(i.pid) for i in manager.list_instances("orphans")), flush=True)
time.sleep(600)
"""


def _start_platform(
    home: Path, script: Path, stop_timeout: float
) -> tuple[subprocess.Popen, list[int]]:
    platform = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_PLATFORM),
            str(home),
            str(script),
            str(stop_timeout),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert platform.stdout is not None
    pids = [int(p) for p in platform.stdout.readline().split()]
    platform.stdout.close()
    assert len(pids) == 2
    return platform, pids


def test_instances_die_with_a_killed_platform(tmp_path: Path, scripts: Path) -> None:
    platform, pids = _start_platform(tmp_path / "home", scripts / "sleeper.py", 5.0)
    assert all(pid_alive(p) for p in pids)
    platform.send_signal(signal.SIGKILL)
    platform.wait()
    wait_until(lambda: not any(pid_alive(p) for p in pids))


@pytest.mark.parametrize("action", ["recover", "undeploy"])
def test_what_a_crashed_platform_left_is_killed(
    action: str,
    scripts: Path,
    make_manager: Callable[..., DeploymentManager],
    settings: Settings,
) -> None:
    # Instances that ignore SIGTERM outlive the platform for the lifeline's grace (60 s).
    platform, pids = _start_platform(settings.home, scripts / "stubborn.py", 60.0)
    wait_until(lambda: len(list(scripts.glob("*.ready"))) == 2)
    platform.send_signal(signal.SIGKILL)
    platform.wait()
    assert all(pid_alive(p) for p in pids)

    manager = make_manager()
    if action == "recover":
        manager.recover()
    else:
        manager.undeploy("orphans")
    # Killed by the manager, well before the lifeline's 60 s grace would end them.
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=30.0)
    infos = manager.list_instances() if action == "undeploy" else manager.list_instances("orphans")
    assert len(infos) == (2 if action == "recover" else 0)
    assert all(i.pid and pid_alive(i.pid) and i.pid not in pids for i in infos)
