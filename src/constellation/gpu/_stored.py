"""Stored allocations back onto an allocator: what :class:`GpuManager` replays from its
``gpu_allocations`` rows when it (re)builds its view of the GPUs.

A row names its GPUs by UUID or id and its MIG device by UUID or key; these find them in
the current inventory (None: gone since) and rebuild the grant the row was made with.
Owners named ``cluster:<name>`` hold reservations: whole GPUs in that cluster's pool.
"""

from __future__ import annotations

from ._allocator import Allocator, Grant, mig_key_of
from ._model import Gpu, MigDevice
from ._request import GpuRequest

__all__ = ["RESERVATION_PREFIX", "mig_device_of", "position_of", "reserved_pool", "stored_grant"]

RESERVATION_PREFIX = "cluster:"


def reserved_pool(owner: str) -> str | None:
    """The cluster whose pool ``owner`` reserves GPUs for, or None (not a reservation)."""
    return owner[len(RESERVATION_PREFIX) :] if owner.startswith(RESERVATION_PREFIX) else None


def position_of(allocator: Allocator, key: str) -> int | None:
    """The index of the GPU whose UUID or id is ``key``."""
    for i, gpu in enumerate(allocator.gpus):
        if key in (gpu.uuid, gpu.id):
            return i
    return None


def mig_device_of(gpu: Gpu, key: str) -> MigDevice | None:
    """The MIG device of ``gpu`` whose UUID or key is ``key``."""
    for device in gpu.mig_devices:
        if key in (device.uuid, mig_key_of(gpu, device)):
            return device
    return None


def stored_grant(
    pos: tuple[int, ...], request: GpuRequest, mig: MigDevice | None, owner: str = ""
) -> Grant:
    """The grant a stored row was made with, on the GPUs at ``pos``."""
    pool = reserved_pool(owner)
    if pool is not None:
        return Grant(pos, 0, "reserve", pool=pool)
    if mig is not None:
        return Grant(pos, mig.memory_mb or 0, "mig", mig=mig)
    mode = request.sharing_mode
    return Grant(
        pos,
        request.memory_mb or 0,
        mode,
        request.compute_share or 0,
        request.replicas if mode == "time_slice" else 0,
    )
