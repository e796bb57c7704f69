"""``POST /api/v1/events``: CloudEvents in over HTTP (the HTTP protocol binding 1.0).

Three content modes, told apart by the ``Content-Type``:

* **structured** (``application/cloudevents+json``): the body is one event in the JSON
  format, its data in ``data`` (or ``data_base64``);
* **batch** (``application/cloudevents-batch+json``): the body is a JSON array of such
  events;
* **binary** (anything else): the attributes are ``ce-*`` headers (percent-encoded
  values), the body is the data and its ``Content-Type`` the ``datacontenttype``.

Each event is checked (``specversion`` 1.0, non-empty ``id``, ``source`` and ``type``,
extension names of lower-case letters and digits); the first one wrong is a 400 whose
``field`` names the attribute (``[2].source`` in a batch). A request with the server's
token reaches every matching trigger; one with an event trigger's key (:func:`trigger_key`,
``GET /api/v1/triggers/{id}/key``) reaches that trigger only. Accepted events go, in one
transaction, to the event triggers whose glob matches their type, as ``serverless.emit``
sends them, with their own ids, sources and extensions (``traceparent`` reaches the
handler's ``context.trace_parent``). The answer is 202 with the ids and, per event, how
many triggers it reached. The Python SDK (``cloudevents``) is not needed here: the
binding is a few rules, and the errors must name the attribute.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ValidationError
from ..serverless import ServerlessService
from ._requests import ApiError, json_response, read_bytes

__all__ = [
    "CONTENT",
    "Accepted",
    "TriggerKey",
    "get_trigger_key",
    "parse_events",
    "post_events",
    "trigger_for_key",
    "trigger_key",
]

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED = ("id", "source", "specversion", "type")
MAX_BATCH = 1000
_EXTENSION = re.compile(r"^[a-z0-9]{1,20}$")
_TEXT = re.compile(r"^(text/|application/(xml|x-www-form-urlencoded))")


class CloudEvent(BaseModel):
    """A CloudEvent in the JSON format (structured mode); extensions are further keys."""

    model_config = ConfigDict(extra="allow")

    specversion: str = Field(examples=["1.0"])
    id: str = Field(min_length=1, examples=["A234-1234-1234"])
    source: str = Field(min_length=1, examples=["/shop"])
    type: str = Field(min_length=1, examples=["order.created"])
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    time: str | None = Field(None, description="RFC 3339")
    data: Any = None
    data_base64: str | None = None


class TriggerKey(BaseModel):
    """A credential for ``POST /api/v1/events`` that reaches this one event trigger."""

    trigger_id: str
    key: str = Field(description="send as 'Authorization: Bearer <key>'")


class Accepted(BaseModel):
    """What came in: the events' ids, and how many event triggers each reached."""

    ids: list[str]
    delivered: list[int]


# The request body as /openapi.json documents it (the handler reads it itself).
CONTENT: dict[str, Any] = {STRUCTURED: CloudEvent, BATCH: list[CloudEvent], "*/*": bytes}


def _string(event: dict[str, Any], name: str, where: str) -> None:
    value = event.get(name)
    if value is None:
        raise ValidationError(f"{where}{name}", "required CloudEvents attribute is missing")
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{where}{name}", f"{value!r} must be a non-empty string")


def check_event(event: Any, where: str = "") -> dict[str, Any]:
    """One event's attributes checked (the field named as ``<where><attribute>``)."""
    if not isinstance(event, dict):
        raise ValidationError(where.rstrip(".") or "body", "a CloudEvent is a JSON object")
    for name in REQUIRED:
        _string(event, name, where)
    if event["specversion"] != "1.0":
        raise ValidationError(f"{where}specversion", f"{event['specversion']!r}; expected '1.0'")
    for name in event:
        if name not in ("data", "data_base64") and not _EXTENSION.match(name):
            raise ValidationError(
                f"{where}{name}", "attribute names are 1-20 lower-case letters or digits"
            )
    if "data" in event and "data_base64" in event:
        raise ValidationError(f"{where}data_base64", "give data or data_base64, not both")
    if "time" in event:
        _check_time(event["time"], f"{where}time")
    return event


