"""GPUs wired into the platform: deployments with a GPU request, clusters that preallocate."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from constellation.errors import ConflictError, ValidationError
from constellation.gpu import Discovery, GpuManager, StaticBackend, load_capture
from constellation.platform import Constellation

from ._support import wait_until

CAPTURE = (
    Path(__file__).resolve().parent / "fixtures" / "gpu" / "nvidia-smi-xml" / "dual_a5000-v13.xml"
)
SCRIPT = (
    "import os, time\nprint(os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True)\ntime.sleep(60)\n"
)


def _platform(home: Path) -> Constellation:
    platform = Constellation(home)
    discovery = Discovery([StaticBackend(load_capture(CAPTURE), name="simulate")])
    platform.use_gpu_manager(GpuManager(platform.store, discovery, clock=platform.clock))
    return platform


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _environ_with(pid: int, keys: Iterable[str]) -> dict[str, str] | None:
    """The process's environ once it holds every key (None before: not exec'd yet)."""
    env = _environ(pid)
    return env if set(keys) <= set(env) else None


@pytest.mark.parametrize(
    "request_", [{"gpu_count": 1, "memory_mb": 4096}, {"gpu_count": 1}], ids=["memory", "whole"]
)
def test_deployment_with_a_gpu_request_gets_the_allocation_env(
    tmp_path: Path, request_: dict[str, int]
) -> None:
    script = tmp_path / "train_model.py"
    script.write_text(SCRIPT)
    with _platform(tmp_path / "home") as platform:
        gpus = platform.gpu.discover()
        assert len(gpus) == 2
        platform.deploy("trainer", {"script": str(script), "instances": 1, "gpu": request_})
        allocation = platform.gpu.get_allocation("deployment:trainer")
        assert allocation is not None
        pid = wait_until(lambda: platform.deployments.list_instances("trainer")[0].pid)
        assert pid != os.getpid()
        # Until the child has exec'd, its environ is still the platform's: wait for all of it
        env = wait_until(lambda: _environ_with(pid, allocation.env))
        for key, value in allocation.env.items():
            assert env[key] == value
        platform.undeploy("trainer")
        assert platform.gpu.get_allocation("deployment:trainer") is None


def test_a_request_that_does_not_fit_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    script = tmp_path / "big.py"
    script.write_text(SCRIPT)
    with _platform(tmp_path / "home") as platform:
        with pytest.raises(ValidationError, match="gpu: no GPU fits the request"):
            platform.deploy("too-big", {"script": str(script), "gpu": {"gpu_count": 3}})
        assert platform.deployments.list_deployments() == []
        assert platform.gpu.allocations() == []


def test_cluster_preallocates_gpus(tmp_path: Path) -> None:
    with _platform(tmp_path / "home") as platform:
        cluster = platform.create_cluster(
            {"name": "ml-training", "gpu_enabled": True, "predictive_scaling": True}
        )
        allocation = cluster.preallocate_gpus(count=2)
        assert allocation is not None and len(allocation.gpu_ids) == 2
        with pytest.raises(ConflictError, match="already holds"):
            cluster.preallocate_gpus(count=1)
        cluster.release_gpus()
        assert platform.gpu.allocations() == []
        plain = platform.create_cluster({"name": "cpu-only"})
        with pytest.raises(ValidationError, match="gpu_enabled"):
            plain.preallocate_gpus(count=1)


def test_a_clusters_reserved_gpus_serve_its_own_deployments(tmp_path: Path) -> None:
    script = tmp_path / "train_model.py"
    script.write_text(SCRIPT)
    with _platform(tmp_path / "home") as platform:
        cluster = platform.create_cluster({"name": "ml-training", "gpu_enabled": True})
        reserved = cluster.preallocate_gpus(count=2)
        assert reserved is not None and reserved.sharing == "reserved"
        platform.deploy("trainer", {"script": str(script), "cluster": "ml-training",
                                    "gpu": {"gpu_count": 1, "memory_mb": 4096}})  # fmt: skip
        allocation = platform.gpu.get_allocation("deployment:trainer")
        assert allocation is not None and allocation.gpu_id in reserved.gpu_ids
        # Outside the cluster, its GPUs are not to be had.
        with pytest.raises(ValidationError, match="reserved for another cluster"):
            platform.deploy("stranger", {"script": str(script), "gpu": {"gpu_count": 1}})
        # A function's request naming the cluster is served from the pool too.
        sls = platform.serverless
        gpu = {"gpu_count": 1, "memory_mb": 1024, "cluster": "ml-training"}
        f = sls.create_function("infer", "python", "env", HANDLERS, gpu=gpu)
        result = sls.invoke_sync(f.id, {"names": GPU_ENV})
        assert result.ok, result.error
        owner = f"function:infer:{result.instance_id}"
        got = platform.gpu.get_allocation(owner)
        assert got is not None and got.gpu_id in reserved.gpu_ids
        sls.delete_function(f.id)
        platform.undeploy("trainer")
        cluster.release_gpus()  # back to everyone
        platform.deploy("stranger", {"script": str(script), "gpu": {"gpu_count": 1}})
        platform.undeploy("stranger")


def test_scheduling_policy_per_cluster_and_per_request(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    with _platform(tmp_path / "home") as platform:
        small = {"gpu_count": 1, "memory_mb": 1024}
        platform.deploy("first", {"script": str(script), "gpu": small})
        first = platform.gpu.get_allocation("deployment:first")
        assert first is not None
        # binpack (the default) packs next to the first tenant; spread picks the other GPU.
        packed = platform.gpu.allocate("packed", small)
        spread = platform.gpu.allocate("spread", {**small, "scheduling_policy": "spread"})
        assert packed is not None and spread is not None
        assert packed.gpu_id == first.gpu_id != spread.gpu_id
        platform.create_cluster(name="wide", gpu_enabled=True, scheduling_policy="spread")
        assert platform.gpu.cluster_policy("wide") == "spread"
        platform.gpu.deallocate("spread")
        wide = platform.gpu.allocate("w", {**small, "cluster": "wide"})  # no pool: its policy
        assert wide is not None and wide.gpu_id != first.gpu_id


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda p: p.create_cluster(name="c1", scheduling_policy="random"), "scheduling_policy"),
        (
            lambda p: p.gpu.allocate("x", {"gpu_count": 1, "scheduling_policy": 3}),
            "scheduling_policy",
        ),
        (lambda p: p.gpu.allocate("x", {"gpu_count": 1, "cluster": ""}), "cluster"),
    ],
)
def test_bad_policies_name_their_field_and_change_nothing(tmp_path: Path, make, field) -> None:
    with _platform(tmp_path / "home") as platform:
        with pytest.raises(ValidationError) as info:
            make(platform)
        assert info.value.field == field
        assert platform.deployments.list_clusters() == []
        assert platform.gpu.allocations() == []


HANDLERS = str(Path(__file__).resolve().parent / "fixtures" / "serverless" / "handlers.py")
GPU_ENV = ["CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"]


def _owners(platform: Constellation) -> list[str]:
    return sorted(a.owner for a in platform.gpu.allocations())


def test_a_function_instance_gets_its_gpus_while_it_lives(tmp_path: Path) -> None:
    with _platform(tmp_path / "home") as platform:
        sls = platform.serverless
        f = sls.create_function(
            "infer", "python", "env", HANDLERS, gpu={"gpu_count": 1, "memory_mb": 4096}
        )
        assert sls.get_function(f.id).gpu is not None
        assert sls.get_function(f.id).gpu["memory_mb"] == 4096  # type: ignore[index]
        result = sls.invoke_sync(f.id, {"names": GPU_ENV})
        assert result.status == "success", result.error
        owner = f"function:infer:{result.instance_id}"
        assert _owners(platform) == [owner]
        allocation = platform.gpu.get_allocation(owner)
        assert allocation is not None
        assert result.output == {k: allocation.env.get(k) for k in GPU_ENV}
        assert result.output["CUDA_VISIBLE_DEVICES"]  # a real device id from the capture
        sls.prewarm_function(f.id, instances=2)  # a second instance: a second allocation
        assert len(_owners(platform)) == 2
        sls.delete_function(f.id)  # its instances end: the GPUs come back
        assert _owners(platform) == []


def test_a_gpu_function_has_its_memory_limit_on_data_not_address_space(tmp_path: Path) -> None:
    """CUDA reserves far more address space than memory when it starts: under RLIMIT_AS
    it cannot start. A GPU instance's memory limit is RLIMIT_DATA, and it still holds."""
    with _platform(tmp_path / "home") as platform:
        sls = platform.serverless
        gpu = {"gpu_count": 1, "memory_mb": 1024}
        limits = sls.create_function("limits", "python", "limits", HANDLERS, gpu=gpu)
        plain = sls.create_function("plain-limits", "python", "limits", HANDLERS)
        on_gpu, on_cpu = sls.invoke_sync(limits.id, {}), sls.invoke_sync(plain.id, {})
        assert on_gpu.ok and on_cpu.ok, (on_gpu.error, on_cpu.error)
        assert on_gpu.output["AS"] is None and on_gpu.output["DATA"] is not None
        assert on_cpu.output["AS"] is not None and on_cpu.output["DATA"] is None
        hungry = sls.create_function(
            "hungry", "python", "allocate", HANDLERS, memory_mb=128, gpu=gpu
        )
        assert sls.invoke_sync(hungry.id, {"mb": 40}).ok
        over = sls.invoke_sync(hungry.id, {"mb": 400})
        assert over.status == "memory_limit", over.error
        assert over.error == "memory limit of 128 MB exceeded"


