"""The management REST API's handlers: everything the Python functions API does.

Every answer is JSON; errors use one shape, ``{"error": {"type", "message", "field"?}}``:
400 bad input (the field is named), 404 unknown function/invocation/trigger, 409 a name
or route that is taken, 413 body over the limit, 415 a body that is not JSON, 429
throttled (with Retry-After), 503 the platform is stopping. The service's blocking
calls run on worker threads. Each handler takes ``(request, body, query)``, the body and
query already checked by their models (see :mod:`._operations` and :mod:`._contract`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ClosedError, ConflictError, NotFoundError, ValidationError
from ..serverless import FunctionInfo, ServerlessService, Trigger
from ..triggers import validate_trigger
from . import _schemas as model
from ._asgi import error_body
from ._requests import ApiError, json_response
from ._uploads import remove_uploads, save_upload

__all__ = [
    "add_trigger",
    "billing",
    "create_function",
    "dead_letters",
    "delete_function",
    "delete_trigger",
    "deploy_function",
    "get_function",
    "get_invocation",
    "get_trigger",
    "instances",
    "invoke_function",
    "list_anomalies",
    "list_functions",
    "list_triggers",
    "logs",
    "metrics",
    "on_error",
    "patch_function",
    "redrive",
    "resolve_anomaly",
    "scaling",
    "stats",
]

T = TypeVar("T")
_OPTIONS = (
    "memory_mb",
    "timeout_s",
    "concurrency",
    "env",
    "scaling_policy",
    "resources",
    "gpu",
    "network",
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
async def list_functions(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    infos = await _call(request, service.list_functions)
    return json_response({"functions": [_function_dict(service, f) for f in infos]})


def _create(service: ServerlessService, new: model.NewFunction) -> dict[str, Any]:
    data = new.model_dump(exclude_unset=True)  # what is left out takes the platform's default
    specs = data.get("triggers", [])
    for i, spec in enumerate(specs):  # what a schema cannot say (a cron expression, ...)
        try:
            validate_trigger(spec)
        except ValidationError as exc:
            raise ValidationError(f"triggers[{i}].{exc.field}", exc.message) from None
    if service.registry.find(new.name) is not None:
        raise ConflictError(f"name: a function called {new.name!r} already exists")
    home = service.settings.home
    path = save_upload(home, new.name, new.handler, new.code, new.code_zip)
    options = {k: data[k] for k in _OPTIONS if k in data}
    try:
        info = service.create_function(
            new.name,
            new.runtime,
            new.handler,
            str(path),
            cold_start_optimization=new.cold_start_optimization,
            **options,
        )
    except BaseException:
        remove_uploads(home, new.name)
        raise
    try:
        for spec in specs:
            service.add_trigger(info.id, spec)
        if new.deploy:
            info = service.deploy_function(info.id)
    except BaseException:  # nothing half-created: the function goes with its triggers
        service.delete_function(info.id)
        remove_uploads(home, new.name)
        raise
    return _function_dict(service, info)


async def create_function(request: Request, body: model.NewFunction, query: None) -> Response:
    service = _service(request)
    return json_response(await _call(request, _create, service, body), 201)


async def get_function(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    info = await _call(request, service.get_function, request.path_params["name"])
    return json_response(_function_dict(service, info))


async def patch_function(request: Request, body: model.FunctionChanges, query: None) -> Response:
    # Every value is checked before any is applied; the instances are replaced once.
    service = _service(request)
    name, changes = request.path_params["name"], body.model_dump(exclude_unset=True)
    info = await _call(request, service.update_function, name, changes)
    return json_response(_function_dict(service, info))


async def delete_function(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    info = await _call(request, service.get_function, request.path_params["name"])
    await _call(request, service.delete_function, info.id)
    remove_uploads(service.settings.home, info.name)
    return Response(status_code=204)


async def deploy_function(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    info = await _call(request, service.deploy_function, request.path_params["name"])
    return json_response(_function_dict(service, info))


async def invoke_function(request: Request, event: Any, query: model.InvokeQuery) -> Response:
    service = _service(request)
    name = request.path_params["name"]
    if query.async_:
        rid = await _call(request, service.invoke_async, name, event)
        url = f"/api/v1/invocations/{rid}"
        return json_response({"request_id": rid, "status_url": url}, 202, {"location": url})
    result = await _call(request, service.invoke_sync, name, event, query.timeout_ms)
    if result.status == "throttled":
        body = error_body("Throttled", result.error or "throttled", request_id=result.request_id)
        return json_response(body, 429, {"retry-after": "1"})
    return json_response(result.to_dict(), 200, {"x-request-id": result.request_id})


async def get_invocation(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    inv = await _call(request, service.get_invocation, request.path_params["request_id"])
    return json_response(inv.to_dict())


async def redrive(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    inv = await _call(request, service.redrive, request.path_params["request_id"])
    return json_response(inv.to_dict(), 202)


async def dead_letters(request: Request, body: None, query: model.FunctionQuery) -> Response:
    service = _service(request)
    found = await _call(request, service.list_dead_letters, query.function)
    return json_response({"dead_letters": [d.to_dict() for d in found]})


async def metrics(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    m = await _call(request, service.get_function_metrics, request.path_params["name"])
    return json_response({**m.to_dict(), "success_rate": m.success_rate})


async def billing(request: Request, body: None, query: model.BillingQuery) -> Response:
    service = _service(request)
    name, start, end = request.path_params["name"], query.start, query.end
    bill = await _call(request, service.get_billing, name, start, end)
    return json_response(bill.to_dict())


async def logs(request: Request, body: None, query: model.LimitQuery) -> Response:
    service = _service(request)
    found = await _call(request, service.get_logs, request.path_params["name"], query.limit)
    return json_response({"logs": found})


async def instances(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    found = await _call(request, service.list_instances, request.path_params["name"])
    return json_response({"instances": [i.to_dict() for i in found]})


async def scaling(request: Request, body: None, query: model.ScalingQuery) -> Response:
    """The autoscaler's recent decisions for the function, oldest first, with their inputs."""
    service = _service(request)
    name = request.path_params["name"]
    found = await _call(request, service.get_scaling_decisions, name, query.limit)
    return json_response({"decisions": found})


