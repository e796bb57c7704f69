"""Errors raised by Constellation.

Every exception the platform raises on purpose derives from one root, so a caller
can catch them all with ``except ConstellationError``. The hierarchy::

    ConstellationError
    ├── ValidationError        bad input: names the field and what is allowed (also a ValueError)
    │   └── ConfigError        a bad setting from the environment or a config file
    ├── NotFoundError          no such function, instance, invocation, deployment (also a LookupError)
    ├── ConflictError          the name or route is taken, or the object is in the wrong state
    ├── UnavailableError       a runtime, backend or tool that this machine does not have
    └── ClosedError            the platform (or a wrapper around a native handle) was closed

Capability packages add one root of their own under ``ConstellationError``
(``WasmError``, ``GpuError``, ...), with their hierarchy written in their docstring.
A failing *handler* is not an exception of the platform: ``invoke_sync`` returns a
result whose ``status`` and ``error`` say what happened.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ClosedError",
    "ConfigError",
    "ConflictError",
    "ConstellationError",
    "NotFoundError",
    "UnavailableError",
    "ValidationError",
]


class ConstellationError(Exception):
    """Root of every error the platform raises on purpose."""


class ValidationError(ConstellationError, ValueError):
    """Bad input. ``field`` names the offending field; the message says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    @classmethod
    def choice(cls, field: str, value: object, allowed: Iterable[object]) -> ValidationError:
        options = ", ".join(repr(a) for a in allowed)
        return cls(field, f"{value!r} is not allowed; expected one of {options}")

    @classmethod
    def range(
        cls, field: str, value: object, low: float, high: float, unit: str = ""
    ) -> ValidationError:
        suffix = f" {unit}" if unit else ""
        return cls(field, f"{value!r} is out of range; expected {low}-{high}{suffix}")


class ConfigError(ValidationError):
    """A bad setting (environment variable or config file)."""


class NotFoundError(ConstellationError, LookupError):
    """The named object does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")

    def __str__(self) -> str:  # LookupError would repr() the args
        return f"{self.kind} {self.key!r} not found"


class ConflictError(ConstellationError):
    """The name is taken, or the object is in a state that forbids the call."""


class UnavailableError(ConstellationError):
    """A runtime, backend or tool that is not available here; the message says why."""


class ClosedError(ConstellationError):
    """The object was closed and cannot be used any more."""
