"""The HTTP contract: routes and /openapi.json come from one table and agree; the
models behind it refuse what the document refuses, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route

from constellation.server._app import _SYSTEM_PATHS
from constellation.server._dashboard import DASHBOARD_PATHS, UI_PREFIX
from constellation.server._openapi import openapi_document
from constellation.server._operations import OPERATIONS, PATH_PARAMS, management_app
from constellation.serverless.limits import MEMORY_RANGE
from constellation.triggers.limits import RESERVED_PREFIXES

from .conftest import Served

METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
SOURCE = "def handle(event, context):\n    return event\n"


def _document() -> dict[str, Any]:
    return openapi_document(OPERATIONS, PATH_PARAMS)


def test_the_routes_and_the_document_name_the_same_operations() -> None:
    app = management_app(service=None)  # type: ignore[arg-type]  # routes only
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"  # Starlette answers HEAD wherever GET is
    }
    documented = {
        (method.upper(), path)
        for path, item in _document()["paths"].items()
        for method in item
        if method in METHODS and path not in _SYSTEM_PATHS
    }
    assert served == documented
    system = {p for p in _document()["paths"] if not p.startswith("/api/")}
    assert system == set(_SYSTEM_PATHS)


def test_the_dashboard_and_docs_pages_are_not_api_operations() -> None:
    # They are HTML pages and their data, served beside the API: the document describes
    # only the API and the system paths, and no dashboard path is under /api/.
    documented = set(_document()["paths"])
    assert not documented & DASHBOARD_PATHS
    assert not any(p.startswith(UI_PREFIX) for p in documented)
    assert not any(p.startswith("/api/") for p in DASHBOARD_PATHS)
    # and no HTTP trigger can take them (but "/", which a trigger may keep)
    assert DASHBOARD_PATHS - {"/"} | {UI_PREFIX.rstrip("/")} <= set(RESERVED_PREFIXES)


def test_the_document_uses_the_platforms_limits_and_has_no_dangling_refs() -> None:
    doc = _document()
    schemas = doc["components"]["schemas"]
    memory = schemas["NewFunction"]["properties"]["memory_mb"]
    assert (memory["minimum"], memory["maximum"]) == MEMORY_RANGE
    http = schemas["HttpTrigger"]
    assert http["required"] == ["type", "path"]
    assert schemas["TimerTrigger"]["required"] == ["type", "schedule"]
    body = doc["paths"]["/api/v1/functions/{name}/triggers"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["discriminator"]["propertyName"] == "type"
    text = str(doc)
    refs = {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}
    assert refs <= set(schemas)
    assert "$defs" not in text


def test_every_405_names_the_allowed_methods(served: Served) -> None:
    by_path: dict[str, set[str]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, set()).add(op.method)
    for path, methods in by_path.items():
        url = path.replace("{name}", "nope").replace("{trigger_id}", "t")
        url = url.replace("{request_id}", "r").replace("{anomaly_id}", "a")
        unused = next(m for m in ("PUT", "PATCH", "DELETE", "POST") if m not in methods)
        r = served.client.request(unused, url)
        assert r.status_code == 405, (unused, path)
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert allowed - {"HEAD"} == methods, path
        assert r.json()["error"]["type"] == "HTTPError"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "f", "code": SOURCE, "resources": None}, "resources"),
        ({"name": "f", "code": SOURCE, "memory_mb": None}, "memory_mb"),
        ({"name": "f", "code": SOURCE, "memory_mb": 0}, "memory_mb"),
        ({"name": "f", "code": SOURCE, "memory_mb": "256"}, "memory_mb"),
        ({"name": "f", "code": SOURCE, "triggers": None}, "triggers"),
        ({"name": "f", "code": SOURCE, "triggers": [{"type": "http"}]}, "triggers[0].trigger.path"),
        ({"name": "f", "code": SOURCE, "triggers": [{"path": "/x"}]}, "triggers[0].trigger.type"),
        ({"name": "f", "code": SOURCE, "env": {"1BAD": "x"}}, "env.1BAD"),
        ({"name": "f", "code": SOURCE, "gpu": {"gpu_count": 0}}, "gpu.gpu_count"),
        (
            {"name": "f", "code": SOURCE, "scaling_policy": {"max_instances": 0}},
            "scaling_policy.max_instances",
        ),
        ({"name": "f", "code": None}, "code"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    served: Served, body: dict[str, Any], field: str
) -> None:
    r = served.client.post("/api/v1/functions", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "ValidationError" and error["field"] == field, error
    assert served.client.get("/api/v1/functions").json()["functions"] == []


def test_messages_say_what_is_allowed(served: Served) -> None:
    c = served.client
    r = c.post("/api/v1/functions", json={"name": "f", "code": SOURCE, "memory_mb": 1})
    low, high = MEMORY_RANGE
    assert r.json()["error"]["message"] == f"memory_mb: 1 is out of range; expected {low}-{high}"
    r = c.post("/api/v1/functions", json={"name": "f", "code": SOURCE, "runtime": "rust"})
    assert "'rust' is not allowed; expected 'python' or 'wasm'" in r.json()["error"]["message"]
    r = c.post("/api/v1/functions", json={"name": "f", "code": SOURCE, "colour": "red"})
    assert "unknown field; allowed: name, runtime" in r.json()["error"]["message"]


def test_trigger_bodies_are_named_as_the_service_names_them(served: Served) -> None:
    served.create("t", "echo")
    c = served.client
    cases = [
        ({"type": "http"}, "trigger.path"),
        ({"type": "http", "path": "/api/v1/x"}, "trigger.path"),
        ({"type": "timer", "schedule": "every day"}, "trigger.schedule"),
        ({"type": "queue"}, "trigger.queue"),
        ({"type": "event", "event_type": "a b"}, "trigger.event_type"),
        ({}, "trigger.type"),
        ([], "trigger"),
    ]
    for body, field in cases:
        r = c.post("/api/v1/functions/t/triggers", json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (body, r.text)
    assert c.get("/api/v1/triggers").json()["triggers"] == []


def test_query_strings_are_checked_by_the_same_models(served: Served) -> None:
    served.create("q", "echo")
    c = served.client
    for url, field in [
        ("/api/v1/functions/q/logs?limit=0", "limit"),
        ("/api/v1/functions/q/logs?limit=x", "limit"),
        ("/api/v1/functions/q/billing?start=nan", "start"),
        ("/api/v1/functions/q/invoke?timeout_ms=0", "timeout_ms"),
    ]:
        r = c.request("POST" if "invoke" in url else "GET", url)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (url, r.text)
    assert c.get("/api/v1/functions/q/logs?limit=5").status_code == 200
