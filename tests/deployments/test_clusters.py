"""Clusters: create, list, get, delete (refused while in use), persisted, validated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from constellation.deployments import (
    Cluster,
    DeploymentConflictError,
    DeploymentManager,
    DeploymentNotFoundError,
    DeploymentValidationError,
)
from constellation.errors import ConflictError, NotFoundError


def test_create_cluster_as_in_the_seed(manual: DeploymentManager, clock) -> None:
    cluster = manual.create_cluster(
        {"name": "ml-training", "gpu_enabled": True, "predictive_scaling": True}
    )
    assert cluster == Cluster(
        name="ml-training",
        gpu_enabled=True,
        predictive_scaling=True,
        description="",
        created_at=clock.now,
        deployments=(),
    )
    assert manual.get_cluster("ml-training") == cluster
    manual.create_cluster(name="batch", description="nightly jobs")
    assert [c.name for c in manual.list_clusters()] == ["batch", "ml-training"]
    assert cluster.to_dict()["deployments"] == []


def test_clusters_group_deployments_and_are_persisted(
    make_manager: Callable[..., DeploymentManager], scripts: Path
) -> None:
    manager = make_manager(supervise=False)
    manager.create_cluster(name="web")
    for name in ("api", "auth"):
        manager.deploy(name, script=str(scripts / "sleeper.py"), cluster="web")
    manager.deploy("lone", script=str(scripts / "sleeper.py"))
    assert manager.get_cluster("web").deployments == ("api", "auth")
    manager.close()
    again = make_manager(supervise=False)
    assert again.get_cluster("web").deployments == ("api", "auth")


def test_delete_cluster_is_refused_while_in_use(manual: DeploymentManager, scripts: Path) -> None:
    manual.create_cluster(name="web")
    manual.deploy("api", script=str(scripts / "sleeper.py"), cluster="web")
    with pytest.raises(DeploymentConflictError) as err:
        manual.delete_cluster("web")
    assert isinstance(err.value, ConflictError)
    assert "used by deployments api" in str(err.value)
    assert manual.get_cluster("web").deployments == ("api",)

    manual.undeploy("api")
    manual.delete_cluster("web")
    assert manual.list_clusters() == []
    with pytest.raises(DeploymentNotFoundError) as missing:
        manual.get_cluster("web")
    assert isinstance(missing.value, NotFoundError)
    with pytest.raises(NotFoundError):
        manual.delete_cluster("web")


def test_duplicate_cluster_is_a_conflict(manual: DeploymentManager) -> None:
    manual.create_cluster(name="web", description="first")
    with pytest.raises(ConflictError):
        manual.create_cluster(name="web", description="second")
    assert manual.get_cluster("web").description == "first"


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({}, "name", "is required"),
        ({"name": "ML Training"}, "name", "not a DNS label"),
        ({"name": "ml", "gpu_enabled": "yes"}, "gpu_enabled", "not a bool"),
        ({"name": "ml", "predictive_scaling": 1}, "predictive_scaling", "not a bool"),
        ({"name": "ml", "description": 5}, "description", "at most 1000"),
        ({"name": "ml", "description": "x" * 1001}, "description", "at most 1000"),
        ({"name": "ml", "gpus": 2}, "gpus", "unknown option"),
    ],
)
def test_bad_cluster_is_refused(
    manual: DeploymentManager, spec: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(DeploymentValidationError) as err:
        manual.create_cluster(spec)
    assert err.value.field == field and message in err.value.message
    assert manual.list_clusters() == []
