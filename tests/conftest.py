"""Shared fixtures: an isolated platform home, and the shared data sets."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._support import WAIT_S, wait_until


@pytest.fixture
def tmp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$CONSTELLATION_HOME`` for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("CONSTELLATION_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$CONSTELLATION_DATA`` (default ``../shared/data``).

    Skips with the reason when the data is absent, except under CI
    (``CONSTELLATION_REQUIRE_DATA=1``), where a missing data set is a failure.
    """
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(os.environ.get("CONSTELLATION_DATA") or default)
    if not path.is_dir():
        reason = f"shared data not found at {path}: set CONSTELLATION_DATA to its folder"
        if os.environ.get("CONSTELLATION_REQUIRE_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A real Ray cluster of three nodes on this machine (``ray.cluster_utils.Cluster``),
    joined by the test process: the head, a CPU node with the custom resource
    ``fast_disk``, and a node that declares one GPU and the custom resource ``accelerator``.

    Skips where Ray is not installed, except under CI (``CONSTELLATION_REQUIRE_RAY=1``),
    where that is a failure.
    """
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError as exc:
        reason = f"Ray is not installed ({exc}): pip install -e '.[ray]'"
        if os.environ.get("CONSTELLATION_REQUIRE_RAY") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    store = 80 * 1024 * 1024
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "include_dashboard": False, "object_store_memory": store},
    )
    cluster.add_node(num_cpus=2, resources={"fast_disk": 1}, object_store_memory=store)
    cluster.add_node(
        num_cpus=2, num_gpus=1, resources={"accelerator": 1}, object_store_memory=store
    )
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def wait_until_node_is_dead(node_id: str, timeout: float = WAIT_S) -> None:
    """Wait until Ray's control store marks a removed node dead (its health checks fail
    first), so what follows sees the cluster without it."""
    import ray

    wait_until(
        lambda: not any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes()),
        timeout,
        interval=0.2,
        what=f"Ray to see node {node_id} dead",
    )
