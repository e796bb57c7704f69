"""The management REST API under ``/api/v1``: everything the Python functions API does.

Every answer is JSON; errors use one shape, ``{"error": {"type", "message", "field"?}}``:
400 bad input (the field is named), 404 unknown function/invocation/trigger, 409 a name
or route that is taken, 413 body over the limit, 415 a body that is not JSON, 429
throttled (with Retry-After), 503 the platform is stopping. The service's blocking
calls run on worker threads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ClosedError, ConflictError, NotFoundError, ValidationError
from ..serverless import FunctionInfo, ServerlessService, Trigger
from ..serverless import _validation as check
from ..triggers import validate_trigger
from ._asgi import error_body
from ._requests import ApiError, flag, json_response, number, object_body, read_json
from ._uploads import remove_uploads, save_upload

__all__ = ["DEFAULT_MAX_API_BODY_BYTES", "management_app"]

DEFAULT_MAX_API_BODY_BYTES = 64 * 1024 * 1024  # room for a base64 code zip
T = TypeVar("T")

CREATE_FIELDS = (
    "name",
    "runtime",
    "handler",
    "code",
    "code_zip",
    "memory_mb",
    "timeout_s",
    "concurrency",
    "env",
    "triggers",
    "scaling_policy",
    "cold_start_optimization",
    "deploy",
    "resources",
    "gpu",
)
PATCH_FIELDS = (
    "memory_mb",
    "timeout_s",
    "concurrency",
    "env",
    "scaling_policy",
    "cold_start_optimization",
    "prewarm_instances",
    "resources",
    "gpu",
)


async def _call(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    limiter = request.app.state.limiter

    def run() -> T:
        return fn(*args, **kwargs)

    return await anyio.to_thread.run_sync(run, limiter=limiter)


def _service(request: Request) -> ServerlessService:
    service: ServerlessService = request.app.state.service
    return service


def _trigger_dict(service: ServerlessService, trigger: Trigger) -> dict[str, Any]:
    data = trigger.to_dict()
    info = service.registry.find(trigger.function_id)
    data["function_name"] = info.name if info else None
    return data


def _function_dict(service: ServerlessService, info: FunctionInfo) -> dict[str, Any]:
    data = info.to_dict()
    data["triggers"] = [_trigger_dict(service, t) for t in service.triggers.list(info.id)]
    return data


# -- functions ---------------------------------------------------------------------------
async def list_functions(request: Request) -> Response:
    service = _service(request)
    infos = await _call(request, service.list_functions)
    return json_response({"functions": [_function_dict(service, f) for f in infos]})


def _create(service: ServerlessService, data: dict[str, Any]) -> dict[str, Any]:
    name = check.check_name(data.get("name"))
    handler = data.get("handler", "handler")
    if not isinstance(handler, str) or not handler:
        raise ValidationError("handler", f"{handler!r} must be 'function' or 'module.function'")
    specs = data.get("triggers") or []
    if not isinstance(specs, list):
        raise ValidationError("triggers", "must be a list of trigger specs")
    for i, spec in enumerate(specs):
        try:
            validate_trigger(spec)
        except ValidationError as exc:
            raise ValidationError(f"triggers[{i}].{exc.field}", exc.message) from None
    if service.registry.find(name) is not None:
        raise ConflictError(f"name: a function called {name!r} already exists")
    home = service.settings.home
    path = save_upload(home, name, handler, data.get("code"), data.get("code_zip"))
    options = {k: data[k] for k in PATCH_FIELDS[:5] if data.get(k) is not None}
    try:
        info = service.create_function(
            name,
            data.get("runtime", "python"),
            handler,
            str(path),
            cold_start_optimization=bool(data.get("cold_start_optimization", False)),
            resources=data.get("resources"),
            gpu=data.get("gpu"),
            **options,
        )
    except BaseException:
        remove_uploads(home, name)
        raise
    try:
        for spec in specs:
            service.add_trigger(info.id, spec)
        if data.get("deploy"):
            info = service.deploy_function(info.id)
    except BaseException:  # nothing half-created: the function goes with its triggers
        service.delete_function(info.id)
        remove_uploads(home, name)
        raise
    return _function_dict(service, info)


async def create_function(request: Request) -> Response:
    data = object_body(await read_json(request, required=True), CREATE_FIELDS)
    service = _service(request)
    return json_response(await _call(request, _create, service, data), 201)


async def get_function(request: Request) -> Response:
    service = _service(request)
    info = await _call(request, service.get_function, request.path_params["name"])
    return json_response(_function_dict(service, info))


def _patch(service: ServerlessService, name: str, data: dict[str, Any]) -> FunctionInfo:
    # Every value is checked before any is applied; the instances are replaced once.
    return service.update_function(name, data)


async def patch_function(request: Request) -> Response:
    data = object_body(await read_json(request, required=True), PATCH_FIELDS)
    service = _service(request)
    info = await _call(request, _patch, service, request.path_params["name"], data)
    return json_response(_function_dict(service, info))


async def delete_function(request: Request) -> Response:
    service = _service(request)
    info = await _call(request, service.get_function, request.path_params["name"])
    await _call(request, service.delete_function, info.id)
    remove_uploads(service.settings.home, info.name)
    return Response(status_code=204)


async def deploy_function(request: Request) -> Response:
    service = _service(request)
    info = await _call(request, service.deploy_function, request.path_params["name"])
    return json_response(_function_dict(service, info))


async def invoke_function(request: Request) -> Response:
    service = _service(request)
    name = request.path_params["name"]
    is_async = flag(request, "async")
    timeout = number(request, "timeout_ms")
    event = await read_json(request, required=False)
    if is_async:
        rid = await _call(request, service.invoke_async, name, event)
        url = f"/api/v1/invocations/{rid}"
        return json_response({"request_id": rid, "status_url": url}, 202, {"location": url})
    ms = None if timeout is None else int(timeout)
    result = await _call(request, service.invoke_sync, name, event, ms)
    if result.status == "throttled":
        body = error_body("Throttled", result.error or "throttled", request_id=result.request_id)
        return json_response(body, 429, {"retry-after": "1"})
    return json_response(result.to_dict(), 200, {"x-request-id": result.request_id})


async def get_invocation(request: Request) -> Response:
    service = _service(request)
    inv = await _call(request, service.get_invocation, request.path_params["request_id"])
    return json_response(inv.to_dict())


async def redrive(request: Request) -> Response:
    service = _service(request)
    inv = await _call(request, service.redrive, request.path_params["request_id"])
    return json_response(inv.to_dict(), 202)


async def dead_letters(request: Request) -> Response:
    service = _service(request)
    found = await _call(request, service.list_dead_letters, request.query_params.get("function"))
    return json_response({"dead_letters": [d.to_dict() for d in found]})


async def metrics(request: Request) -> Response:
    service = _service(request)
    m = await _call(request, service.get_function_metrics, request.path_params["name"])
    return json_response({**m.to_dict(), "success_rate": m.success_rate})


async def billing(request: Request) -> Response:
    service = _service(request)
    start, end = number(request, "start"), number(request, "end")
    bill = await _call(request, service.get_billing, request.path_params["name"], start, end)
    return json_response(bill.to_dict())


async def logs(request: Request) -> Response:
    service = _service(request)
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ValidationError("limit", f"{raw!r} must be an integer 1-1000")
    found = await _call(request, service.get_logs, request.path_params["name"], int(raw))
    return json_response({"logs": found})


async def instances(request: Request) -> Response:
    service = _service(request)
    found = await _call(request, service.list_instances, request.path_params["name"])
    return json_response({"instances": [i.to_dict() for i in found]})


async def scaling(request: Request) -> Response:
    """The autoscaler's recent decisions for the function, oldest first, with their inputs."""
    service = _service(request)
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ValidationError("limit", f"{raw!r} must be an integer 1-1000")
    name = request.path_params["name"]
    found = await _call(request, service.get_scaling_decisions, name, int(raw))
    return json_response({"decisions": found})