def test_a_function_whose_gpu_request_does_not_fit_fails_its_cold_start(tmp_path: Path) -> None:
    with _platform(tmp_path / "home") as platform:
        sls = platform.serverless
        f = sls.create_function("greedy", "python", "env", HANDLERS, gpu={"gpu_count": 3})
        result = sls.invoke_sync(f.id, {"names": GPU_ENV})
        assert result.status == "error"
        assert result.error is not None
        assert result.error.startswith("cold start failed: no GPU for function 'greedy':")
        assert _owners(platform) == []


def test_bad_gpu_requests_name_the_field(tmp_path: Path) -> None:
    with _platform(tmp_path / "home") as platform:
        sls = platform.serverless
        for request, field in (
            ({"gpu_count": 0}, "gpu.gpu_count"),
            ({"compute_share": 101}, "gpu.compute_share"),
            ({"colour": "green"}, "gpu.colour"),
            ("all of them", "gpu"),
        ):
            with pytest.raises(ValidationError) as caught:
                sls.create_function("bad", "python", "env", HANDLERS, gpu=request)  # type: ignore[arg-type]
            assert caught.value.field == field, (request, caught.value)
        assert sls.list_functions() == []
        f = sls.create_function("ok", "python", "env", HANDLERS)
        with pytest.raises(ValidationError):
            sls.set_gpu(f.id, {"gpu_count": -1})
        assert sls.get_function(f.id).gpu is None
        assert sls.set_gpu(f.id, {"gpu_count": 1}).gpu is not None


