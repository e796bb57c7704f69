"""The management API's operations, in one table: the routes and ``/openapi.json``
are both made from it (see :mod:`._contract`), so they cannot drift apart."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from ..errors import ClosedError, ConflictError, NotFoundError, ValidationError
from ..serverless import ServerlessService
from . import _api as api
from . import _cloudevents as cloudevents
from . import _responses as out
from . import _schemas as model
from ._contract import Operation, routes
from ._requests import ApiError
from ._trigger_specs import TriggerSpec

__all__ = ["DEFAULT_MAX_API_BODY_BYTES", "OPERATIONS", "PATH_PARAMS", "management_app"]

DEFAULT_MAX_API_BODY_BYTES = 64 * 1024 * 1024  # room for a base64 code zip
# -- the table: routes and /openapi.json are made from it ---------------------------------
F = "/api/v1/functions/{name}"
PATH_PARAMS = {"name": {"type": "string", "pattern": model.NAME_PATTERN, "examples": ["hello"]}}
_CREATED = (201, "name", "$response.body#/name")
_LIST = {200: out.TriggerList}
OPERATIONS = [
    Operation(
        "GET", "/api/v1/functions", api.list_functions, "List functions", {200: out.FunctionList}
    ),
    Operation(
        "POST",
        "/api/v1/functions",
        api.create_function,
        "Create a function (code as source text or a base64 zip)",
        {201: out.Function},
        body=model.NewFunction,
        link=_CREATED,
    ),
    Operation("GET", F, api.get_function, "Get a function", {200: out.Function}),
    Operation(
        "PATCH",
        F,
        api.patch_function,
        "Change a function's settings: all are checked, then applied at once",
        {200: out.Function},
        body=model.FunctionChanges,
    ),
    Operation("DELETE", F, api.delete_function, "Delete a function and its triggers", {204: None}),
    Operation(
        "POST", F + "/deploy", api.deploy_function, "Deploy its current code", {200: out.Function}
    ),
    Operation(
        "POST",
        F + "/invoke",
        api.invoke_function,
        "Invoke; the body is the event. ?async=true queues it",
        {200: out.InvocationResult, 202: out.Queued},
        body=Any,
        body_required=False,
        query=model.InvokeQuery,
        errors=(429,),
        headers={
            200: {"X-Request-Id": "the invocation's id"},
            202: {"Location": "where its state is"},
            429: {"Retry-After": "seconds to wait"},
        },
        link=(202, "request_id", "$response.body#/request_id"),
    ),
    Operation("GET", F + "/metrics", api.metrics, "Function metrics", {200: out.FunctionMetrics}),
    Operation(
        "GET",
        F + "/billing",
        api.billing,
        "Bill for invocations started in [start, end] (unix seconds)",
        {200: out.Object},
        query=model.BillingQuery,
    ),
    Operation(
        "GET", F + "/logs", api.logs, "Captured output", {200: out.LogList}, query=model.LimitQuery
    ),
    Operation("GET", F + "/instances", api.instances, "Instances", {200: out.InstanceList}),
    Operation(
        "GET",
        F + "/scaling",
        api.scaling,
        "The autoscaler's recent decisions and their inputs",
        {200: out.DecisionList},
        query=model.ScalingQuery,
    ),
    Operation(
        "POST",
        F + "/triggers",
        api.add_trigger,
        "Add a trigger",
        {201: out.Trigger},
        body=TriggerSpec,
        body_name="trigger",
        link=(201, "trigger_id", "$response.body#/id"),
    ),
    Operation("GET", F + "/triggers", api.list_triggers, "The function's triggers", _LIST),
    Operation(
        "GET",
        "/api/v1/triggers",
        api.list_triggers,
        "Every trigger",
        _LIST,
        query=model.FunctionQuery,
    ),
    Operation(
        "GET", "/api/v1/triggers/{trigger_id}", api.get_trigger, "A trigger", {200: out.Trigger}
    ),
    Operation(
        "DELETE",
        "/api/v1/triggers/{trigger_id}",
        api.delete_trigger,
        "Remove a trigger",
        {204: None},
    ),
    Operation(
        "GET",
        "/api/v1/invocations/{request_id}",
        api.get_invocation,
        "An invocation's state and result",
        {200: out.Invocation},
    ),
    Operation(
        "POST",
        "/api/v1/invocations/{request_id}/redrive",
        api.redrive,
        "Queue a dead invocation again",
        {202: out.Invocation},
    ),
    Operation(
        "GET",
        "/api/v1/dead-letters",
        api.dead_letters,
        "Dead-lettered async invocations",
        {200: out.DeadLetterList},
        query=model.FunctionQuery,
    ),
    Operation(
        "POST",
        "/api/v1/events",
        cloudevents.post_events,
        "CloudEvents in (HTTP binding 1.0: binary with ce-* headers, structured, batch) "
        "to the event triggers whose event_type matches",
        {202: cloudevents.Accepted},
        content=cloudevents.CONTENT,
    ),
    Operation(
        "GET",
        "/api/v1/triggers/{trigger_id}/key",
        cloudevents.get_trigger_key,
        "An event trigger's key for POST /api/v1/events (reaches that trigger only)",
        {200: cloudevents.TriggerKey},
        errors=(409,),
    ),
    Operation("GET", "/api/v1/stats", api.stats, "Platform statistics", {200: out.Object}),
    Operation(
        "GET",
        "/api/v1/anomalies",
        api.list_anomalies,
        "Open anomalies (?all=true: with the history)",
        {200: out.AnomalyList},
        query=model.AllQuery,
    ),
    Operation(
        "POST",
        "/api/v1/anomalies/{anomaly_id}/resolve",
        api.resolve_anomaly,
        "Resolve an anomaly",
        {200: out.Object},
    ),
]


def management_app(
    service: ServerlessService, *, max_body_bytes: int = DEFAULT_MAX_API_BODY_BYTES
) -> Starlette:
    handlers: dict[Any, Any] = {
        ApiError: api.on_error,
        ValidationError: api.on_error,
        NotFoundError: api.on_error,
        ConflictError: api.on_error,
        ClosedError: api.on_error,
        HTTPException: api.on_error,
    }
    app = Starlette(routes=routes(OPERATIONS), exception_handlers=handlers)
    app.state.service = service
    app.state.max_body_bytes = max_body_bytes
    app.state.limiter = anyio.CapacityLimiter(64)
    return app
