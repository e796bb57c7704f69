"""The seed's core API on the default platform: deploy, scale, restart, clusters, instances."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import constellation
from constellation.errors import NotFoundError, ValidationError
from constellation.platform import Constellation, reset_default_platform

from ._support import wait_until

WORKER = "import time\nwhile True:\n    time.sleep(0.2)\n"
HANDLERS = str(Path(__file__).resolve().parent / "fixtures" / "serverless" / "handlers.py")


@pytest.fixture
def default_platform(tmp_home: Path) -> Iterator[Path]:
    reset_default_platform()
    yield tmp_home
    reset_default_platform()


def _all_running(name: str, count: int) -> list[dict[str, object]] | None:
    """The instances of ``name`` once there are ``count`` of them, each running with a pid."""
    rows = [r for r in constellation.list_instances() if r["owner"] == name]
    if len(rows) == count and all(r["status"] == "running" and r["pid"] for r in rows):
        return rows
    return None


def _running(name: str, count: int) -> list[dict[str, object]]:
    return wait_until(
        lambda: _all_running(name, count), what=f"{count} running instances of {name}"
    )


def test_deploy_scale_restart_through_the_module_api(
    default_platform: Path, tmp_path: Path
) -> None:
    script = tmp_path / "train_model.py"
    script.write_text(WORKER)
    constellation.create_cluster(
        {"name": "ml-training", "gpu_enabled": True, "predictive_scaling": True}
    )
    constellation.deploy(
        "ml-worker-1",
        {
            "script": str(script),
            "instances": 1,
            "cluster": "ml-training",
            "env": {"TOKEN": "s3cret"},
        },
    )
    constellation.scale_up("ml-worker-1", instances=2)
    rows = _running("ml-worker-1", 3)
    assert len(rows) == 3 and {r["kind"] for r in rows} == {"deployment"}
    first = rows[0]
    constellation.restart_instance(str(first["id"]))

    def restarted() -> dict[object, dict[str, object]] | None:
        rows = _all_running("ml-worker-1", 3) or []
        after = {r["id"]: r for r in rows}
        return after if first["id"] in after and after[first["id"]]["pid"] != first["pid"] else None

    after = wait_until(restarted, what="the restarted instance running with a new pid")
    assert after[first["id"]]["pid"] != first["pid"]
    constellation.scale_down("ml-worker-1", instances=2)
    assert len(_running("ml-worker-1", 1)) == 1
    with pytest.raises(NotFoundError):
        constellation.restart_instance("dep-nope-000")
    with pytest.raises(ValidationError):
        constellation.deploy("Bad Name", {"script": str(script)})


def test_one_instance_list_for_deployments_and_functions(tmp_path: Path) -> None:
    script = tmp_path / "svc.py"
    script.write_text(WORKER)
    with Constellation(tmp_path / "home") as platform:
        platform.deploy("svc", {"script": str(script), "instances": 1})
        f = platform.serverless.create_function("fn", "python", "noop", HANDLERS)
        result = platform.serverless.invoke_sync(f.id)
        kinds = sorted((r["kind"], r["owner"]) for r in platform.list_instances())
        assert kinds == [("deployment", "svc"), ("function", "fn")]
        assert result.instance_id is not None
        platform.restart_instance(result.instance_id)
        replaced = platform.serverless.invoke_sync(f.id)
        assert replaced.ok and replaced.instance_id != result.instance_id
