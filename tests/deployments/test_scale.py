"""scale / scale_up / scale_down on real processes."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from constellation.deployments import DeploymentManager
from constellation.errors import ConflictError, NotFoundError

from .._support import wait_until
from .conftest import pid_alive


def test_scale_up_and_down(manager: DeploymentManager, scripts: Path) -> None:
    manager.deploy("pool", script=str(scripts / "sleeper.py"))
    first = manager.list_instances("pool")[0]

    assert manager.scale_up("pool", instances=2).instances == 3
    infos = manager.list_instances("pool")
    assert [i.index for i in infos] == [0, 1, 2]
    assert infos[0].id == first.id and infos[0].pid == first.pid
    assert all(pid_alive(i.pid) for i in infos if i.pid) and len({i.pid for i in infos}) == 3

    assert manager.scale_down("pool", instances=2).instances == 1
    assert [i.id for i in manager.list_instances("pool")] == [first.id]  # highest index first
    assert not any(pid_alive(i.pid) for i in infos[1:] if i.pid)  # stopped before returning


def test_scale_down_never_goes_below_zero_and_scale_sets_the_count(
    manager: DeploymentManager, scripts: Path
) -> None:
    manager.deploy("pool", script=str(scripts / "sleeper.py"), instances=2)
    pids = [i.pid for i in manager.list_instances("pool")]
    deployment = manager.scale_down("pool", instances=5)
    assert deployment.instances == 0 and deployment.running == 0
    assert manager.list_instances("pool") == []
    assert not any(pid_alive(p) for p in pids if p)

    assert manager.scale("pool", 2).running == 2
    assert manager.scale_up("pool").instances == 3
    assert manager.scale_down("pool").instances == 2
    assert len(manager.list_instances("pool")) == 2


def test_deploying_zero_instances_starts_nothing(manager: DeploymentManager, scripts: Path) -> None:
    deployment = manager.deploy("idle", script=str(scripts / "sleeper.py"), instances=0)
    assert deployment.instances == 0 and manager.list_instances("idle") == []


def test_redeploy_with_a_new_count_scales_without_replacing(
    manager: DeploymentManager, scripts: Path
) -> None:
    spec = {"script": str(scripts / "sleeper.py"), "instances": 1}
    manager.deploy("grow", spec)
    [first] = manager.list_instances("grow")
    manager.deploy("grow", {**spec, "instances": 2})
    infos = manager.list_instances("grow")
    assert len(infos) == 2 and (infos[0].id, infos[0].pid) == (first.id, first.pid)


def test_concurrent_calls_keep_the_books_straight(
    manager: DeploymentManager, scripts: Path
) -> None:
    manager.deploy("busy", script=str(scripts / "sleeper.py"), instances=2)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(8):
                choice = rng.randrange(4)
                if choice == 0:
                    manager.scale_up("busy", 1)
                elif choice == 1:
                    manager.scale_down("busy", 1)
                elif choice == 2:
                    infos = manager.list_instances("busy")
                    if infos:
                        try:
                            manager.restart_instance(rng.choice(infos).id)
                        except (NotFoundError, ConflictError):
                            pass  # removed or being restarted by another thread meanwhile
                else:
                    manager.list_deployments()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    want = manager.get_deployment("busy").instances

    def settled() -> bool:
        infos = manager.list_instances("busy")
        return [i.index for i in infos] == list(range(want)) and all(
            i.pid and pid_alive(i.pid) for i in infos
        )

    wait_until(settled)
    assert len({i.id for i in manager.list_instances("busy")}) == want
