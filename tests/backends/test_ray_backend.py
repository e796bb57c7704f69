"""The Ray backend on a real three-node Ray cluster (the ``ray_cluster`` fixture).

The whole serverless suite also runs on this backend (tests/serverless, ``[ray]`` ids);
these tests cover what only a cluster has: placement across nodes, GPU and custom
resources, resources no node has, and a node lost under load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from constellation.platform import Constellation
from constellation.serverless import InvocationResult, ServerlessService

from .._support import WAIT_S, wait_until
from ..conftest import wait_until_node_is_dead

HANDLERS = str(Path(__file__).resolve().parents[1] / "fixtures" / "serverless" / "handlers.py")
MB = 1024 * 1024

pytestmark = pytest.mark.ray


@pytest.fixture
def sls(ray_cluster: Any, tmp_path: Path) -> Iterator[ServerlessService]:
    with Constellation(
        tmp_path / "home",
        backend="ray",
        ledger_flush_interval_s=0.05,
        async_retry_base_s=0.05,
        reaper_interval_s=3600.0,
        ray_start_timeout_s=30.0,
    ) as platform:
        yield platform.serverless


def _ready_instances(sls: ServerlessService, function_id: str, count: int) -> list[Any]:
    """The function's instances, once ``count`` are up (prewarming returns when the last
    start has begun; another thread may still be finishing one)."""

    def up() -> list[Any]:
        instances = sls.list_instances(function_id)
        return instances if len(instances) >= count and all(i.node for i in instances) else []

    return wait_until(up, what=f"{count} instances up, each on its node")


def _node_with(resource: str) -> str:
    import ray

    ids = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get(resource)]
    assert len(ids) == 1, ids
    return str(ids[0])


def test_instances_spread_across_nodes(sls: ServerlessService) -> None:
    f = sls.create_function("spread", "python", "count", HANDLERS, concurrency=6)
    sls.deploy_function(f.id)
    sls.prewarm_function(f.id, instances=6)
    instances = _ready_instances(sls, f.id, 6)
    assert len({i.node for i in instances}) >= 2, [i.node for i in instances]
    result = sls.invoke_sync(f.id)
    assert result.status == "success"
    assert not result.cold_start


def test_gpu_requests_land_only_on_the_gpu_node(sls: ServerlessService) -> None:
    gpu_node = _node_with("GPU")
    f = sls.create_function(
        "gpu", "python", "env", HANDLERS, concurrency=2, resources={"num_gpus": 0.5}
    )
    sls.deploy_function(f.id)
    sls.prewarm_function(f.id, instances=2)  # two halves of the one GPU
    assert {i.node for i in _ready_instances(sls, f.id, 2)} == {gpu_node}
    result = sls.invoke_sync(f.id, {"names": ["CUDA_VISIBLE_DEVICES"]})
    assert result.status == "success", result.error
    assert result.output == {"CUDA_VISIBLE_DEVICES": "0"}  # Ray assigned the GPU


def test_a_gpu_request_becomes_ray_num_gpus(sls: ServerlessService) -> None:
    gpu_node = _node_with("GPU")
    f = sls.create_function(
        "share", "python", "env", HANDLERS, gpu={"compute_share": 50, "memory_mb": 1024}
    )
    result = sls.invoke_sync(f.id, {"names": ["CUDA_VISIBLE_DEVICES"]})
    assert result.status == "success", result.error
    assert result.output == {"CUDA_VISIBLE_DEVICES": "0"}
    assert [i.node for i in sls.list_instances(f.id)] == [gpu_node]


def test_custom_resources_choose_the_node(sls: ServerlessService) -> None:
    node = _node_with("accelerator")
    f = sls.create_function("acc", "python", "count", HANDLERS, resources={"num_cpus": 0.5})
    sls.set_resources(f.id, custom={"accelerator": 1})
    sls.deploy_function(f.id)
    assert sls.invoke_sync(f.id).status == "success"
    assert [i.node for i in sls.list_instances(f.id)] == [node]
    assert sls.get_function(f.id).resources.num_cpus == 0.5  # kept by set_resources


@pytest.mark.parametrize(
    ("resources", "named"),
    [
        ({"num_gpus": 2}, "num_gpus=2 (the most any node has: num_gpus=1), for function 'need'"),
        ({"custom": {"tpu": 1}}, "tpu=1"),
        ({"num_cpus": 64}, "num_cpus=64"),
    ],
)
def test_resources_no_node_has_fail_the_invocation_naming_them(
    sls: ServerlessService, resources: dict[str, Any], named: str
) -> None:
    f = sls.create_function("need", "python", "count", HANDLERS, resources=resources)
    sls.deploy_function(f.id)
    result = sls.invoke_sync(f.id)
    assert result.status == "error"
    assert result.error is not None and named in result.error
    # Refused before any actor is made: not a pending actor that the start timeout ended.
    assert "no node in the Ray cluster has" in result.error
    assert "did not place and start it" not in result.error


def test_all_the_resources_on_one_node_or_none(sls: ServerlessService) -> None:
    f = sls.create_function(
        "both", "python", "count", HANDLERS, resources={"num_gpus": 1, "custom": {"accelerator": 1}}
    )
    sls.deploy_function(f.id)
    assert sls.invoke_sync(f.id).status == "success"  # the GPU node has both
    # One node has the GPU, another the fast disk: none has both.
    sls.set_resources(f.id, custom={"fast_disk": 1})
    result = sls.invoke_sync(f.id)
    assert result.status == "error"
    assert result.error is not None
    assert "no single node in the Ray cluster has all of" in result.error
    assert "num_gpus=1" in result.error and "fast_disk=1" in result.error


def test_a_start_waiting_for_busy_resources_gives_up_in_time(
    ray_cluster: Any, tmp_path: Path
) -> None:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    home = tmp_path / "home"
    # Made under the default start timeout: the handler check starts an actor too, and a
    # loaded machine may take more than 2 s for that.
    with Constellation(home, backend="ray") as setup:
        f = setup.serverless.create_function(
            "one",
            "python",
            "count",
            HANDLERS,
            concurrency=2,
            resources={"custom": {"accelerator": 1}},
        )
        setup.serverless.deploy_function(f.id)
    busy = placement_group([{"accelerator": 1}])  # holds the cluster's one accelerator
    try:
        assert ray.get(busy.ready(), timeout=WAIT_S)
        with Constellation(home, backend="ray", ray_start_timeout_s=2.0) as platform:
            result = platform.serverless.invoke_sync(f.id)
        assert result.status == "error"
        assert result.error is not None
        assert "Ray did not place and start it within 2 s" in result.error
    finally:
        remove_placement_group(busy)


def test_scale_to_zero_ends_the_actors(ray_cluster: Any, tmp_path: Path) -> None:
    import ray

    clock = [1_800_000_000.0]
    with Constellation(
        tmp_path / "home", backend="ray", clock=lambda: clock[0], reaper_interval_s=3600.0
    ) as platform:
        sls = platform.serverless
        # Reaped by hand on a fake clock. A real-time autoscaler tick in between (the
        # actors start slowly under load) halves at most per tick: its target of 1 kept
        # one actor (seen in CI with two test runs loading the machine).
        sls.autoscaler.close()
        f = sls.create_function(
            "idle", "python", "count", HANDLERS, scaling_policy={"idle_timeout_s": 60}
        )
        sls.deploy_function(f.id)
        sls.prewarm_function(f.id, instances=2)
        sls.prewarm_function(f.id, instances=0)
        _ready_instances(sls, f.id, 2)
        pool = sls.pools()[0]
        actors = [inst.actor for inst, _ in pool.instances()]
        assert len(actors) == 2
        assert all(ray.get(a.ready.remote(), timeout=WAIT_S)["ready"] for a in actors)
        clock[0] += 61
        assert sls.reap_idle() == 2
        assert sls.list_instances(f.id) == []

        def ended(actor: Any) -> bool:
            try:
                ray.get(actor.ready.remote(), timeout=WAIT_S)
            except ray.exceptions.RayActorError:
                return True
            return False

        for actor in actors:  # ray.kill is asynchronous: the actor ends soon after
            wait_until(lambda actor=actor: ended(actor), interval=0.05, what="the actor ended")


def test_a_node_removed_under_load(ray_cluster: Any, sls: ServerlessService) -> None:
    victim = ray_cluster.add_node(num_cpus=2, object_store_memory=80 * MB)
    ray_cluster.wait_for_nodes()
    f = sls.create_function("load", "python", "sleep", HANDLERS, concurrency=8)
    sls.deploy_function(f.id)
    sls.prewarm_function(f.id, instances=8)  # spread over four nodes
    nodes = [i.node for i in _ready_instances(sls, f.id, 8)]
    assert victim.node_id in nodes, nodes

    async_ids = [sls.invoke_async(f.id, {"seconds": 0.3}, max_retries=3) for _ in range(16)]
    sync_results: list[InvocationResult] = []

    def call_repeatedly() -> None:
        for _ in range(3):
            sync_results.append(sls.invoke_sync(f.id, {"seconds": 0.3}))

    threads = [threading.Thread(target=call_repeatedly) for _ in range(4)]
    for thread in threads:
        thread.start()
    # In the middle of the calls: one is running on the node about to go.
    pool = sls.pools()[0]
    wait_until(
        lambda: any(
            state == "busy" and inst.node == victim.node_id for inst, state in pool.instances()
        ),
        interval=0.005,
        what="a call in flight on the victim node",
    )
    ray_cluster.remove_node(victim, allow_graceful=False)
    wait_until_node_is_dead(victim.node_id)

    for thread in threads:
        thread.join(timeout=WAIT_S)
    assert not any(t.is_alive() for t in threads), "a sync invocation hangs"
    assert len(sync_results) == 12
    for result in sync_results:
        assert result.status in ("success", "crashed"), result.error
        if result.status == "crashed":  # in flight on the lost node: a clear error
            assert result.error is not None and "Ray actor" in result.error

    def settled() -> list[str]:
        states = [sls.get_invocation(rid).state for rid in async_ids]
        return states if all(s in ("succeeded", "dead") for s in states) else []

    states = wait_until(settled, interval=0.1, what="every async invocation settled")
    assert states == ["succeeded"] * 16  # lost attempts were retried elsewhere

    # Ray declares the node dead after its health checks fail; its idle instances go then.
    wait_until(
        lambda: victim.node_id not in {i.node for i in sls.list_instances(f.id)},
        interval=0.5,
        what="no instance listed on the lost node",
    )
    assert sls.invoke_sync(f.id, {"seconds": 0}).status == "success"
