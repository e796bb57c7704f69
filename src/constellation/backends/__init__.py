"""Backends: where function instances run.

* ``local`` (the default): worker processes forked on this machine
  (:mod:`constellation.serverless`).
* ``ray``: Ray actors on a Ray cluster (:class:`constellation.backends.ray.RayBackend`);
  needs ``pip install 'constellation[ray]'``. Choose it with ``Constellation(backend="ray",
  ray_address=...)``, ``CONSTELLATION_BACKEND=ray`` or ``constellation serve --backend ray``.

Both implement :class:`Backend`; the control plane (registry, pools, autoscaler, ledger,
triggers, gateway) is the same for both and stays in the platform's process.
"""

from __future__ import annotations

from ..config import BACKENDS
from ._base import Backend, Instance
from ._errors import BackendError, BackendNotInstalled, BackendUnreachable

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendNotInstalled",
    "BackendUnreachable",
    "Instance",
]
