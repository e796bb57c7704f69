"""The triggers package's errors.

Hierarchy (all under :class:`constellation.errors.ConstellationError`)::

    TriggerError                 root of this package's errors
    ├── BrokerUnavailableError   Redis or NATS cannot be reached at the URL (also UnavailableError)
    └── BrokerError              the broker refused an operation (a JetStream API error, a
                                 Redis command error): the message carries the broker's words

Bad trigger specs and unserialisable messages raise
:class:`constellation.errors.ValidationError` naming the field and what is allowed.
A failing *handler* is not an exception: its delivery is retried, then dead-lettered.
"""

from __future__ import annotations

from ..errors import ConstellationError, UnavailableError

__all__ = ["BrokerError", "BrokerUnavailableError", "TriggerError"]


class TriggerError(ConstellationError):
    """Root of the errors raised by ``constellation.triggers``."""


class BrokerUnavailableError(TriggerError, UnavailableError):
    """The broker (Redis or NATS) cannot be reached; the message names the URL."""

    def __init__(self, broker: str, url: str, reason: object) -> None:
        self.broker = broker
        self.url = url
        super().__init__(f"{broker} at {url} is unavailable: {reason}")


class BrokerError(TriggerError):
    """The broker refused an operation; the message says which and why."""
