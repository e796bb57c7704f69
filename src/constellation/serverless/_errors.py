"""Errors of the serverless package.

    ConstellationError                      (constellation.errors)
    └── ServerlessError                     root of this package
        └── InstanceStartError              an instance (or function zygote) could not start

Bad input raises :class:`constellation.errors.ValidationError`; an unknown function,
invocation or instance raises :class:`constellation.errors.NotFoundError`. A failing
handler is not an exception: ``invoke_sync`` returns a result with ``status`` and ``error``.
"""

from __future__ import annotations

from ..errors import ConstellationError

__all__ = ["InstanceStartError", "ServerlessError"]


class ServerlessError(ConstellationError):
    """Root of the serverless package's own errors."""


class InstanceStartError(ServerlessError):
    """A worker instance or function zygote could not be started."""
