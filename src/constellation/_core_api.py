"""The seed's core API on a platform: deployments, scaling, clusters, instances.

:class:`CoreAPI` is mixed into :class:`~constellation.platform.Constellation`, which
makes the parts these methods use (the deployment manager, the GPU manager, the
functions service); here is only what the seed's calls do with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._cluster import ClusterHandle
from ._resources import gpu_option_as_ray_resources
from .errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from .config import Settings
    from .deployments import DeploymentManager
    from .gpu import GpuManager
    from .serverless import ServerlessService

__all__ = ["CoreAPI", "deployment_owner", "instance_row"]


class CoreAPI:
    """``deploy``, ``scale_up``, ``scale_down``, ``undeploy``, ``create_cluster``,
    ``list_instances``, ``restart_instance`` and ``restart_service``."""

    if TYPE_CHECKING:  # made by the platform
        settings: Settings
        _gpu: GpuManager | None
        _deployments: DeploymentManager | None
        _serverless: ServerlessService | None

        @property
        def deployments(self) -> DeploymentManager: ...

        @property
        def gpu(self) -> GpuManager: ...

        @property
        def serverless(self) -> ServerlessService: ...

    def deploy(self, name: str, spec: Mapping[str, Any] | None = None, /, **options: Any) -> Any:
        """Run a script as supervised instances. ``gpu`` may be a GPU id or a request
        (``{"gpu_count": 1, "memory_mb": 4096}``): the request is allocated for the
        deployment, its instances start with the allocation's environment, and the GPUs
        are given back on ``undeploy``. On the Ray backend a request becomes Ray's
        ``num_gpus`` (``gpu_count``, or ``compute_share`` percent of one GPU), and Ray picks
        the node and the devices."""
        merged = {**(spec or {}), **options}
        request = merged.get("gpu")
        if self.settings.backend == "ray" and request is not None:
            return self.deployments.deploy(name, gpu_option_as_ray_resources(merged))
        if not isinstance(request, Mapping):
            return self.deployments.deploy(name, merged)
        if merged.get("cluster") is not None and "cluster" not in request:
            request = {**request, "cluster": merged["cluster"]}  # its cluster's GPUs first
        # Given back if the deploy is refused: nothing half-done stays in the store.
        with self.gpu.holding(deployment_owner(name), dict(request)) as allocation:
            merged["gpu"] = allocation.gpu_id
            if allocation.memory_mb:  # a whole-GPU grant reserves no particular amount
                merged.setdefault("gpu_memory", allocation.memory_mb)
            return self.deployments.deploy(name, merged)

    def scale_up(self, name: str, instances: int = 1) -> Any:
        return self.deployments.scale_up(name, instances)

    def scale_down(self, name: str, instances: int = 1) -> Any:
        return self.deployments.scale_down(name, instances)

    def undeploy(self, name: str) -> None:
        self.deployments.undeploy(name)
        if self._gpu is not None:
            self._gpu.deallocate(deployment_owner(name))

    def create_cluster(
        self, spec: Mapping[str, Any] | None = None, /, **options: Any
    ) -> ClusterHandle:
        """A cluster; ``scheduling_policy`` (binpack or spread) is how its GPU requests
        are placed when they name none (kept by the GPU manager)."""
        merged = {**(spec or {}), **options}
        policy = merged.pop("scheduling_policy", None)
        if policy is not None:
            from .gpu import PLACEMENTS

            if policy not in PLACEMENTS:  # refused before anything is created
                raise ValidationError.choice("scheduling_policy", policy, PLACEMENTS)
        handle = ClusterHandle(self, self.deployments.create_cluster(merged))
        if policy is not None:
            self.gpu.set_cluster_policy(handle.name, policy)
        return handle

    def list_instances(self) -> list[dict[str, Any]]:
        """Every instance: deployment processes and function workers, as rows."""
        rows: list[dict[str, Any]] = []
        if self._deployments is not None:
            for d in self.deployments.list_instances():
                rows.append(
                    instance_row(
                        d.id, "deployment", d.deployment, d.status, d.pid, d.uptime_s, d.restarts
                    )
                )
        if self._serverless is not None:
            for f in self._serverless.list_instances():
                rows.append(
                    instance_row(f.id, "function", f.function_name, f.status, f.pid, f.uptime_s, 0)
                )
        return rows

    def restart_instance(self, instance_id: str) -> None:
        """Restart a deployment instance or replace a function worker, by id."""
        if instance_id.startswith("dep-"):
            self.deployments.restart_instance(instance_id)
            return
        if self._serverless is not None and self._serverless.has_instance(instance_id):
            self._serverless.restart_instance(instance_id)
            return
        raise NotFoundError("instance", instance_id)

    def restart_service(self, name: str) -> None:
        """The seed's ``restart_service``: a deployment named ``name`` gets a rolling restart
        of every instance; a function named ``name`` has each worker replaced (a busy one
        after its call). Usable from ``anomaly.on_detect`` with ``anomaly.service_name``."""
        if any(d.name == name for d in self.deployments.list_deployments()):
            self.deployments.restart_deployment(name)
            return
        try:
            instances = self.serverless.list_instances(name)
        except NotFoundError:
            raise NotFoundError("service", name) from None
        for instance in instances:
            self.serverless.restart_instance(instance.id)


def deployment_owner(name: str) -> str:
    return f"deployment:{name}"


def instance_row(
    id: str, kind: str, owner: str, status: str, pid: int | None, uptime_s: float, restarts: int
) -> dict[str, Any]:
    """One row of :meth:`Constellation.list_instances` (and of the CLI's listing)."""
    return {
        "id": id,
        "kind": kind,
        "owner": owner,
        "status": status,
        "pid": pid,
        "uptime_s": uptime_s,
        "restarts": restarts,
    }
