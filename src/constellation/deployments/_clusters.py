"""Clusters: named, persisted groups of deployments.

A cluster carries flags that other parts of the platform read (``gpu_enabled`` for the
GPU scheduler, ``predictive_scaling`` for the deployment scaler of ``_autoscale``); here
it groups deployments and guards them: a deployment names an existing cluster, a GPU
deployment needs a GPU-enabled one, an autoscaled one a predictive_scaling one, and a
cluster cannot be deleted while deployments use it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import DeploymentConflictError, DeploymentNotFoundError, DeploymentValidationError
from ._models import Cluster
from ._persist import DeploymentTables
from ._spec import DeploymentSpec, check_name, parse_cluster

__all__ = ["ClusterRegistry"]


class ClusterRegistry:
    """Cluster operations over the store; the manager serialises calls with its lock."""

    def __init__(self, tables: DeploymentTables, clock: Callable[[], float]) -> None:
        self._tables = tables
        self._clock = clock

    def _cluster(self, row: sqlite3.Row) -> Cluster:
        return Cluster(
            name=row["name"],
            gpu_enabled=bool(row["gpu_enabled"]),
            predictive_scaling=bool(row["predictive_scaling"]),
            description=row["description"],
            created_at=row["created_at"],
            deployments=tuple(self._tables.cluster_members(row["name"])),
        )

    def create(self, spec: Mapping[str, Any] | None, options: Mapping[str, Any]) -> Cluster:
        parsed = parse_cluster(spec, options)
        if self._tables.cluster(parsed.name) is not None:
            raise DeploymentConflictError(f"cluster {parsed.name!r} already exists")
        self._tables.insert_cluster(parsed, self._clock())
        return self.get(parsed.name)

    def get(self, name: str) -> Cluster:
        row = self._tables.cluster(name) if isinstance(name, str) else None
        if row is None:
            raise DeploymentNotFoundError("cluster", name)
        return self._cluster(row)

    def list(self) -> list[Cluster]:
        return [self._cluster(row) for row in self._tables.clusters()]

    def delete(self, name: str) -> None:
        self.get(name)
        members = self._tables.cluster_members(name)
        if members:
            raise DeploymentConflictError(
                f"cluster {name!r} is used by deployments {', '.join(members)}; "
                "undeploy them or deploy them without this cluster first"
            )
        self._tables.delete_cluster(name)

    def check(self, spec: DeploymentSpec) -> None:
        """The deployment's cluster exists and allows what it asks for."""
        if spec.cluster is None:
            return
        check_name(spec.cluster, "cluster")
        row = self._tables.cluster(spec.cluster)
        if row is None:
            existing = ", ".join(repr(r["name"]) for r in self._tables.clusters()) or "none"
            raise DeploymentValidationError(
                "cluster",
                f"{spec.cluster!r} does not exist; create it with create_cluster() first "
                f"(existing clusters: {existing})",
            )
        if spec.autoscale is not None and not row["predictive_scaling"]:
            raise DeploymentValidationError(
                "autoscale",
                f"cluster {spec.cluster!r} was created without predictive_scaling; "
                "autoscaled deployments need a cluster with predictive_scaling=True",
            )
        if spec.gpu is not None and not row["gpu_enabled"]:
            raise DeploymentValidationError(
                "gpu", f"cluster {spec.cluster!r} is not gpu_enabled; it cannot run GPU deployments"
            )
