"""Deployments on the Ray backend: each instance's script runs in an actor on a node,
supervised from the head as on the local backend (real three-node cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from constellation.errors import ValidationError
from constellation.platform import Constellation

from .._support import wait_for_line, wait_until
from ..conftest import wait_until_node_is_dead

SERVICE = str(Path(__file__).resolve().parents[1] / "fixtures" / "backends" / "service.py")
MB = 1024 * 1024

pytestmark = pytest.mark.ray


@pytest.fixture
def platform(ray_cluster: Any, tmp_path: Path) -> Iterator[Constellation]:
    with Constellation(
        tmp_path / "home", backend="ray", restart_backoff_initial_s=0.1, ray_start_timeout_s=30.0
    ) as p:
        yield p


def _running_now(platform: Constellation, name: str, count: int) -> list[Any]:
    """The running instances of ``name`` if there are ``count`` of them, else []."""
    found = [i for i in platform.deployments.list_instances(name) if i.status == "running"]
    return found if len(found) == count else []


def _running(platform: Constellation, name: str, count: int) -> list[Any]:
    return wait_until(
        lambda: _running_now(platform, name, count),
        interval=0.1,
        what=f"{count} running instances of {name}",
    )


def _log(path: str, text: str) -> str:
    """The instance's log once a whole line with ``text`` is in it."""
    wait_for_line(path, text)
    return Path(path).read_text()


def test_instances_run_on_nodes_with_their_output_in_the_head_log(platform: Constellation) -> None:
    import ray

    platform.deploy("svc", script=SERVICE, instances=3, env={"GREETING": "hi"})
    instances = _running(platform, "svc", 3)
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert {i.node for i in instances} <= nodes
    assert len({i.node for i in instances}) >= 2  # spread
    for inst in instances:
        line = wait_for_line(inst.log_path, "service up")
        assert f"service up {inst.pid} {inst.index} None hi" in line
    platform.undeploy("svc")
    assert platform.deployments.list_instances() == []


def test_a_script_that_exits_is_restarted_by_its_policy(platform: Constellation) -> None:
    platform.deploy("crashy", script=SERVICE, args=["1.5"], restart_policy="on-failure")
    first = _running(platform, "crashy", 1)[0]

    def restarted() -> Any:
        inst = platform.deployments.list_instances("crashy")[0]
        return inst if inst.restarts >= 1 and inst.last_exit_code == 3 else None

    inst = wait_until(restarted, interval=0.1, what="the instance restarted after exit 3")
    assert inst.last_error.startswith("exited with code 3")
    log = _log(inst.log_path, "restarting in")
    assert f"service up {first.pid}" in log


@pytest.mark.parametrize(("request_", "share"), [({"gpu_count": 1}, 1), ({"compute_share": 50}, 2)])
def test_a_gpu_request_becomes_ray_num_gpus(
    platform: Constellation, request_: dict[str, int], share: int
) -> None:
    import ray

    gpu_node = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU"))
    platform.deploy("gpu", script=SERVICE, instances=share, gpu=request_)
    assert platform.deployments.get_deployment("gpu").resources["num_gpus"] == 1 / share
    for inst in _running(platform, "gpu", share):
        assert inst.node == gpu_node
        line = wait_for_line(inst.log_path, "service up")
        assert f"service up {inst.pid} {inst.index} 0" in line


def test_a_gpu_id_is_refused_on_ray(platform: Constellation) -> None:
    with pytest.raises(ValidationError) as caught:
        platform.deploy("gpu", script=SERVICE, gpu="0")
    assert caught.value.field == "gpu"
    assert "Ray assigns the devices" in str(caught.value)
    assert platform.deployments.list_deployments() == []


def test_resources_no_node_has_are_named_in_the_instance_error(platform: Constellation) -> None:
    platform.deploy("big", script=SERVICE, resources={"custom": {"tpu": 1}})

    def failed() -> Any:
        inst = platform.deployments.list_instances("big")[0]
        return inst if inst.last_error else None

    inst = wait_until(failed, interval=0.1, what="the instance's start error")
    assert "no node in the Ray cluster has tpu=1" in inst.last_error
    assert inst.status in ("backoff", "starting")


def test_an_instance_on_a_lost_node_is_restarted_elsewhere(
    ray_cluster: Any, platform: Constellation
) -> None:
    victim = ray_cluster.add_node(num_cpus=2, resources={"victim": 1}, object_store_memory=80 * MB)
    ray_cluster.wait_for_nodes()
    platform.deploy("pinned", script=SERVICE, resources={"custom": {"victim": 1}})
    platform.deploy("roaming", script=SERVICE, instances=4)
    assert _running(platform, "pinned", 1)[0].node == victim.node_id
    roaming = _running(platform, "roaming", 4)
    on_victim = [i.index for i in roaming if i.node == victim.node_id]
    assert on_victim, [i.node for i in roaming]
    ray_cluster.remove_node(victim, allow_graceful=False)
    wait_until_node_is_dead(victim.node_id)  # later tests see the cluster as it now is

    def moved() -> list[Any]:
        found = _running_now(platform, "roaming", 4)
        return found if victim.node_id not in {i.node for i in found} else []

    after = wait_until(moved, interval=0.1, what="4 roaming instances running off the lost node")
    for inst in after:
        if inst.index in on_victim:
            assert inst.restarts >= 1 and inst.last_exit_code == -9
            # The loss is logged as "its Ray actor was lost" when Ray reports it; on a
            # loaded machine the node's shutdown may kill the script first and the actor
            # report that exit (-9) before it goes: either way the restart line says so.
            assert "killed by SIGKILL" in wait_for_line(inst.log_path, "; restarting in")
    pinned = platform.deployments.list_instances("pinned")[0]  # nowhere to go now
    assert pinned.status in ("starting", "backoff")
    assert pinned.pid in (0, None)
