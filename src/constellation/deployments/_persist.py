"""The deployments' tables in the platform's SQLite store.

A deployment row means "this should be running": ``close()`` keeps it (a restarted
platform's ``recover()`` starts it again), ``undeploy()`` deletes it. Instance rows keep
ids stable across restarts of the platform (anomaly records and scripts refer to them)
and remember the last pid with its start time, so that ``recover()`` can stop a process
that a crashed platform left behind, and only that process.
"""

from __future__ import annotations

import sqlite3

from constellation.store import Store

from ._spec import ClusterSpec, DeploymentSpec

__all__ = ["DeploymentTables", "InstanceRow"]


InstanceRow = sqlite3.Row


class DeploymentTables:
    """Typed reads and writes of the three tables; one statement per call."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # clusters
    def insert_cluster(self, spec: ClusterSpec, created_at: float) -> None:
        self.store.execute(
            "INSERT INTO deployment_clusters VALUES (?, ?, ?, ?, ?)",
            (spec.name, spec.gpu_enabled, spec.predictive_scaling, spec.description, created_at),
        )

    def cluster(self, name: str) -> sqlite3.Row | None:
        return self.store.query_one("SELECT * FROM deployment_clusters WHERE name = ?", (name,))

    def clusters(self) -> list[sqlite3.Row]:
        return self.store.query("SELECT * FROM deployment_clusters ORDER BY name")

    def cluster_members(self, name: str) -> list[str]:
        rows = self.store.query(
            "SELECT name FROM deployments WHERE cluster = ? ORDER BY name", (name,)
        )
        return [row["name"] for row in rows]

    def delete_cluster(self, name: str) -> None:
        self.store.execute("DELETE FROM deployment_clusters WHERE name = ?", (name,))

    # deployments
    def save_deployment(
        self, name: str, spec: DeploymentSpec, generation: int, created_at: float, now: float
    ) -> None:
        self.store.execute(
            "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
            "spec = excluded.spec, generation = excluded.generation, "
            "cluster = excluded.cluster, updated_at = excluded.updated_at",
            (name, spec.to_json(), generation, spec.cluster, created_at, now),
        )

    def deployments(self) -> list[sqlite3.Row]:
        return self.store.query("SELECT * FROM deployments ORDER BY name")

    def delete_deployment(self, name: str) -> None:
        self.store.execute("DELETE FROM deployments WHERE name = ?", (name,))

    # instances
    def save_instance(
        self,
        instance_id: str,
        deployment: str,
        index: int,
        generation: int,
        restarts: int,
        pid: int | None,
        pid_identity: str | None,
        created_at: float,
    ) -> None:
        self.store.execute(
            "INSERT INTO deployment_instances VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET restarts = excluded.restarts, pid = excluded.pid, "
            "pid_identity = excluded.pid_identity",
            (instance_id, deployment, index, generation, restarts, pid, pid_identity, created_at),
        )

    def instances(self, deployment: str) -> list[sqlite3.Row]:
        return self.store.query(
            "SELECT * FROM deployment_instances WHERE deployment = ? ORDER BY idx, generation",
            (deployment,),
        )

    def instance_exists(self, instance_id: str) -> bool:
        row = self.store.query_one(
            "SELECT 1 FROM deployment_instances WHERE id = ?", (instance_id,)
        )
        return row is not None

    def delete_instance(self, instance_id: str) -> None:
        self.store.execute("DELETE FROM deployment_instances WHERE id = ?", (instance_id,))
