"""Errors of the serverless package.

    ConstellationError                      (constellation.errors)
    └── ServerlessError                     root of this package

An instance that cannot start raises :class:`constellation.backends.InstanceStartError`
(re-exported here): the backend that starts instances owns it.

Bad input raises :class:`constellation.errors.ValidationError`; an unknown function,
invocation or instance raises :class:`constellation.errors.NotFoundError`. A failing
handler is not an exception: ``invoke_sync`` returns a result with ``status`` and ``error``.
"""

from __future__ import annotations

from ..errors import ConstellationError

__all__ = ["ServerlessError"]


class ServerlessError(ConstellationError):
    """Root of the serverless package's own errors."""
