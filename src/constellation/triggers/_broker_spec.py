"""Queue, stream and event trigger specs: validated once, normalised with every default.

``validate_broker_trigger`` is pure: it raises :class:`ValidationError` naming the first
bad field (``trigger.<field>``) and what is allowed, or returns a new dict. The runners
read only normalised specs. (:func:`~._validate.validate_trigger` is the entry point for
every trigger type.)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError

__all__ = [
    "DEFAULT_URLS",
    "QUEUE_BROKERS",
    "broker_url",
    "check_queue_name",
    "validate_broker_trigger",
]

QUEUE_BROKERS = ("sqlite", "redis", "nats")
STREAM_BROKERS = ("redis", "nats")
DEFAULT_URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}
_URL_ENV = {"redis": "CONSTELLATION_REDIS_URL", "nats": "CONSTELLATION_NATS_URL"}
_URL_SCHEMES = {"redis": ("redis://", "rediss://", "unix://"), "nats": ("nats://", "tls://")}

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$")
_SUBJECT_TOKEN = re.compile(r"^[A-Za-z0-9_:/-]+$")
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.:/*?\[\]!-]{1,200}$")

# name: (default, low, high, integer?)
_NUMBERS: dict[str, tuple[float, float, float, bool]] = {
    "batch_size": (10, 1, 1000, True),
    "max_in_flight": (4, 1, 1000, True),
    "visibility_timeout_s": (30.0, 0.1, 43200.0, False),
    "max_deliveries": (5, 1, 1000, True),
    "retry_delay_s": (1.0, 0.0, 3600.0, False),
}
_COMMON = {"type", "name", *_NUMBERS}
_ALLOWED = {
    "queue": _COMMON | {"broker", "queue", "url", "dead_letter", "group"},
    "stream": _COMMON | {"broker", "stream", "subject", "url", "start"},
    "event": _COMMON | {"event_type"},
}


def validate_broker_trigger(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a queue, stream or event trigger spec; return it with every default filled in."""
    kind = spec["type"]
    unknown = sorted(set(spec) - _ALLOWED[kind])
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED[kind]))
        raise ValidationError(
            f"trigger.{unknown[0]}", f"unknown option for a {kind} trigger; allowed: {allowed}"
        )
    out: dict[str, Any] = {"type": kind, "name": _name(spec.get("name"))}
    for field, (default, low, high, integer) in _NUMBERS.items():
        value = spec.get(field, default)
        out[field] = _number(f"trigger.{field}", value, low, high, integer)
    if kind == "queue":
        _queue(spec, out)
    elif kind == "stream":
        _stream(spec, out)
    else:
        out["event_type"] = _event_type(spec.get("event_type"))
    return out


def _queue(spec: Mapping[str, Any], out: dict[str, Any]) -> None:
    broker = spec.get("broker", "sqlite")
    if broker not in QUEUE_BROKERS:
        raise ValidationError.choice("trigger.broker", broker, QUEUE_BROKERS)
    out["broker"] = broker
    out["queue"] = check_queue_name("trigger.queue", spec.get("queue"), broker)
    out["url"] = _url(broker, spec.get("url"))
    dead = spec.get("dead_letter", out["queue"] + ".dlq")
    out["dead_letter"] = check_queue_name("trigger.dead_letter", dead, broker)
    if out["dead_letter"] == out["queue"]:
        raise ValidationError("trigger.dead_letter", "must differ from the queue itself")
    out["group"] = _name(spec.get("group", "constellation"), "trigger.group")


def _stream(spec: Mapping[str, Any], out: dict[str, Any]) -> None:
    broker = spec.get("broker", "redis")
    if broker not in STREAM_BROKERS:
        raise ValidationError.choice("trigger.broker", broker, STREAM_BROKERS)
    out["broker"] = broker
    out["url"] = _url(broker, spec.get("url"))
    if broker == "redis":
        if "subject" in spec:
            raise ValidationError(
                "trigger.subject", "a Redis stream trigger names its 'stream', not a subject"
            )
        out["stream"] = check_queue_name("trigger.stream", spec.get("stream"), "redis")
    else:
        out["subject"] = _subject(spec.get("subject"), "trigger.subject")
        stream = spec.get("stream")
        if stream is not None:
            stream = _name(stream, "trigger.stream")
        out["stream"] = stream  # the JetStream stream; found by subject when left out
    out["start"] = _start(spec.get("start", "latest"))


def _name(value: Any, field: str = "trigger.name") -> str | None:
    if value is None and field == "trigger.name":
        return None
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            field, f"{value!r} must be 1-100 characters of letters, digits, '_' or '-'"
        )
    return value


def _number(field: str, value: Any, low: float, high: float, integer: bool) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        noun = "an integer" if integer else "a number"
        raise ValidationError(field, f"{value!r} is not {noun}; expected {low:g}-{high:g}")
    if not low <= value <= high:
        raise ValidationError.range(field, value, low, high)
    return int(value) if integer else float(value)


def check_queue_name(field: str, value: Any, broker: str) -> str:
    """A queue or Redis stream name; for NATS it is also a subject without wildcards."""
    if not isinstance(value, str) or not _QUEUE.match(value):
        raise ValidationError(
            field,
            f"{value!r} must be 1-200 characters of letters, digits and '_.:/-', "
            "not starting with a punctuation mark",
        )
    if broker == "nats":
        _subject(value, field, wildcards=False)
    return value


def _subject(value: Any, field: str = "subject", wildcards: bool = True) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise ValidationError(field, f"{value!r} must be a NATS subject of 1-200 characters")
    tokens = value.split(".")
    for n, token in enumerate(tokens):
        if wildcards and (token == "*" or (token == ">" and n == len(tokens) - 1)):
            continue
        if not _SUBJECT_TOKEN.match(token):
            allowed = "'*' and a final '>' as wildcards" if wildcards else "no wildcards"
            raise ValidationError(
                field,
                f"{value!r} is not a valid subject: tokens between dots must be letters, "
                f"digits or '_:/-' ({allowed})",
            )
    return value


def _url(broker: str, value: Any) -> str | None:
    if broker == "sqlite":
        if value is not None:
            raise ValidationError(
                "trigger.url", "the sqlite queue lives in the platform's store; omit url"
            )
        return None
    if value is None:
        return broker_url(broker)
    if not isinstance(value, str) or not value.startswith(_URL_SCHEMES[broker]):
        schemes = ", ".join(_URL_SCHEMES[broker])
        raise ValidationError("trigger.url", f"{value!r} is not a {broker} URL; expected {schemes}")
    return value


def broker_url(broker: str, url: str | None = None) -> str:
    """``url``, else ``$CONSTELLATION_REDIS_URL`` / ``$CONSTELLATION_NATS_URL``, else localhost."""
    return url or os.environ.get(_URL_ENV[broker]) or DEFAULT_URLS[broker]


def _start(value: Any) -> str | float:
    if value in ("latest", "earliest"):
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(
            "trigger.start",
            f"{value!r} is not allowed; expected 'latest', 'earliest' or a unix timestamp",
        )
    if value < 0:
        raise ValidationError("trigger.start", f"{value!r} is a negative timestamp; expected >= 0")
    return float(value)


def _event_type(value: Any) -> str:
    if not isinstance(value, str) or not _EVENT_TYPE.match(value):
        raise ValidationError(
            "trigger.event_type",
            f"{value!r} must be a glob of 1-200 characters (letters, digits, '._:/-' "
            "and the wildcards '*', '?', '[...]'), e.g. 'order.*'",
        )
    return value
