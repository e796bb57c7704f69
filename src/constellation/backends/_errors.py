"""Errors of the backends package.

    ConstellationError                          (constellation.errors)
    └── BackendError                            root of this package
        ├── BackendNotInstalled                 the backend's package is missing (also UnavailableError)
        └── BackendUnreachable                  the cluster's address answers nothing (also UnavailableError)

An instance that cannot be placed (no node has the resources it asks for) is not an
exception of this package: its invocation fails with
:class:`constellation.serverless.InstanceStartError`'s message as the result's error.
"""

from __future__ import annotations

from ..errors import ConstellationError, UnavailableError

__all__ = ["BackendError", "BackendNotInstalled", "BackendUnreachable"]


class BackendError(ConstellationError):
    """Root of the backends package's errors."""


class BackendNotInstalled(BackendError, UnavailableError):
    """The backend needs a package that is not installed."""


class BackendUnreachable(BackendError, UnavailableError):
    """The cluster could not be reached at the address given."""