async def stats(request: Request) -> Response:
    service = _service(request)
    return json_response((await _call(request, service.get_serverless_stats)).to_dict())


# -- anomalies ---------------------------------------------------------------------------
def _anomaly_dict(a: Any) -> dict[str, Any]:
    return dataclasses.asdict(a)


async def list_anomalies(request: Request) -> Response:
    """Open anomalies (``?all=true``: the history too, newest first)."""
    from .. import anomaly

    registry = anomaly.get_registry()
    if request.query_params.get("all") in ("1", "true"):
        found = await _call(request, registry.history)
    else:
        found = await _call(request, registry.get_active)
    return json_response({"anomalies": [_anomaly_dict(a) for a in found]})


async def resolve_anomaly(request: Request) -> Response:
    from .. import anomaly

    resolved = await _call(
        request, anomaly.get_registry().resolve, request.path_params["anomaly_id"]
    )
    return json_response(_anomaly_dict(resolved))


# -- triggers ----------------------------------------------------------------------------
async def add_trigger(request: Request) -> Response:
    service = _service(request)
    spec = await read_json(request, required=True)
    trigger = await _call(request, service.add_trigger, request.path_params["name"], spec)
    return json_response(_trigger_dict(service, trigger), 201)


async def list_triggers(request: Request) -> Response:
    service = _service(request)
    name = request.path_params.get("name") or request.query_params.get("function")
    found = await _call(request, service.list_triggers, name)
    return json_response({"triggers": [_trigger_dict(service, t) for t in found]})


