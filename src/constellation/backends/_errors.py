"""Errors of the backends package.

    ConstellationError                          (constellation.errors)
    └── BackendError                            root of this package
        ├── BackendNotInstalled                 the backend's package is missing (also UnavailableError)
        ├── BackendUnreachable                  the cluster's address answers nothing (also UnavailableError)
        └── InstanceStartError                  an instance (or function zygote) could not start

An instance that cannot start (its code fails to load, no node has the resources it asks
for) raises :class:`InstanceStartError`; the serverless core turns it into a failed
invocation whose error is the message. During an invocation, an instance raises
:class:`InstanceTimedOut` or :class:`InstanceDied`, which are not platform errors: the
serverless core records them as the invocation's ``timeout`` or ``crashed`` status.
"""

from __future__ import annotations

from ..errors import ConstellationError, UnavailableError

__all__ = [
    "BackendError",
    "BackendNotInstalled",
    "BackendUnreachable",
    "InstanceDied",
    "InstanceStartError",
    "InstanceTimedOut",
]


class BackendError(ConstellationError):
    """Root of the backends package's errors."""


class BackendNotInstalled(BackendError, UnavailableError):
    """The backend needs a package that is not installed."""


class BackendUnreachable(BackendError, UnavailableError):
    """The cluster could not be reached at the address given."""


class InstanceStartError(BackendError):
    """A worker instance or function zygote could not be started."""


class InstanceTimedOut(Exception):
    """The handler did not answer in time; the worker has been killed."""


class InstanceDied(Exception):
    """The worker process ended during an invocation; the message says how."""