async def stats(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    return json_response((await _call(request, service.get_serverless_stats)).to_dict())


# -- anomalies ---------------------------------------------------------------------------
async def list_anomalies(request: Request, body: None, query: model.AllQuery) -> Response:
    """Open anomalies (``?all=true``: the history too, newest first)."""
    from .. import anomaly

    registry = anomaly.get_registry()
    found = await _call(request, registry.history if query.all else registry.get_active)
    return json_response({"anomalies": [dataclasses.asdict(a) for a in found]})


async def resolve_anomaly(request: Request, body: None, query: None) -> Response:
    from .. import anomaly

    resolved = await _call(
        request, anomaly.get_registry().resolve, request.path_params["anomaly_id"]
    )
    return json_response(dataclasses.asdict(resolved))


# -- triggers ----------------------------------------------------------------------------
async def add_trigger(request: Request, body: Any, query: None) -> Response:
    service = _service(request)
    spec = body.model_dump(exclude_unset=True)
    trigger = await _call(request, service.add_trigger, request.path_params["name"], spec)
    return json_response(_trigger_dict(service, trigger), 201)


async def list_triggers(
    request: Request, body: None, query: model.FunctionQuery | None
) -> Response:
    service = _service(request)
    name = request.path_params.get("name") or (query.function if query else None)
    found = await _call(request, service.list_triggers, name)
    return json_response({"triggers": [_trigger_dict(service, t) for t in found]})


async def get_trigger(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    trigger = await _call(request, service.triggers.get, request.path_params["trigger_id"])
    return json_response(_trigger_dict(service, trigger))


async def delete_trigger(request: Request, body: None, query: None) -> Response:
    service = _service(request)
    await _call(request, service.remove_trigger, request.path_params["trigger_id"])
    return Response(status_code=204)


# -- errors ------------------------------------------------------------------------------
def _error(status: int, kind: str, message: str, **extra: Any) -> Response:
    headers = {"retry-after": "1"} if status == 429 else None
    return json_response(error_body(kind, message, **extra), status, headers)


async def on_error(request: Request, exc: Exception) -> Response:
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
    if isinstance(exc, HTTPException):  # 404, and 405 with its Allow header
        body = error_body("HTTPError", str(exc.detail))
        return json_response(body, exc.status_code, dict(exc.headers or {}) or None)
    raise exc
