"""``validate_trigger``: every trigger type's spec checked in one place.

A spec is a mapping with a ``type``: ``http`` (:mod:`._http`), ``timer``
(:mod:`._schedule`), or ``queue``, ``stream`` and ``event`` (:mod:`._broker_spec`). The
result is a new dict with every default filled in; a normalised spec validates to
itself. Bad input raises :class:`~constellation.errors.ValidationError` naming the
field as ``trigger.<field>`` and what is allowed; nothing is stored then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from ._broker_spec import validate_broker_trigger
from ._http import validate_http
from ._schedule import validate_timer

__all__ = ["RUNNER_TYPES", "TRIGGER_TYPES", "validate_trigger"]

TRIGGER_TYPES = ("http", "timer", "queue", "stream", "event")
# The types a TriggerRunner consumes (http is served by the server, timers by the scheduler).
RUNNER_TYPES = ("queue", "stream", "event")


def validate_trigger(spec: Any) -> dict[str, Any]:
    """The normalised spec, or ValidationError naming the offending field."""
    if not isinstance(spec, Mapping):
        raise ValidationError("trigger", f"expected a mapping, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in TRIGGER_TYPES:
        raise ValidationError.choice("trigger.type", kind, TRIGGER_TYPES)
    if kind == "http":
        return validate_http(spec)
    if kind == "timer":
        return validate_timer(spec)
    return validate_broker_trigger(spec)
