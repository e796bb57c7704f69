"""Trigger specs as the API takes them: a union discriminated by ``type``.

The limits come from :mod:`constellation.triggers.limits`, what the validator behind the
API (``triggers.validate_trigger``) enforces; that validator still decide what a schema cannot say (a cron expression, a
time zone's name, a dead-letter queue that differs from its queue).
"""

from __future__ import annotations

import calendar
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from ..triggers import limits as spec
from ..triggers.limits import (
    DEFAULT_MAX_QUEUED,
    EVENT_FORMATS,
    HTTP_METHODS,
    MACROS,
    MAX_PATH_LENGTH,
    RESERVED_PREFIXES,
)

__all__ = [
    "EventTrigger",
    "HttpTrigger",
    "QueueTrigger",
    "StreamTrigger",
    "Strict",
    "TimerTrigger",
    "TriggerSpec",
    "absent_or_null",
    "optional",
]

_URL_PREFIXES = tuple(p for schemes in spec.URL_SCHEMES.values() for p in schemes)
_URL = "^(" + "|".join(re.escape(p) for p in _URL_PREFIXES) + ")"

# An HTTP route: literal segments or {parameters}, none of them '.' or '..', no parameter
# twice, nothing under the server's own paths (as compile_route checks them).
_SEGMENT = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]+|\{[A-Za-z_][A-Za-z0-9_]*\})"
_GREEDY = r"\{[A-Za-z_][A-Za-z0-9_]*\+\}"  # {proxy+}: the last segment only
_RESERVED = "|".join(re.escape(p.strip("/")) for p in RESERVED_PREFIXES)
_ROUTE = (
    "a path from '/': segments of letters, digits and -._~!$&'()*+,;=:@ or parameters "
    "like {order_id}, a last greedy parameter like {proxy+}; no '.' or '..' segment, no parameter twice, nothing under "
    + ", ".join(RESERVED_PREFIXES)
)
ROUTE_PATTERN = (
    rf"^/(?!(?:{_RESERVED})(?:/|$))(?!(?:.*/)?\.\.?(?:/|$))(?!.*\{{(\w+)\}}.*\{{\1\+?\}})"
    rf"(?:(?:{_SEGMENT}/)*(?:{_SEGMENT}|{_GREEDY})/?)?$"
)


def _cron_field(number: str, names: list[str] | None = None) -> str:
    value = "(?:" + "|".join([number, *(names or [])]) + ")"
    item = rf"(?:\*|{value}(?:-{value})?)(?:/[1-9][0-9]?)?"
    return rf"{item}(?:,{item})*"


def _names(words: list[str]) -> list[str]:
    return [w.upper() for w in words] + [w.lower() for w in words]


# What parse_schedule takes: a macro, rate(N unit) or five cron fields in their ranges.
_CRON = " ".join(
    [
        _cron_field("[1-5]?[0-9]"),
        _cron_field("1?[0-9]|2[0-3]"),
        _cron_field("[1-9]|[12][0-9]|3[01]"),
        _cron_field("[1-9]|1[0-2]", _names(list(calendar.month_abbr[1:]))),
        _cron_field("[0-7]", _names(list(calendar.day_abbr))),
    ]
)
_MACROS = "|".join(m.lstrip("@") for m in MACROS)
_SCHEDULE = (
    "five cron fields (minute hour day month weekday), a macro ("
    + ", ".join(MACROS)
    + ") or rate(N seconds|minutes|hours|days)"
)
SCHEDULE_PATTERN = (
    rf"^(?:@(?:{_MACROS})|rate\([1-9][0-9]{{0,5}} (?:second|minute|hour|day)s?\)|{_CRON})$"
)
# An IANA zone's name; whether the zone is known is the service's check (listing all
# ~600 here would make a client try each one).
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$"


