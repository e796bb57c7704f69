"""Timer schedules: cron expressions, macros and rates, parsed and validated.

``schedule`` is a 5-field cron expression, a macro (``@hourly``, ``@daily``,
``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``, ``@annually``) or
``rate(N unit)`` with unit second(s), minute(s), hour(s) or day(s); a rate counts from
the trigger's creation. :func:`validate_timer` checks a whole timer trigger spec.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ValidationError

__all__ = ["MACROS", "Schedule", "parse_schedule", "validate_timer"]

MACROS = ("@annually", "@daily", "@hourly", "@midnight", "@monthly", "@weekly", "@yearly")
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)$")
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: ``latest_due`` and ``next_after`` in unix seconds."""

    expression: str
    timezone: str
    period_s: float | None  # a rate; None for cron
    anchor: float  # a rate counts from here

    def next_after(self, t: float) -> float:
        if self.period_s is not None:
            k = math.floor((t - self.anchor) / self.period_s) + 1
            return self.anchor + max(k, 1) * self.period_s
        from croniter import croniter  # on first use: about 6 MB a platform may never need

        start = datetime.fromtimestamp(t, ZoneInfo(self.timezone))
        return float(croniter(self.expression, start).get_next(float))

    def latest_due(self, after: float, until: float) -> float | None:
        """The latest scheduled time in ``(after, until]``, or None."""
        if self.period_s is not None:
            k = math.floor((until - self.anchor) / self.period_s)
            due = self.anchor + k * self.period_s
        else:
            from croniter import croniter

            # get_prev is strictly before its start: nudge so `until` itself counts.
            start = datetime.fromtimestamp(until + 1e-3, ZoneInfo(self.timezone))
            due = float(croniter(self.expression, start).get_prev(float))
        return due if after < due <= until and due > self.anchor - 1e-9 else None


def parse_schedule(expression: Any, timezone: str = "UTC", anchor: float = 0.0) -> Schedule:
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError(
            "trigger.schedule", f"{expression!r} must be a cron expression, a macro or rate()"
        )
    text = " ".join(expression.split())
    rate = _RATE.match(text)
    if rate:
        amount = int(rate.group(1))
        if amount < 1:
            raise ValidationError("trigger.schedule", f"{text!r}: the rate must be at least 1")
        return Schedule(text, timezone, float(amount * _UNIT_S[rate.group(2)]), anchor)
    from croniter import croniter

    if text.startswith("@"):
        if text not in MACROS:
            raise ValidationError.choice("trigger.schedule", text, MACROS)
    elif len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise ValidationError(
            "trigger.schedule",
            f"{text!r} is not a 5-field cron expression (minute hour day month weekday), "
            f"a macro ({', '.join(MACROS)}) or rate(N minutes|hours|days|seconds)",
        )
    return Schedule(text, timezone, None, anchor)


def _check_timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("trigger.timezone", f"{value!r} must be an IANA name like 'UTC'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "trigger.timezone", f"{value!r} is not a known IANA time zone (e.g. 'Europe/Paris')"
        ) from None
    return value


def validate_timer(spec: Mapping[str, Any]) -> dict[str, Any]:
    allowed = ("type", "schedule", "timezone", "catch_up", "allow_overlap", "event")
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValidationError(
            f"trigger.{unknown[0]}",
            f"unknown option for a timer trigger; allowed: {', '.join(sorted(allowed))}",
        )
    if "schedule" not in spec:
        raise ValidationError("trigger.schedule", "required for a timer trigger, e.g. '0 * * * *'")
    tz = _check_timezone(spec.get("timezone", "UTC"))
    schedule = parse_schedule(spec["schedule"], tz)
    for flag in ("catch_up", "allow_overlap"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise ValidationError(f"trigger.{flag}", f"{spec[flag]!r} must be true or false")
    return {
        "type": "timer",
        "schedule": schedule.expression,
        "timezone": tz,
        "catch_up": spec.get("catch_up", True),
        "allow_overlap": spec.get("allow_overlap", False),
        "event": spec.get("event"),
    }
