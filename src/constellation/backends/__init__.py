"""Backends: where function instances run.

* ``local`` (the default, :class:`constellation.backends.local.LocalBackend`): worker
  processes forked from zygotes on this machine.
* ``ray`` (:class:`constellation.backends.ray.RayBackend`): Ray actors on a Ray cluster;
  needs ``pip install 'constellation[ray]'``. Choose it with ``Constellation(backend="ray",
  ray_address=...)``, ``CONSTELLATION_BACKEND=ray`` or ``constellation serve --backend ray``.

Both implement :class:`Backend` (``_base.py``): ``launch(FunctionSpec, generation)``
returns a ready :class:`Instance`, which the backend owns: it starts it, carries its
invocations (``invoke_raw``, ``invoke_awaitable``) and ends it. A backend sees only a
function's :class:`FunctionSpec`, never its whole record. :func:`make_backend` picks one
from the settings. The control plane (registry, pools, autoscaler, ledger, triggers,
gateway) is the same for both, stays in the platform's process, and reaches backends
only through these names.

Imports: the base layer (``_runtime`` is the workers' side of the local backend) and,
lazily for WASM functions, :mod:`constellation.wasm`. :mod:`constellation.deployments`
uses :mod:`constellation.backends.ray`'s public helpers for scripts on Ray.
"""

from __future__ import annotations

from ..config import BACKENDS
from ._base import Backend, Instance
from ._errors import (
    BackendError,
    BackendNotInstalled,
    BackendUnreachable,
    InstanceDied,
    InstanceStartError,
    InstanceTimedOut,
)
from ._factory import GpuAllocate, GpuRelease, make_backend
from ._spec import FunctionSpec
from .local import Isolation, detect_isolation

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendNotInstalled",
    "BackendUnreachable",
    "FunctionSpec",
    "GpuAllocate",
    "GpuRelease",
    "Instance",
    "InstanceDied",
    "InstanceStartError",
    "InstanceTimedOut",
    "Isolation",
    "detect_isolation",
    "make_backend",
]
