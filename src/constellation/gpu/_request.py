"""What an instance asks for: :class:`GpuRequest`, validated when it is built.

A request names how many GPUs, how much memory on each, and how it shares them:

* ``exclusive``: whole GPUs, nobody else on them;
* ``shared``: packed by memory next to other ``shared`` tenants;
* ``mps``: packed by memory *and* by ``compute_share`` (percent of SMs, enforced by the
  CUDA Multi-Process Service) next to other ``mps`` tenants, shares summing to <= 100;
* ``time_slice``: one of ``replicas`` time slots of the GPU.

``mig_profile`` asks instead for one MIG slice of that profile (``"1g.10gb"``).
``cluster`` names the cluster the work belongs to: GPUs that cluster reserved
(``preallocate_gpus``) are tried first, and only such requests may use them.
``scheduling_policy`` (``"binpack"`` or ``"spread"``) orders the GPUs for this request,
over the cluster's policy and the manager's. Bad
input raises :class:`ValidationError` naming the field and what is allowed; a request
that is valid but does not fit anywhere is not an error (``allocate`` returns None and
``explain`` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ValidationError
from ._catalog import all_profile_names
from ._model import VENDORS

__all__ = ["PLACEMENTS", "SHARING_MODES", "GpuRequest"]

SHARING_MODES = ("exclusive", "shared", "mps", "time_slice")
PLACEMENTS = ("binpack", "spread")
_VENDOR_ALIASES = {"nvidia": "nvidia", "cuda": "nvidia", "amd": "amd", "rocm": "amd"}
_VENDOR_ALIASES |= {"intel": "intel", "oneapi": "intel"}


@dataclass(frozen=True, slots=True)
class GpuRequest:
    gpu_count: int = 1
    memory_mb: int | None = None
    exclusive: bool = False
    min_compute_capability: float | None = None
    vendor: str | None = None
    compute_share: int | None = None
    mig_profile: str | None = None
    sharing: str | None = None  # None: derived from exclusive / compute_share
    replicas: int = 4  # time_slice slots per GPU
    cluster: str | None = None  # its cluster's reserved GPUs first
    scheduling_policy: str | None = None  # "binpack" | "spread"; None: the cluster's/manager's

    def __post_init__(self) -> None:
        _integer("gpu_count", self.gpu_count, 1, 1024)
        if self.memory_mb is not None:
            _integer("memory_mb", self.memory_mb, 1, 10_000_000, low_message="must be > 0")
        if not isinstance(self.exclusive, bool):
            raise ValidationError(
                "exclusive", f"{self.exclusive!r} is not allowed; expected True or False"
            )
        if self.min_compute_capability is not None:
            cc = self.min_compute_capability
            if isinstance(cc, bool) or not isinstance(cc, int | float) or not 0 < cc < 100:
                raise ValidationError(
                    "min_compute_capability", f"{cc!r} is not allowed; expected a number like 7.0"
                )
        if self.vendor is not None:
            vendor = _VENDOR_ALIASES.get(str(self.vendor).lower())
            if vendor is None:
                raise ValidationError.choice("vendor", self.vendor, VENDORS)
            object.__setattr__(self, "vendor", vendor)
        if self.compute_share is not None:
            _integer("compute_share", self.compute_share, 1, 100, unit="percent")
        _integer("replicas", self.replicas, 2, 64)
        if self.cluster is not None and (not isinstance(self.cluster, str) or not self.cluster):
            raise ValidationError("cluster", f"{self.cluster!r} is not a cluster name")
        if self.scheduling_policy is not None and self.scheduling_policy not in PLACEMENTS:
            raise ValidationError.choice("scheduling_policy", self.scheduling_policy, PLACEMENTS)
        object.__setattr__(self, "sharing", self._sharing())
        if self.mig_profile is not None:
            self._check_mig()
        if (
            self.sharing in ("shared", "mps")
            and self.memory_mb is None
            and self.mig_profile is None
        ):
            raise ValidationError(
                "memory_mb",
                f"is required with sharing={self.sharing!r} (GPUs are packed by memory)",
            )

    def _sharing(self) -> str:
        sharing = self.sharing
        if sharing is not None and sharing not in SHARING_MODES:
            raise ValidationError.choice("sharing", sharing, SHARING_MODES)
        if self.exclusive and sharing not in (None, "exclusive"):
            raise ValidationError(
                "exclusive", f"exclusive=True cannot be combined with sharing={sharing!r}"
            )
        if self.exclusive and self.compute_share is not None:
            raise ValidationError(
                "compute_share", "exclusive=True cannot be combined with compute_share (MPS)"
            )
        if sharing is None:
            # No memory named and no MPS share: the whole GPU is what was asked for.
            if self.exclusive or (self.memory_mb is None and self.compute_share is None):
                sharing = "exclusive"
            else:
                sharing = "mps" if self.compute_share else "shared"
        if self.compute_share is not None and sharing != "mps":
            raise ValidationError("compute_share", f"needs sharing='mps', not {sharing!r}")
        return sharing

    def _check_mig(self) -> None:
        known = all_profile_names()
        if self.mig_profile not in known:
            raise ValidationError.choice("mig_profile", self.mig_profile, known)
        if self.gpu_count != 1:
            raise ValidationError(
                "gpu_count", f"{self.gpu_count} with mig_profile; a MIG request is for 1 slice"
            )
        if self.vendor not in (None, "nvidia"):
            raise ValidationError("mig_profile", f"MIG is NVIDIA-only; vendor is {self.vendor!r}")
        if self.sharing not in ("exclusive", "shared") or self.compute_share is not None:
            raise ValidationError(
                "mig_profile", f"cannot be combined with sharing={self.sharing!r}"
            )

    @property
    def sharing_mode(self) -> str:
        return self.sharing or "shared"

    @classmethod
    def from_value(
        cls, value: GpuRequest | Mapping[str, Any] | None = None, **kwargs: Any
    ) -> GpuRequest:
        """A request from a request, a dict (the seed passes one) or keyword arguments."""
        if isinstance(value, GpuRequest):
            return value if not kwargs else cls.from_value(value.as_dict(), **kwargs)
        data = dict(value or {}) | kwargs
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ValidationError(
                unknown[0], f"unknown field; expected one of {', '.join(allowed)}"
            )
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _integer(
    name: str, value: object, low: int, high: int, *, unit: str = "", low_message: str = ""
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, f"{value!r} is not allowed; expected a whole number")
    if value < low and low_message:
        raise ValidationError(name, f"{value!r} {low_message}")
    if not low <= value <= high:
        raise ValidationError.range(name, value, low, high, unit)
