"""An allocation, the environment it hands to its instance, and why a request does not fit.

The environment is the whole contract between this package and whatever starts the
instance (``platform.py``): set these variables on the process and the CUDA, ROCm or
Level Zero runtime inside it sees only the GPUs (or the MIG slice) it was given.

* NVIDIA: ``CUDA_VISIBLE_DEVICES`` and ``NVIDIA_VISIBLE_DEVICES`` (for containers) list
  GPU UUIDs, or the MIG device UUID for a MIG slice (UUIDs survive re-enumeration,
  indices do not). With MPS (``mps`` shares, and ``shared`` shares with a memory size):
  ``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`` (the compute share),
  ``CUDA_MPS_PINNED_DEVICE_MEM_LIMIT`` (``0=4096M`` per visible device) and the daemon's
  ``CUDA_MPS_PIPE_DIRECTORY``/``CUDA_MPS_LOG_DIRECTORY`` (see :mod:`._mps`).
* AMD: ``ROCR_VISIBLE_DEVICES`` names the physical devices; ``HIP_VISIBLE_DEVICES`` then
  counts from 0 among those, since HIP applies its mask after ROCr's.
* Intel: ``ZE_AFFINITY_MASK`` lists the Level Zero device indices.

``CONSTELLATION_GPU_IDS`` lists the platform's ids (``nvidia:0``) for logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ._allocator import Grant
from ._model import Gpu
from ._request import GpuRequest

__all__ = ["Allocation", "Explanation", "build_env", "enforcement_of", "mig_device_name",
           "needs_mps"]  # fmt: skip


def needs_mps(gpus: Sequence[Gpu], grant: Grant) -> bool:
    """A share the MPS server must hold: an MPS share, or a memory share on NVIDIA."""
    return gpus[0].vendor == "nvidia" and (
        grant.mode == "mps" or (grant.mode == "shared" and grant.memory_mb > 0)
    )


def enforcement_of(gpus: Sequence[Gpu], grant: Grant) -> str:
    """How the grant is held when no MPS daemon is involved (see Allocation.enforcement)."""
    if grant.mode == "reserve":
        return "reservation"
    if grant.mig is not None:
        return "mig"
    if grant.mode == "exclusive":
        return "whole GPU"
    if grant.mode == "time_slice":
        return "none: time-slicing shares time only; memory and faults are not isolated"
    if gpus[0].vendor != "nvidia":
        return f"none: {gpus[0].vendor} has no per-process GPU memory cap; the share is booked"
    return "none: no MPS daemon"


@dataclass(frozen=True, slots=True)
class Allocation:
    """GPUs granted to ``owner``. ``gpu_id`` is the first (the only one, usually)."""

    owner: str
    gpu_ids: tuple[str, ...]
    uuids: tuple[str | None, ...]
    request: GpuRequest
    sharing: str  # exclusive, shared, mps, time_slice or mig
    memory_mb: int  # reserved on each GPU (a MIG slice: its memory)
    env: dict[str, str]
    created_at: float
    mig_device: str | None = None  # the MIG device's UUID (or key) for a MIG slice
    mig_profile: str | None = None
    pids: tuple[int, ...] = field(default=())
    # How the share is held: "whole GPU", "mig", "mps" (the MPS server caps memory and
    # SMs), "reservation" (a cluster's pool), or "none: <why>" (bookkeeping only).
    enforcement: str = ""

    @property
    def gpu_id(self) -> str:
        return self.gpu_ids[0]

    def as_dict(self) -> dict[str, object]:
        return {
            "owner": self.owner,
            "gpu_id": self.gpu_id,
            "gpu_ids": list(self.gpu_ids),
            "uuids": list(self.uuids),
            "sharing": self.sharing,
            "memory_mb": self.memory_mb,
            "mig_device": self.mig_device,
            "mig_profile": self.mig_profile,
            "env": dict(self.env),
            "created_at": self.created_at,
            "enforcement": self.enforcement,
            "request": self.request.as_dict(),
        }


class Explanation:
    """Whether a request fits now, and the reasons when it does not. ``str()`` reads well."""

    def __init__(self, fits: bool, reasons: list[str], gpu_ids: tuple[str, ...] = ()) -> None:
        self.fits = fits
        self.reasons = reasons
        self.gpu_ids = gpu_ids

    def __bool__(self) -> bool:
        return self.fits

    def __str__(self) -> str:
        if self.fits:
            return f"fits: would get {', '.join(self.gpu_ids)}"
        return "does not fit: " + "; ".join(self.reasons)

    def __repr__(self) -> str:
        return f"Explanation({self!s})"


def mig_device_name(gpu: Gpu, grant: Grant) -> str:
    """The MIG device as CUDA names it: its UUID, or the pre-R470 ``MIG-<GPU UUID>/<GI>/<CI>``
    form when the tool (an old XML schema) did not report MIG UUIDs."""
    assert grant.mig is not None
    if grant.mig.uuid:
        return grant.mig.uuid
    return f"MIG-{gpu.uuid or gpu.index}/{grant.mig.gpu_instance_id}/0"


def build_env(gpus: Sequence[Gpu], grant: Grant, request: GpuRequest) -> dict[str, str]:
    env = {"CONSTELLATION_GPU_IDS": ",".join(g.id for g in gpus)}
    vendor = gpus[0].vendor
    if vendor == "nvidia":
        if grant.mig is not None:
            devices = mig_device_name(gpus[0], grant)
        else:
            devices = ",".join(g.uuid or str(g.index) for g in gpus)
        env["CUDA_VISIBLE_DEVICES"] = devices
        env["NVIDIA_VISIBLE_DEVICES"] = devices
        if grant.mode in ("mps", "shared"):
            if request.compute_share is not None:
                env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = str(request.compute_share)
            if grant.memory_mb:
                limits = ",".join(f"{i}={grant.memory_mb}M" for i in range(len(gpus)))
                env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = limits
    elif vendor == "amd":
        # Indices, not rocm-smi's "Unique ID": ROCr wants "GPU-<hex>" and the tools
        # print the id in other spellings; the enumeration order is the same.
        env["ROCR_VISIBLE_DEVICES"] = ",".join(str(g.index) for g in gpus)
        env["HIP_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(gpus)))
    else:
        env["ZE_AFFINITY_MASK"] = ",".join(str(g.index) for g in gpus)
    return env
