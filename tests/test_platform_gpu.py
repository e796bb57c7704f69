"""GPUs wired into the platform: deployments with a GPU request, clusters that preallocate."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from constellation.errors import ConflictError, ValidationError
from constellation.gpu import Discovery, GpuManager, StaticBackend, load_capture
from constellation.platform import Constellation

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


def test_deployment_with_a_gpu_request_gets_the_allocation_env(tmp_path: Path) -> None:
    script = tmp_path / "train_model.py"
    script.write_text(SCRIPT)
    with _platform(tmp_path / "home") as platform:
        gpus = platform.gpu.discover()
        assert len(gpus) == 2
        platform.deploy(
            "trainer",
            {"script": str(script), "instances": 1, "gpu": {"gpu_count": 1, "memory_mb": 4096}},
        )
        allocation = platform.gpu.get_allocation("deployment:trainer")
        assert allocation is not None
        deadline = time.monotonic() + 20
        pid = None
        while time.monotonic() < deadline and not pid:
            pid = platform.deployments.list_instances("trainer")[0].pid
            time.sleep(0.05)
        assert pid is not None and pid != os.getpid()
        env = _environ(pid)
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
