"""The OpenAPI 3.0 document served at ``/openapi.json`` (the management API and probes).

Written by hand next to the routes in :mod:`._api`; ``tests/server/test_schemathesis.py``
checks the server against it (no 5xx, every answer matches its schema).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["openapi_document"]

NAME_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_OBJ: dict[str, Any] = {"type": "object"}
_ANY: dict[str, Any] = {}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input; the field is named",
        401: "Missing or wrong bearer token",
        404: "Not found",
        409: "The name or route is taken",
        413: "Body over the limit",
        415: "The body is not application/json",
        429: "Throttled; retry after the Retry-After seconds",
        503: "The platform is stopping",
    }
    out = {str(c): _json(_ref("Error"), text[c]) for c in codes}
    if 429 in codes:
        out["429"]["headers"] = {"Retry-After": {"schema": _INT}}
    return out


_COMMON = (400, 401, 404, 503)
_WITH_BODY = (*_COMMON, 409, 413, 415)


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    params: list[dict[str, Any]] | None = None,
    extra: tuple[int, ...] = (),
) -> dict[str, Any]:
    codes = _WITH_BODY if body is not None else _COMMON
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(*codes, *extra)}}
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body}},
        }
    if params:
        op["parameters"] = params
    return op


def _path_param(
    name: str, pattern: str | None = None, example: str | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 200}
    if pattern:
        schema = {"type": "string", "pattern": pattern}
    param = {"name": name, "in": "path", "required": True, "schema": schema}
    if example is not None:
        param["example"] = example
    return param


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}").replace("-", "_") for w in path.split("/")[3:] if w]
    return method + "_" + "_".join(words or ["root"])


def _add_ids_and_links(paths: dict[str, Any]) -> None:
    """operationIds everywhere, and links from what creates an object to what reads it
    (followed by schemathesis' stateful phase)."""
    for path, item in paths.items():
        for method, op in item.items():
            if method != "parameters":
                op["operationId"] = (
                    _operation_id(method, path)
                    if path.startswith("/api")
                    else method + path.replace("/", "_").replace(".", "_")
                )
    by_param: dict[str, list[str]] = {}
    for path, item in paths.items():
        for method, op in item.items():
            if method == "parameters":
                continue
            for param in re.findall(r"\{(\w+)\}", path):
                by_param.setdefault(param, []).append(op["operationId"])
    sources = [
        ("/api/v1/functions", "post", "201", "name", "$response.body#/name"),
        (
            "/api/v1/functions/{name}/invoke",
            "post",
            "202",
            "request_id",
            "$response.body#/request_id",
        ),
        ("/api/v1/functions/{name}/triggers", "post", "201", "trigger_id", "$response.body#/id"),
    ]
    for path, method, status, param, expression in sources:
        response = paths[path][method]["responses"][status]
        response["links"] = {
            target: {"operationId": target, "parameters": {param: expression}}
            for target in by_param.get(param, [])
        }


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


FN = _path_param("name", NAME_PATTERN, example="hello")
EXAMPLE_FUNCTION = {
    "name": "hello",
    "handler": "main.handler",
    "code": "def handler(event, context):\n    return {'echo': event}\n",
    "triggers": [{"type": "http", "path": "/hello", "method": "POST"}],
}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": _STR, "message": _STR, "field": _STR},
            }
        },
    },
    "ScalingPolicy": {
        "type": "object",
        "properties": {
            "min_instances": _INT,
            "max_instances": _INT,
            "target_concurrency": _NUM,
            "enable_predictive_scaling": {"type": "boolean"},
            "idle_timeout_s": _NUM,
        },
    },
    "TriggerSpec": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": ["http", "timer", "queue", "stream", "event"]},
            "path": _STR,
            "method": _STR,
            "schedule": _STR,
            "timezone": _STR,
        },
    },
    "Trigger": {
        "type": "object",
        "required": ["id", "function_id", "type", "spec", "created_at"],
        "properties": {
            "id": _STR,
            "function_id": _STR,
            "function_name": _NSTR,
            "type": _STR,
            "spec": _OBJ,
            "created_at": _NUM,
        },
    },
    "Function": {
        "type": "object",
        "required": ["id", "name", "runtime", "handler", "status", "version", "triggers"],
        "properties": {
            "id": _STR,
            "name": _STR,
            "runtime": _STR,
            "handler": _STR,
            "memory_mb": _INT,
            "timeout_s": _INT,
            "concurrency": _INT,
            "env": {"type": "object", "additionalProperties": _STR},
            "scaling_policy": _ref("ScalingPolicy"),
            "resources": _ref("Resources"),
            "status": _STR,
            "version": _INT,
            "triggers": {"type": "array", "items": _ref("Trigger")},
        },
    },
    "NewFunction": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "runtime": {"type": "string", "enum": ["python", "wasm"]},
            "handler": _STR,
            "code": {"type": "string", "description": "Python source text"},
            "code_zip": {"type": "string", "description": "a base64-encoded zip"},
            "memory_mb": _INT,
            "timeout_s": _INT,
            "concurrency": _INT,
            "env": {"type": "object", "additionalProperties": _STR},
            "triggers": {"type": "array", "items": _ref("TriggerSpec")},
            "scaling_policy": _ref("ScalingPolicy"),
            "cold_start_optimization": {"type": "boolean"},
            "deploy": {"type": "boolean"},
            "resources": _ref("Resources"),
            "gpu": {
                "type": "object",
                "nullable": True,
                "description": "a GPU request per instance",
            },
        },
        "example": EXAMPLE_FUNCTION,
    },
    "FunctionChanges": {
        "type": "object",
        "properties": {
            "memory_mb": _INT,
            "timeout_s": _INT,
            "concurrency": _INT,
            "env": {"type": "object", "additionalProperties": _NSTR},
            "scaling_policy": _ref("ScalingPolicy"),
            "cold_start_optimization": {"type": "boolean"},
            "prewarm_instances": _INT,
            "resources": _ref("Resources"),
            "gpu": {
                "type": "object",
                "nullable": True,
                "description": "a GPU request per instance",
            },
        },
    },
    "Resources": {
        "type": "object",
        "description": "What each instance asks a Ray cluster for (the ray backend places by "
        "it; the local backend does not use it).",
        "properties": {
            "num_cpus": {"type": "number", "nullable": True, "minimum": 0, "maximum": 1024},
            "num_gpus": {"type": "number", "minimum": 0, "maximum": 64},
            "custom": {"type": "object", "additionalProperties": {"type": "number"}},
        },
    },
    "InvocationResult": {
        "type": "object",
        "required": ["request_id", "status", "duration_ms"],
        "properties": {
            "request_id": _STR,
            "status": _STR,
            "output": _ANY,
            "error": _NSTR,
            "duration_ms": _NUM,
            "billed_duration_ms": _INT,
            "cold_start": {"type": "boolean"},
        },
    },
    "Invocation": {
        "type": "object",
        "required": ["request_id", "state"],
        "properties": {"request_id": _STR, "state": _STR, "attempts": _INT, "error": _NSTR},
    },
}