async def get_trigger(request: Request) -> Response:
    service = _service(request)
    trigger = await _call(request, service.triggers.get, request.path_params["trigger_id"])
    return json_response(_trigger_dict(service, trigger))


async def delete_trigger(request: Request) -> Response:
    service = _service(request)
    await _call(request, service.remove_trigger, request.path_params["trigger_id"])
    return Response(status_code=204)


# -- errors ------------------------------------------------------------------------------
def _error(status: int, kind: str, message: str, **extra: Any) -> Response:
    headers = {"retry-after": "1"} if status == 429 else None
    return json_response(error_body(kind, message, **extra), status, headers)


async def _on_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return json_response(error_body(exc.kind, exc.message), exc.status, exc.headers)
    if isinstance(exc, ValidationError):
        return _error(400, "ValidationError", str(exc), field=exc.field)
    if isinstance(exc, NotFoundError):
        return _error(404, "NotFound", str(exc))
    if isinstance(exc, ConflictError):
        return _error(409, "Conflict", str(exc))
    if isinstance(exc, ClosedError):
        return _error(503, "Unavailable", str(exc))
    if isinstance(exc, HTTPException):
        return _error(exc.status_code, "HTTPError", str(exc.detail))
    raise exc


F = "/api/v1/functions/{name}"
ROUTES = [
    Route("/api/v1/functions", list_functions, methods=["GET"]),
    Route("/api/v1/functions", create_function, methods=["POST"]),
    Route(F, get_function, methods=["GET"]),
    Route(F, patch_function, methods=["PATCH"]),
    Route(F, delete_function, methods=["DELETE"]),
    Route(F + "/deploy", deploy_function, methods=["POST"]),
    Route(F + "/invoke", invoke_function, methods=["POST"]),
    Route(F + "/metrics", metrics, methods=["GET"]),
    Route(F + "/billing", billing, methods=["GET"]),
    Route(F + "/logs", logs, methods=["GET"]),
    Route(F + "/instances", instances, methods=["GET"]),
    Route(F + "/scaling", scaling, methods=["GET"]),
    Route(F + "/triggers", add_trigger, methods=["POST"]),
    Route(F + "/triggers", list_triggers, methods=["GET"]),
    Route("/api/v1/triggers", list_triggers, methods=["GET"]),
    Route("/api/v1/triggers/{trigger_id}", get_trigger, methods=["GET"]),
    Route("/api/v1/triggers/{trigger_id}", delete_trigger, methods=["DELETE"]),
    Route("/api/v1/invocations/{request_id}", get_invocation, methods=["GET"]),
    Route("/api/v1/invocations/{request_id}/redrive", redrive, methods=["POST"]),
    Route("/api/v1/dead-letters", dead_letters, methods=["GET"]),
    Route("/api/v1/stats", stats, methods=["GET"]),
    Route("/api/v1/anomalies", list_anomalies, methods=["GET"]),
    Route("/api/v1/anomalies/{anomaly_id}/resolve", resolve_anomaly, methods=["POST"]),
]


def management_app(
    service: ServerlessService, *, max_body_bytes: int = DEFAULT_MAX_API_BODY_BYTES
) -> Starlette:
    handlers: dict[Any, Any] = {
        ApiError: _on_error,
        ValidationError: _on_error,
        NotFoundError: _on_error,
        ConflictError: _on_error,
        ClosedError: _on_error,
        HTTPException: _on_error,
    }
    app = Starlette(routes=ROUTES, exception_handlers=handlers)
    app.state.service = service
    app.state.max_body_bytes = max_body_bytes
    app.state.limiter = anyio.CapacityLimiter(64)
    return app
