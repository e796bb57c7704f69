"""Errors raised by ``constellation.deployments``.

Every error derives from :class:`DeploymentError` and from the platform-wide class
of the same kind, so ``except ValidationError`` and ``except DeploymentError`` both work::

    DeploymentError (ConstellationError)
    ├── DeploymentValidationError  (also ValidationError, ValueError) bad spec; names the field
    ├── DeploymentNotFoundError    (also NotFoundError, LookupError)  no such deployment,
    │                                                                 instance or cluster
    ├── DeploymentConflictError    (also ConflictError)               name taken, cluster in use
    └── DeploymentClosedError      (also ClosedError)                 the manager was closed

A script that crashes is not an error of the platform: its instance is restarted (or
marked ``failed``) and ``list_instances`` shows ``last_exit_code`` and ``last_error``.
"""

from __future__ import annotations

from constellation.errors import (
    ClosedError,
    ConflictError,
    ConstellationError,
    NotFoundError,
    ValidationError,
)

__all__ = [
    "DeploymentClosedError",
    "DeploymentConflictError",
    "DeploymentError",
    "DeploymentNotFoundError",
    "DeploymentValidationError",
]


class DeploymentError(ConstellationError):
    """Root of every error raised on purpose by ``constellation.deployments``."""


class DeploymentValidationError(DeploymentError, ValidationError):
    """A bad deployment or cluster spec: ``field`` names it, the message says what is allowed."""


class DeploymentNotFoundError(DeploymentError, NotFoundError):
    """No deployment, instance or cluster by that name or id."""


class DeploymentConflictError(DeploymentError, ConflictError):
    """The name is taken, or the object is in use (a cluster that deployments belong to)."""


class DeploymentClosedError(DeploymentError, ClosedError):
    """The :class:`DeploymentManager` was closed."""
