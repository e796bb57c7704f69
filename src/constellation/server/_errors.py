"""The server package's errors.

Hierarchy::

    ConstellationError
    └── ServerError                 the HTTP server could not start or was misconfigured
        └── InsecureBindError       --no-auth on an address other than loopback
                                    (also a ValidationError naming the field "host")
"""

from __future__ import annotations

from ..errors import ConstellationError, ValidationError

__all__ = ["InsecureBindError", "ServerError"]


class ServerError(ConstellationError):
    """The server could not start, or its options are inconsistent."""


class InsecureBindError(ServerError, ValidationError):
    """Authentication may only be turned off on a loopback address."""
