"""GPU support: discover NVIDIA, AMD and Intel GPUs, allocate them to instances, monitor them.

Contract:

* :func:`discover` asks NVML, ``nvidia-smi``, ``amd-smi``, ``rocm-smi`` and ``xpu-smi``
  (each with a timeout) and returns one merged list of :class:`Gpu`; on a machine
  without GPUs it returns ``[]`` and :func:`get_stats` says which backends were tried
  and why none answered. A backend that hangs or prints what does not parse is marked
  failed; discovery goes on with the others.
* :func:`allocate` ``(owner, request)`` returns an :class:`Allocation` (``.gpu_id``,
  ``.env`` for the instance's process) or ``None`` when nothing fits; :func:`explain`
  says why. Allocations are stored in the platform's SQLite store and survive a restart.
  :func:`deallocate` gives them back. A bad request raises
  :class:`~constellation.errors.ValidationError` and allocates nothing.
* :func:`get_utilization`, :func:`get_info` read one GPU; :class:`GpuMonitor` publishes
  readings to :class:`~constellation.telemetry.Telemetry` every N seconds.

The module-level functions act on one default :class:`GpuManager` (SQLite under
``$CONSTELLATION_HOME``), created on first use; :func:`set_manager` installs another.
The platform makes its own manager over its store (``Constellation.gpu``) and hands its
allocate/release to the local backend for functions' GPU requests; it does not install
it as this default. Errors derive from :class:`GpuError`. Imports: the base layer only.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ..config import load_settings
from ..store import Store
from ..telemetry import Telemetry
from ._allocation import Allocation, Explanation
from ._backend import StaticBackend
from ._capture import load_capture
from ._catalog import MIG_TABLES, MigProfile, apply_layout, plan_layout
from ._discovery import Discovery
from ._manager import GpuManager
from ._model import (
    BackendError,
    BackendReport,
    Gpu,
    GpuError,
    GpuProcess,
    MigDevice,
    ParseError,
    ToolFailed,
    ToolMissing,
    ToolTimeout,
    UnknownGpu,
)
from ._monitor import GpuMonitor, GpuSample, read_gpu
from ._mps import MpsDaemon, MpsUnavailable
from ._request import PLACEMENTS, SHARING_MODES, GpuRequest

__all__ = [
    "MIG_TABLES",
    "PLACEMENTS",
    "SHARING_MODES",
    "Allocation",
    "BackendError",
    "BackendReport",
    "Discovery",
    "Explanation",
    "Gpu",
    "GpuError",
    "GpuManager",
    "GpuMonitor",
    "GpuProcess",
    "GpuRequest",
    "GpuSample",
    "MigDevice",
    "MigProfile",
    "MpsDaemon",
    "MpsUnavailable",
    "ParseError",
    "StaticBackend",
    "ToolFailed",
    "ToolMissing",
    "ToolTimeout",
    "UnknownGpu",
    "allocate",
    "apply_layout",
    "can_allocate",
    "deallocate",
    "discover",
    "explain",
    "get_allocation",
    "get_info",
    "get_stats",
    "get_utilization",
    "init",
    "is_running",
    "load_capture",
    "plan_layout",
    "set_manager",
    "shutdown",
]

_lock = threading.Lock()
_manager: GpuManager | None = None
_monitor: GpuMonitor | None = None


def _default() -> GpuManager:
    global _manager
    with _lock:
        if _manager is None:
            _manager = GpuManager(Store(load_settings().db_path))
        return _manager


def set_manager(manager: GpuManager | None) -> None:
    """Install ``manager`` as the default (the platform's), closing nothing."""
    global _manager
    with _lock:
        _manager = manager


def init(telemetry: Telemetry | None = None, interval_s: float = 5.0) -> GpuManager:
    """Discover now and, given ``telemetry``, start the monitor loop."""
    global _monitor
    manager = _default()
    manager.discover()
    if telemetry is not None and _monitor is None:
        _monitor = GpuMonitor(manager, telemetry, interval_s=interval_s)
        _monitor.start()
    return manager


def is_running() -> bool:
    return _manager is not None


def shutdown() -> None:
    """Stop the monitor and close the default manager (idempotent)."""
    global _manager, _monitor
    with _lock:
        monitor, _monitor = _monitor, None
        manager, _manager = _manager, None
    if monitor is not None:
        monitor.stop()
    if manager is not None:
        manager.close()


def discover(refresh: bool = False) -> list[Gpu]:
    return _default().discover(refresh=refresh)


def get_info(gpu_id: object) -> Gpu:
    manager = _default()
    manager.discover()
    return manager.discovery.get(gpu_id)


def get_utilization(gpu_id: object) -> float | None:
    """A fresh utilisation reading in percent (None where the GPU cannot say, as under MIG)."""
    return read_gpu(_default(), gpu_id).utilization


def can_allocate(request: GpuRequest | Mapping[str, Any] | None = None, **kwargs: Any) -> bool:
    return _default().can_allocate(request, **kwargs)


def explain(request: GpuRequest | Mapping[str, Any] | None = None, **kwargs: Any) -> Explanation:
    return _default().explain(request, **kwargs)


def allocate(
    owner: str, request: GpuRequest | Mapping[str, Any] | None = None, **kwargs: Any
) -> Allocation | None:
    return _default().allocate(owner, request, **kwargs)


def deallocate(owner: str) -> bool:
    return _default().deallocate(owner)


def get_allocation(owner: str) -> Allocation | None:
    return _default().get_allocation(owner)


def get_stats() -> dict[str, Any]:
    stats = _default().stats()
    stats["monitor"] = (
        {"running": _monitor.running, "samples": _monitor.samples_taken} if _monitor else None
    )
    return stats