def matching(pattern: str, expected: str) -> Any:
    """A string field's pattern, with an error that says ``expected`` in words (for
    patterns too long to read); the JSON Schema states the pattern itself."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.match(value) is None:
            raise PydanticCustomError("not_allowed", "not allowed", {"expected": expected})
        return value

    return AfterValidator(check)


def absent_or_null(field: str) -> dict[str, Any]:
    """JSON Schema: ``field`` is left out or null."""
    return {"anyOf": [{"not": {"required": [field]}}, {"properties": {field: {"type": "null"}}}]}


class Strict(BaseModel):
    """Unknown fields are refused and no value is coerced (``"5"`` is not 5)."""

    model_config = ConfigDict(strict=True, extra="forbid")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**constraints: Any) -> Any:
    """A field that may be left out but, when given, may not be null."""
    return Field(None, json_schema_extra=_no_default, **constraints)


def _number(name: str) -> Any:
    default, low, high, _ = spec.NUMBERS[name]
    return Field(default, ge=low, le=high)


class HttpTrigger(Strict):
    """Served at ``path`` by ``constellation serve``; ``{name}`` segments are parameters.
    Paths under /api/v1, /healthz, /metrics and /openapi.json are the server's own."""

    type: Literal["http"]
    path: Annotated[str, matching(ROUTE_PATTERN, _ROUTE)] = Field(
        max_length=MAX_PATH_LENGTH,
        examples=["/orders/{order_id}"],
        json_schema_extra={"pattern": ROUTE_PATTERN},
    )
    method: Literal[HTTP_METHODS] = "ANY"  # type: ignore[valid-type]
    max_queued: int = Field(DEFAULT_MAX_QUEUED, ge=0, le=100_000)
    event_format: Literal[EVENT_FORMATS] = Field(  # type: ignore[valid-type]
        "default",
        description="the handler's event: Constellation's (default), or an API Gateway "
        "REST API (apigw-v1) or HTTP API payload 2.0 (apigw-v2) proxy event",
    )


class TimerTrigger(Strict):
    """Runs the function on a cron ``schedule`` in ``timezone`` (an IANA name)."""

    type: Literal["timer"]
    schedule: Annotated[str, matching(SCHEDULE_PATTERN, _SCHEDULE)] = Field(
        examples=["0 * * * *", "@daily", "rate(5 minutes)"],
        description=_SCHEDULE,
        json_schema_extra={"pattern": SCHEDULE_PATTERN},
    )
    timezone: str = Field(
        "UTC", pattern=TIMEZONE_PATTERN, examples=["UTC", "Europe/Paris"], description="IANA"
    )
    catch_up: bool = True
    allow_overlap: bool = False
    event: Any = None


class _Delivery(Strict):
    """What queue, stream and event triggers share: a name and how they deliver."""

    name: str | None = Field(None, pattern=spec.NAME_PATTERN)
    batch_size: int = _number("batch_size")
    max_in_flight: int = _number("max_in_flight")
    visibility_timeout_s: float = _number("visibility_timeout_s")
    max_deliveries: int = _number("max_deliveries")
    retry_delay_s: float = _number("retry_delay_s")


class QueueTrigger(_Delivery):
    """Messages from a queue; the sqlite queue lives in the platform's store (no url)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["broker"], "properties": {"broker": {"enum": ["redis", "nats"]}}},
                absent_or_null("url"),
            ]
        }
    )

    type: Literal["queue"]
    broker: Literal[spec.QUEUE_BROKERS] = "sqlite"  # type: ignore[valid-type]
    queue: str = Field(pattern=spec.QUEUE_PATTERN)
    url: str | None = Field(None, pattern=_URL, description="redis or nats only")
    dead_letter: str = optional(pattern=spec.QUEUE_PATTERN, description="default: <queue>.dlq")
    group: str = optional(
        pattern=spec.NAME_PATTERN,
        description="redis, nats: the consumer group; default: the function's id, so each "
        "function sees every message; functions given one group share its messages",
    )


class StreamTrigger(_Delivery):
    """Records from a Redis stream (``stream``) or a NATS subject (``subject``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["stream"],
                    "not": {"required": ["subject"]},
                    "properties": {
                        "broker": {"const": "redis"},
                        "stream": {"type": "string", "pattern": spec.QUEUE_PATTERN},
                    },
                },
                {
                    "required": ["broker", "subject"],
                    "properties": {
                        "broker": {"const": "nats"},
                        "subject": {"type": "string"},
                        "stream": {"anyOf": [{"pattern": spec.NAME_PATTERN}, {"type": "null"}]},
                    },
                },
            ]
        }
    )

    type: Literal["stream"]
    broker: Literal[spec.STREAM_BROKERS] = "redis"  # type: ignore[valid-type]
    stream: str | None = Field(None, description="redis: required; nats: the JetStream stream")
    subject: str | None = Field(
        None, min_length=1, max_length=200, description="nats only: the subject"
    )
    url: str | None = Field(None, pattern=_URL)
    start: Literal["latest", "earliest"] | Annotated[float, Field(ge=0)] = Field(
        "latest", description="'latest', 'earliest' or a unix timestamp"
    )


class EventTrigger(_Delivery):
    """Events published on the platform whose type matches the ``event_type`` glob."""

    type: Literal["event"]
    event_type: str = Field(pattern=spec.EVENT_TYPE_PATTERN, examples=["order.*"])


TriggerSpec = Annotated[
    HttpTrigger | TimerTrigger | QueueTrigger | StreamTrigger | EventTrigger,
    Field(discriminator="type"),
]