def _check_time(value: Any, field: str) -> None:
    try:
        datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an RFC 3339 timestamp") from None


def _binary(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    event: dict[str, Any] = {
        name[3:]: unquote(value) for name, value in headers.items() if name.startswith("ce-")
    }
    content_type = headers.get("content-type")
    if content_type:
        event["datacontenttype"] = content_type
    if body:
        mime = (content_type or "").split(";", 1)[0].strip().lower()
        if mime == "application/json" or mime.endswith("+json"):
            try:
                event["data"] = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ValidationError("data", f"the body is not JSON: {exc}") from None
        elif not mime and _is_json(body):  # no type: JSON if it parses (the JSON format's default)
            event["data"] = orjson.loads(body)
        elif not mime or _TEXT.match(mime):
            try:
                event["data"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["data_base64"] = base64.b64encode(body).decode("ascii")
        else:
            event["data_base64"] = base64.b64encode(body).decode("ascii")
    return check_event(event)


def _is_json(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def _json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "InvalidJSON", f"the body is not JSON: {exc}") from None


def parse_events(headers: dict[str, str], body: bytes) -> list[dict[str, Any]]:
    """The events of one request (lower-case header names), checked."""
    mime = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime == STRUCTURED:
        return [check_event(_json_body(body))]
    if mime == BATCH:
        events = _json_body(body)
        if not isinstance(events, list):
            raise ValidationError("body", "a batch is a JSON array of CloudEvents")
        if not 1 <= len(events) <= MAX_BATCH:
            raise ValidationError("body", f"a batch holds 1-{MAX_BATCH} events")
        return [check_event(e, f"[{i}].") for i, e in enumerate(events)]
    return [_binary(headers, body)]


def trigger_key(token: str, trigger_id: str) -> str:
    """The event trigger's ingress key: its id and an HMAC of it under the server token
    (nothing is stored; a new token makes new keys)."""
    mac = hmac.new(token.encode(), b"events:" + trigger_id.encode(), hashlib.sha256)
    return f"{trigger_id}.{mac.hexdigest()[:40]}"


def trigger_for_key(token: str, key: str) -> str | None:
    """The trigger id a well-formed, authentic key is for; otherwise None."""
    trigger_id, _, _ = key.partition(".")
    if not trigger_id or not hmac.compare_digest(trigger_key(token, trigger_id), key):
        return None
    return trigger_id


async def get_trigger_key(request: Request, body: None, query: None) -> Response:
    service: ServerlessService = request.app.state.service
    token: str | None = getattr(request.app.state, "token", None)
    trigger_id = request.path_params["trigger_id"]
    trigger = await anyio.to_thread.run_sync(service.trigger_service.registry.get, trigger_id)
    if trigger.type != "event":
        raise ValidationError(
            "trigger_id", f"{trigger_id} is a {trigger.type} trigger; keys are for event triggers"
        )
    if token is None:
        raise ApiError(409, "NoAuth", "the server runs without a token: no key is needed")
    return json_response(
        TriggerKey(trigger_id=trigger_id, key=trigger_key(token, trigger_id)).model_dump()
    )


async def post_events(request: Request, body: None, query: None) -> Response:
    raw = await read_bytes(request)
    events = parse_events(dict(request.headers), raw)
    service: ServerlessService = request.app.state.service
    only = request.scope.get("state", {}).get("event_trigger")  # came with a trigger's key
    emit = functools.partial(service.emit_cloudevents, events, trigger_id=only)
    delivered = await anyio.to_thread.run_sync(emit, limiter=request.app.state.limiter)
    accepted = Accepted(ids=[e["id"] for e in events], delivered=delivered)
    return json_response(accepted.model_dump(), 202)
