"""validate_trigger: defaults filled in, bad fields named with what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from constellation.errors import ValidationError
from constellation.triggers import publish, validate_trigger


def test_queue_defaults() -> None:
    spec = validate_trigger({"type": "queue", "queue": "orders"})
    assert spec == {
        "type": "queue",
        "name": None,
        "broker": "sqlite",
        "queue": "orders",
        "url": None,
        "batch_size": 10,
        "max_in_flight": 4,
        "visibility_timeout_s": 30.0,
        "max_deliveries": 5,
        "retry_delay_s": 1.0,
        "dead_letter": "orders.dlq",
        "group": "constellation",
    }


def test_broker_urls_default_to_localhost_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CONSTELLATION_REDIS_URL", raising=False)
    spec = validate_trigger({"type": "queue", "broker": "redis", "queue": "q"})
    assert spec["url"] == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("CONSTELLATION_NATS_URL", "nats://10.0.0.1:4222")
    spec = validate_trigger({"type": "stream", "broker": "nats", "subject": "a.*"})
    assert spec["url"] == "nats://10.0.0.1:4222"
    assert spec["start"] == "latest" and spec["stream"] is None


def test_stream_and_event_specs() -> None:
    spec = validate_trigger({"type": "stream", "stream": "clicks", "start": "earliest"})
    assert spec["broker"] == "redis" and spec["stream"] == "clicks" and spec["start"] == "earliest"
    spec = validate_trigger({"type": "stream", "broker": "nats", "subject": "x.>", "start": 10})
    assert spec["start"] == 10.0 and spec["subject"] == "x.>"
    spec = validate_trigger({"type": "event", "event_type": "order.*", "name": "fn-1_orders"})
    assert spec["event_type"] == "order.*" and spec["name"] == "fn-1_orders"


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "queue", "queue": "orders", "broker": "redis", "batch_size": 3},
        {"type": "stream", "broker": "nats", "subject": "a.b", "start": 5.5, "name": "s"},
        {"type": "event", "event_type": "*"},
    ],
)
def test_a_normalised_spec_validates_to_itself(spec: dict[str, Any]) -> None:
    once = validate_trigger(spec)
    assert validate_trigger(once) == once


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"type": "smtp"}, "trigger.type", "'http', 'timer', 'queue', 'stream', 'event'"),
        ({"type": "queue"}, "trigger.queue", "1-200 characters"),
        ({"type": "queue", "queue": ""}, "trigger.queue", "1-200 characters"),
        ({"type": "queue", "queue": "a b"}, "trigger.queue", "letters, digits"),
        (
            {"type": "queue", "queue": "q", "broker": "kafka"},
            "trigger.broker",
            "'sqlite', 'redis', 'nats'",
        ),
        ({"type": "queue", "queue": "q", "batch_size": 0}, "trigger.batch_size", "expected 1-1000"),
        (
            {"type": "queue", "queue": "q", "batch_size": 2.5},
            "trigger.batch_size",
            "not an integer",
        ),
        (
            {"type": "queue", "queue": "q", "max_in_flight": True},
            "trigger.max_in_flight",
            "integer",
        ),
        (
            {"type": "queue", "queue": "q", "visibility_timeout_s": -1},
            "trigger.visibility_timeout_s",
            "0.1",
        ),
        (
            {"type": "queue", "queue": "q", "max_deliveries": 1001},
            "trigger.max_deliveries",
            "1-1000",
        ),
        (
            {"type": "queue", "queue": "q", "retry_delay_s": float("nan")},
            "trigger.retry_delay_s",
            "number",
        ),
        ({"type": "queue", "queue": "q", "dead_letter": "q"}, "trigger.dead_letter", "differ"),
        ({"type": "queue", "queue": "q", "url": "redis://x"}, "trigger.url", "omit url"),
        (
            {"type": "queue", "queue": "q", "broker": "redis", "url": "http://x"},
            "trigger.url",
            "redis://",
        ),
        ({"type": "queue", "queue": "a.*", "broker": "nats"}, "trigger.queue", "letters, digits"),
        ({"type": "queue", "queue": "a..b", "broker": "nats"}, "trigger.queue", "valid subject"),
        ({"type": "queue", "queue": "q", "colour": 1}, "trigger.colour", "allowed: batch_size"),
        ({"type": "queue", "queue": "q", "group": "a b"}, "trigger.group", "letters, digits"),
        ({"type": "queue", "queue": "q", "name": "x" * 101}, "trigger.name", "1-100"),
        (
            {"type": "stream", "broker": "sqlite", "stream": "s"},
            "trigger.broker",
            "'redis', 'nats'",
        ),
        (
            {"type": "stream", "stream": "s", "subject": "x"},
            "trigger.subject",
            "names its 'stream'",
        ),
        ({"type": "stream", "broker": "nats"}, "trigger.subject", "NATS subject"),
        (
            {"type": "stream", "stream": "s", "start": "now"},
            "trigger.start",
            "'latest', 'earliest'",
        ),
        ({"type": "stream", "stream": "s", "start": -3}, "trigger.start", ">= 0"),
        ({"type": "stream", "broker": "nats", "subject": ">.a"}, "trigger.subject", "final '>'"),
        ({"type": "event"}, "trigger.event_type", "'order.*'"),
        ({"type": "event", "event_type": "has space"}, "trigger.event_type", "glob"),
    ],
)
def test_bad_specs_name_the_field_and_what_is_allowed(
    spec: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        validate_trigger(spec)
    assert info.value.field == field
    assert words in str(info.value)


def test_not_a_mapping() -> None:
    with pytest.raises(ValidationError, match="expected a mapping"):
        validate_trigger(["queue"])  # type: ignore[arg-type]


def test_validation_does_not_change_the_input() -> None:
    spec = {"type": "queue", "queue": "orders"}
    validate_trigger(spec)
    assert spec == {"type": "queue", "queue": "orders"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"broker": "kafka"}, "broker"),
        ({"url": "x"}, "url"),
    ],
)
def test_publish_checks_its_arguments_before_touching_a_broker(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        publish("orders", {"n": 1}, **kwargs)
    assert info.value.field == field


def test_publish_refuses_a_bad_queue_name() -> None:
    with pytest.raises(ValidationError) as info:
        publish("../etc", 1)
    assert info.value.field == "queue"


@pytest.mark.parametrize(
    "spec", [{"type": "http", "path": "/a"}, {"type": "timer", "schedule": "@hourly"}]
)
def test_start_trigger_refuses_the_types_no_runner_consumes(spec: dict[str, Any]) -> None:
    from constellation.triggers import start_trigger

    with pytest.raises(ValidationError, match="not a runner") as info:
        start_trigger(spec, lambda event: None)
    assert info.value.field == "trigger.type"
