"""Triggers through the functions service: validation, route conflicts, persistence, runners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from constellation import serverless
from constellation.errors import ConflictError, NotFoundError, ValidationError
from constellation.platform import Constellation, reset_default_platform
from constellation.serverless import ServerlessService, Trigger
from constellation.triggers import compile_route
from constellation.triggers import validate_trigger as validate_spec

from .._support import wait_until
from .conftest import HANDLERS, make_platform


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/api/orders", "/api/orders"),
        ("/api/orders/", "/api/orders"),
        ("/", "/"),
        ("/a/{order_id}/b", "/a/{order_id}/b"),
    ],
)
def test_http_paths_are_normalised(path: str, normal: str) -> None:
    spec = validate_spec({"type": "http", "path": path, "method": "post"})
    assert spec == {
        "type": "http",
        "path": normal,
        "method": "POST",
        "max_queued": 100,
        "event_format": "default",
    }


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"type": "http"}, "trigger.path", "required"),
        ({"type": "http", "path": "api"}, "trigger.path", "starting with '/'"),
        ({"type": "http", "path": "/a//b"}, "trigger.path", "empty segment"),
        ({"type": "http", "path": "/a/../b"}, "trigger.path", "not allowed"),
        ({"type": "http", "path": "/a/{1x}"}, "trigger.path", "not allowed"),
        ({"type": "http", "path": "/a/{x}/{x}"}, "trigger.path", "twice"),
        ({"type": "http", "path": "/metrics"}, "trigger.path", "reserved"),
        ({"type": "http", "path": "/api/v1/x"}, "trigger.path", "reserved"),
        ({"type": "http", "path": "/" + "a" * 2000}, "trigger.path", "at most"),
        ({"type": "http", "path": "/a", "method": "BREW"}, "trigger.method", "expected one of"),
        ({"type": "http", "path": "/a", "max_queued": -1}, "trigger.max_queued", "0-100000"),
        ({"type": "http", "path": "/a", "verb": "GET"}, "trigger.verb", "allowed"),
        ({"type": "smoke-signal"}, "trigger.type", "expected one of"),
        ({}, "trigger.type", "expected one of"),
    ],
)
def test_bad_specs_name_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_spec(spec)
    assert info.value.field == field and words in info.value.message


def test_not_a_mapping() -> None:
    with pytest.raises(ValidationError, match="expected a mapping"):
        validate_spec(["http"])


def test_route_shapes() -> None:
    a = compile_route("/orders/{id}/items")
    assert a.match(["orders", "7", "items"]) == {"id": "7"}
    assert a.match(["orders", "7"]) is None
    assert a.shape == compile_route("/orders/{other}/items").shape


def test_conflicts_are_refused_and_change_nothing(sls: ServerlessService) -> None:
    f = sls.create_function("f", "python", "echo", HANDLERS)
    g = sls.create_function("g", "python", "echo", HANDLERS)
    sls.add_trigger(f.id, {"type": "http", "path": "/orders/{id}", "method": "POST"})
    for spec in (
        {"type": "http", "path": "/orders/{order}", "method": "POST"},
        {"type": "http", "path": "/orders/{order}/", "method": "ANY"},
    ):
        with pytest.raises(ConflictError, match="conflicts with trigger"):
            sls.add_trigger(g.id, spec)
    assert sls.list_triggers("g") == []
    sls.add_trigger(g.id, {"type": "http", "path": "/orders/{order}", "method": "GET"})
    sls.add_trigger(g.id, {"type": "http", "path": "/orders/new", "method": "POST"})
    sls.add_trigger(g.id, {"type": "timer", "schedule": "@daily"})
    assert [t.type for t in sls.list_triggers("g")] == ["http", "http", "timer"]


def test_triggers_persist_and_go_with_their_function(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_platform(home) as p:
        f = p.serverless.create_function("f", "python", "echo", HANDLERS)
        trigger = p.serverless.add_trigger(f.id, {"type": "http", "path": "/f"})
        assert isinstance(trigger, Trigger) and trigger.id.startswith("trg-")
    with make_platform(home) as p:
        assert p.serverless.list_triggers() == [trigger]
        assert p.serverless.list_triggers("f") == [trigger]
        p.serverless.delete_function("f")
        assert p.serverless.list_triggers() == []
        with pytest.raises(NotFoundError):
            p.serverless.remove_trigger(trigger.id)


def test_remove_trigger(sls: ServerlessService) -> None:
    f = sls.create_function("f", "python", "echo", HANDLERS)
    t = sls.add_trigger(f.id, {"type": "timer", "schedule": "@hourly"})
    assert sls.remove_trigger(t.id) == t
    assert sls.list_triggers() == []
    with pytest.raises(NotFoundError, match="trigger"):
        sls.remove_trigger(t.id)
    with pytest.raises(NotFoundError, match="function"):
        sls.add_trigger("nope", {"type": "timer", "schedule": "@hourly"})


def test_a_runner_trigger_is_started_and_closed_with_its_trigger(sls: ServerlessService) -> None:
    f = sls.create_function("f", "python", "echo", HANDLERS)
    with pytest.raises(ValidationError) as info:
        sls.add_trigger(f.id, {"type": "queue"})
    assert info.value.field == "trigger.queue"
    trigger = sls.add_trigger(f.id, {"type": "queue", "queue": "orders"})
    sls.init()
    assert sls.trigger_runners.running() == [trigger.id]
    sls.remove_trigger(trigger.id)
    assert sls.trigger_runners.running() == []


def test_module_level_trigger_functions(tmp_home: Path) -> None:
    try:
        f = serverless.create_function("m", "python", "echo", HANDLERS)
        t = serverless.add_trigger(f.id, {"type": "http", "path": "/m", "method": "GET"})
        assert serverless.list_triggers("m") == [t]
        serverless.remove_trigger(t.id)
        assert serverless.list_triggers() == []
    finally:
        reset_default_platform()


def test_a_queue_trigger_runs_through_the_triggers_package(
    platform: Constellation,
) -> None:
    from constellation import triggers

    sls = platform.serverless
    f = sls.create_function("consumer", "python", "echo", HANDLERS)
    with pytest.raises(ValidationError) as info:
        sls.add_trigger(f.id, {"type": "queue", "queue": "orders", "batch_size": 0})
    assert info.value.field == "trigger.batch_size"
    trigger = sls.add_trigger(f.id, {"type": "queue", "queue": "orders"})
    assert trigger.spec["broker"] == "sqlite"
    sls.init()
    triggers.publish("orders", {"order_id": 7}, store=platform.store)
    wait_until(
        lambda: sls.get_function_metrics(f.id).successful_invocations, what="the message consumed"
    )
    logs = sls.get_function_metrics(f.id)
    assert logs.successful_invocations == 1
    assert sls.trigger_runners.running() == [trigger.id]