def test_gpus_left_by_a_crashed_platform_are_released_at_start(tmp_path: Path) -> None:
    with _platform(tmp_path / "home") as platform:
        assert platform.gpu.allocate("function:old:fi-gone", {"gpu_count": 1}) is not None
        assert platform.gpu.allocate("deployment:keep", {"gpu_count": 1}) is not None
    with _platform(tmp_path / "home") as platform:
        platform.start()
        assert _owners(platform) == ["deployment:keep"]


@pytest.mark.parametrize(
    ("request_", "num_gpus"),
    [({"gpu_count": 2}, 2.0), ({"compute_share": 25}, 0.25), ({"memory_mb": 4096}, 1.0)],
)
def test_on_ray_a_gpu_request_becomes_num_gpus(request_: dict[str, int], num_gpus: float) -> None:
    from constellation._resources import gpu_option_as_ray_resources

    options = {"script": "x.py", "gpu": request_, "resources": {"fast_disk": 1}}
    assert gpu_option_as_ray_resources(options) == {
        "script": "x.py",
        "resources": {"fast_disk": 1, "num_gpus": num_gpus},
    }


@pytest.mark.parametrize(
    ("gpu", "field"),
    [
        ("nvidia:0", "gpu"),
        ({"compute_share": 0}, "gpu.compute_share"),
        ({"compute_share": 50, "gpu_count": 2}, "gpu.compute_share"),
        ({"gpu_count": 0}, "gpu.gpu_count"),
    ],
)
def test_on_ray_a_bad_gpu_option_is_refused_naming_the_field(gpu: object, field: str) -> None:
    from constellation._resources import gpu_option_as_ray_resources

    with pytest.raises(ValidationError) as caught:
        gpu_option_as_ray_resources({"gpu": gpu})
    assert caught.value.field == field
