"""A cluster as the seed's ``create_cluster`` returns it: the record plus its GPU calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ValidationError

if TYPE_CHECKING:
    from ._core_api import CoreAPI
    from .deployments import Cluster
    from .gpu import Allocation

__all__ = ["ClusterHandle"]


class ClusterHandle:
    """A cluster (see :class:`constellation.deployments.Cluster`) with the seed's GPU calls."""

    def __init__(self, platform: CoreAPI, cluster: Cluster) -> None:
        self._platform = platform
        self.cluster = cluster
        self.name = cluster.name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.cluster, attribute)

    def preallocate_gpus(self, count: int = 1, **request: Any) -> Allocation | None:
        """Reserve ``count`` GPUs for the cluster (exclusive unless the request says
        otherwise); None when they do not fit (``platform.gpu.explain`` says why)."""
        if not self.cluster.gpu_enabled:
            raise ValidationError("gpu_enabled", f"cluster {self.name!r} was created without GPUs")
        wanted = {"gpu_count": count, "exclusive": True, **request}
        return self._platform.gpu.allocate(f"cluster:{self.name}", wanted)

    def release_gpus(self) -> bool:
        return self._platform.gpu.deallocate(f"cluster:{self.name}")

    def __repr__(self) -> str:
        return f"ClusterHandle({self.cluster!r})"
