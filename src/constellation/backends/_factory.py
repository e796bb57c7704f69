"""Choosing the backend: this machine's processes, or Ray actors (``settings.backend``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Settings
from ._base import Backend

__all__ = ["GpuAllocate", "GpuRelease", "make_backend"]

# (owner, request) -> the allocation's environment, or ValueError saying why nothing fits
GpuAllocate = Callable[[str, dict[str, Any]], dict[str, str]]
# owner -> give its GPUs back
GpuRelease = Callable[[str], None]


def make_backend(
    settings: Settings,
    clock: Callable[[], float],
    *,
    gpu_allocate: GpuAllocate | None = None,
    gpu_release: GpuRelease | None = None,
    on_code_mismatch: Callable[[str, str], None] | None = None,
) -> Backend:
    """The backend that starts instances. The GPU hooks serve the local backend's GPU
        requests; on Ray, the cluster places GPUs itself. ``on_code_mismatch(function, code_hash)`` hears
    of stored code that no longer matches its hash (the local backend refuses to start it)."""
    if settings.backend == "ray":
        from .ray import RayBackend

        return RayBackend(settings, clock)
    from .local import LocalBackend

    return LocalBackend(
        settings,
        clock,
        gpu_allocate=gpu_allocate,
        gpu_release=gpu_release,
        on_code_mismatch=on_code_mismatch,
    )
