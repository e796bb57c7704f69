"""What one instance asks a cluster for: CPUs, GPUs, custom node resources.

Shared by functions (``create_function(..., resources=...)``) and deployments
(``deploy(..., resources=...)``). The Ray backend places instances by it; the local
backend runs every instance on this machine and does not use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError

__all__ = ["MB_PER_CPU", "Resources", "gpu_option_as_ray_resources", "ray_gpus_of"]

_RESERVED_RESOURCES = frozenset({"CPU", "GPU", "memory", "object_store_memory"})
# AWS Lambda gives a function one vCPU per 1,769 MB of memory; an instance asks for
# CPU in the same ratio unless the function says otherwise.
MB_PER_CPU = 1769.0


@dataclass(frozen=True)
class Resources:
    """What one instance of a function asks the cluster for (the Ray backend places
    instances by it; the local backend runs every instance on this machine).

    ``num_cpus`` None means ``memory_mb / 1769`` (Lambda's ratio); ``num_gpus`` may be a
    fraction below 1 (a shared GPU) or a whole number; ``custom`` names node resources
    such as ``{"accelerator_type:A100": 1}``.
    """

    num_cpus: float | None = None
    num_gpus: float = 0.0
    custom: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cpus = self.num_cpus
        if cpus is not None and (
            isinstance(cpus, bool) or not isinstance(cpus, int | float) or not 0 <= cpus <= 1024
        ):
            raise ValidationError("resources.num_cpus", f"{cpus!r} must be a number 0-1024")
        gpus = self.num_gpus
        if isinstance(gpus, bool) or not isinstance(gpus, int | float) or not 0 <= gpus <= 64:
            raise ValidationError("resources.num_gpus", f"{gpus!r} must be a number 0-64")
        if gpus > 1 and gpus != int(gpus):
            raise ValidationError(
                "resources.num_gpus",
                f"{gpus!r}: a fraction is allowed only below 1 (a shared GPU); above 1 use a "
                "whole number",
            )
        if not isinstance(self.custom, Mapping):
            raise ValidationError(
                "resources.custom", f"expected a mapping, got {type(self.custom).__name__}"
            )
        for name, amount in self.custom.items():
            if not isinstance(name, str) or not name or name in _RESERVED_RESOURCES:
                raise ValidationError(
                    "resources.custom",
                    f"{name!r} is not a custom resource name (non-empty, and not "
                    f"{', '.join(sorted(_RESERVED_RESOURCES))})",
                )
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
                raise ValidationError(
                    f"resources.custom.{name}", f"{amount!r} must be a number > 0"
                )
        object.__setattr__(self, "num_gpus", float(gpus))
        object.__setattr__(self, "custom", {k: float(v) for k, v in self.custom.items()})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Resources:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValidationError("resources", f"expected a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                "resources", f"unknown option {unknown[0]!r}; allowed: {', '.join(sorted(known))}"
            )
        return cls(**dict(data))

    def cpus_for(self, memory_mb: int) -> float:
        """The CPUs an instance asks for: ``num_cpus``, or memory in Lambda's ratio."""
        if self.num_cpus is not None:
            return float(self.num_cpus)
        return round(memory_mb / MB_PER_CPU, 4)

    def to_dict(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "custom": dict(self.custom)}


def ray_gpus_of(request: Mapping[str, Any] | None) -> float:
    """A GPU request (constellation.gpu's form) as Ray's ``num_gpus``: its ``gpu_count``,
    or ``compute_share`` percent of one GPU."""
    if not request:
        return 0.0
    if request.get("compute_share"):
        return float(request["compute_share"]) / 100.0
    return float(request.get("gpu_count") or 1)


def gpu_option_as_ray_resources(options: dict[str, Any]) -> dict[str, Any]:
    """Deploy ``options`` for the Ray backend: their ``gpu`` request (popped) becomes
    ``resources["num_gpus"]`` (:func:`ray_gpus_of`), as Ray, not Constellation, picks the
    node and the devices. A GPU id, or a request out of range, is refused naming the field.
    """
    request = options.pop("gpu")
    if not isinstance(request, Mapping):
        raise ValidationError(
            "gpu",
            f"{request!r}: on the ray backend Ray assigns the devices; give a request such as "
            "{'gpu_count': 1} or {'compute_share': 50}",
        )
    count = request.get("gpu_count", 1)
    share = request.get("compute_share")
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 100:
            raise ValidationError("gpu.compute_share", f"{share!r} must be a percent in (0, 100]")
        if count != 1:
            raise ValidationError("gpu.compute_share", "a share is of one GPU: use gpu_count 1")
    elif isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 64:
        raise ValidationError("gpu.gpu_count", f"{count!r} must be an integer 1-64")
    resources = dict(options.get("resources") or {})
    resources["num_gpus"] = ray_gpus_of(request)
    options["resources"] = resources
    return options