def openapi_document() -> dict[str, Any]:
    f = "/api/v1/functions/{name}"
    trg = _path_param("trigger_id")
    rid = _path_param("request_id")
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {"summary": "Liveness", "security": [], "responses": {"200": _json(_OBJ)}}
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {"description": "OK", "content": {"text/plain": {"schema": _STR}}}
                },
            }
        },
        "/api/v1/functions": {
            "get": _op("List functions", {"200": _json(_OBJ)}),
            "post": _op(
                "Create a function (code as source text or a base64 zip)",
                {"201": _json(_ref("Function"), "Created")},
                body=_ref("NewFunction"),
            ),
        },
        f: {
            "parameters": [FN],
            "get": _op("Get a function", {"200": _json(_ref("Function"))}),
            "patch": _op(
                "Change a function's settings",
                {"200": _json(_ref("Function"))},
                body=_ref("FunctionChanges"),
            ),
            "delete": _op("Delete a function and its triggers", {"204": {"description": "Gone"}}),
        },
        f + "/deploy": {
            "parameters": [FN],
            "post": _op("Deploy the function's current code", {"200": _json(_ref("Function"))}),
        },
        f + "/invoke": {
            "parameters": [FN],
            "post": _op(
                "Invoke; the body is the event. ?async=true queues it",
                {
                    "200": _json(_ref("InvocationResult")),
                    "202": _json(_OBJ, "Queued: request_id and status_url"),
                },
                body=_ANY,
                body_required=False,
                params=[
                    _query("async", {"type": "boolean"}),
                    _query("timeout_ms", {"type": "integer", "minimum": 1, "maximum": 900000}),
                ],
                extra=(429,),
            ),
        },
        f + "/metrics": {"parameters": [FN], "get": _op("Function metrics", {"200": _json(_OBJ)})},
        f + "/billing": {
            "parameters": [FN],
            "get": _op(
                "Bill for invocations started in [start, end] (unix seconds)",
                {"200": _json(_OBJ)},
                params=[_query("start", _NUM), _query("end", _NUM)],
            ),
        },
        f + "/logs": {
            "parameters": [FN],
            "get": _op(
                "Captured output",
                {"200": _json(_OBJ)},
                params=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})],
            ),
        },
        f + "/instances": {"parameters": [FN], "get": _op("Instances", {"200": _json(_OBJ)})},
        f + "/scaling": {
            "parameters": [FN],
            "get": _op(
                "The autoscaler's recent decisions and their inputs",
                {"200": _json(_OBJ)},
                params=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})],
            ),
        },
        f + "/triggers": {
            "parameters": [FN],
            "get": _op("The function's triggers", {"200": _json(_OBJ)}),
            "post": _op(
                "Add a trigger",
                {"201": _json(_ref("Trigger"), "Created")},
                body=_ref("TriggerSpec"),
            ),
        },
        "/api/v1/triggers": {"get": _op("Every trigger", {"200": _json(_OBJ)})},
        "/api/v1/triggers/{trigger_id}": {
            "parameters": [trg],
            "get": _op("A trigger", {"200": _json(_ref("Trigger"))}),
            "delete": _op("Remove a trigger", {"204": {"description": "Gone"}}),
        },
        "/api/v1/invocations/{request_id}": {
            "parameters": [rid],
            "get": _op("An invocation's state and result", {"200": _json(_ref("Invocation"))}),
        },
        "/api/v1/invocations/{request_id}/redrive": {
            "parameters": [rid],
            "post": _op("Queue a dead invocation again", {"202": _json(_ref("Invocation"))}),
        },
        "/api/v1/dead-letters": {
            "get": _op(
                "Dead-lettered async invocations",
                {"200": _json(_OBJ)},
                params=[_query("function", _STR)],
            )
        },
        "/api/v1/stats": {"get": _op("Platform statistics", {"200": _json(_OBJ)})},
        "/api/v1/anomalies": {
            "get": _op("Open anomalies (?all=true: with the history)", {"200": _json(_OBJ)})
        },
        "/api/v1/anomalies/{anomaly_id}/resolve": {
            "parameters": [_path_param("anomaly_id")],
            "post": _op("Resolve an anomaly", {"200": _json(_OBJ)}),
        },
    }
    _add_ids_and_links(paths)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Constellation management API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
