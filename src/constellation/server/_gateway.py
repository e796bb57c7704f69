"""HTTP triggers: a request on a trigger's route becomes an event; the result a response.

The event (``event`` in the handler)::

    {"method": "POST", "path": "/api/orders/7", "route": "/api/orders/{order_id}",
     "path_params": {"order_id": "7"}, "query": {"verbose": "1"}, "raw_query": "verbose=1",
     "headers": {"content-type": "application/json", ...},   # lower-case names
     "body": {...},              # JSON decoded when the content type is JSON;
                                 # text as a string; other bytes base64 with
     "is_base64_encoded": false, # this flag set
     "source_ip": "127.0.0.1"}

The handler's return value is the JSON response body (status 200), or a Lambda-proxy
style ``{"statusCode": 201, "headers": {...}, "body": "..." | <JSON>,
"isBase64Encoded": false}``. A trigger with ``"event_format": "apigw-v1"`` or
``"apigw-v2"`` gets API Gateway's proxy events and answers instead (``_apigw.py``).
Failures map to: handler error or crash -> 502, timeout ->
504, throttled (or more than ``max_queued`` requests waiting) -> 429 with Retry-After,
body over the limit -> 413, invalid JSON -> 400, unknown route -> 404, wrong method ->
405. Every response carries ``x-request-id``.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from anyio import CapacityLimiter

from ..errors import ClosedError, NotFoundError
from ..serverless import InvocationResult, ServerlessService
from ._apigw import apigw_event, apigw_response
from ._asgi import (
    JSON_OPTIONS,
    BodyTooLarge,
    Receive,
    Scope,
    Send,
    error_body,
    header,
    read_body,
    send_response,
)
from ._routes import Match, RouteTable, is_traversal

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpTriggerGateway", "build_event", "to_response"]

DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
RETRY_AFTER = [(b"retry-after", b"1")]
_FAILED_STATUS = {"timeout": 504, "throttled": 429}
# RFC 9110 tokens for names; no control characters (CR, LF: response splitting) in values.
_BAD_HEADER_NAME = re.compile(rb'[\x00-\x20\x7f()<>@,;:\\"/\[\]?={}]')
_BAD_HEADER_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# W3C Trace Context: version-traceid-parentid-flags, lower-case hex.
TRACEPARENT = re.compile(rb"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
Response = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, body, headers
BodyReader = Callable[[], Awaitable[bytes]]


def _is_json(content_type: bytes | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(b";", 1)[0].strip().lower()
    return mime == b"application/json" or mime.endswith(b"+json")


def _maybe_json(content_type: bytes | None, body: bytes) -> bool:
    """No content type, or curl's ``-d`` default, with a body that is JSON: decode it."""
    mime = (content_type or b"").split(b";", 1)[0].strip().lower()
    if mime not in (b"", b"application/x-www-form-urlencoded"):
        return False
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def build_event(scope: Scope, match: Match, body: bytes) -> dict[str, Any]:
    """The event for one request; raises ValueError (-> 400) on invalid JSON."""
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]},{text}" if name in headers else text
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    if raw_query:
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
    decoded: Any = None
    is_b64 = False
    if body:
        content_type = header(scope, b"content-type")
        if _is_json(content_type):
            decoded = orjson.loads(body)  # orjson.JSONDecodeError is a ValueError
        elif _maybe_json(content_type, body):
            decoded = orjson.loads(body)
        else:
            try:
                decoded = body.decode("utf-8")
            except UnicodeDecodeError:
                decoded, is_b64 = base64.b64encode(body).decode("ascii"), True
    client = scope.get("client")
    return {
        "method": scope["method"],
        "path": scope["path"],
        "route": match.route,
        "path_params": match.params,
        "query": query,
        "raw_query": raw_query,
        "headers": headers,
        "body": decoded,
        "is_base64_encoded": is_b64,
        "source_ip": client[0] if client else None,
    }


def _proxy_response(out: dict[str, Any]) -> Response:
    status = out.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status (100-599)")
    raw_headers = out.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise ValueError("headers must be an object of strings")
    headers = [
        (str(k).lower().encode("latin-1"), str(v).encode("latin-1"))
        for k, v in raw_headers.items()
        if str(k).lower() not in ("content-length", "transfer-encoding")
    ]
    for name, value in headers:
        if not name or _BAD_HEADER_NAME.search(name) or _BAD_HEADER_VALUE.search(value):
            raise ValueError(f"header {name!r}: {value!r} is not a valid HTTP header")
    body = out.get("body")
    if isinstance(body, str):
        data = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
        default_type = b"text/plain; charset=utf-8"
    elif body is None:
        data, default_type = b"", b"text/plain; charset=utf-8"
    else:
        data, default_type = orjson.dumps(body, option=JSON_OPTIONS), b"application/json"
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", default_type))
    return status, data, headers


def to_response(result: InvocationResult, event_format: str = "default") -> Response:
    """Status, body and headers for an invocation's result."""
    rid = [(b"x-request-id", result.request_id.encode())]
    if result.status == "success":
        out = result.output
        if event_format != "default" or (isinstance(out, dict) and "statusCode" in out):
            try:
                if event_format == "default":
                    status, data, headers = _proxy_response(out)
                else:
                    status, data, headers = apigw_response(event_format, out)
            except (ValueError, TypeError, UnicodeEncodeError) as exc:
                body = error_body("BadHandlerResponse", str(exc), request_id=result.request_id)
                return 502, orjson.dumps(body), [(b"content-type", b"application/json"), *rid]
            return status, data, [*headers, *rid]
        data = orjson.dumps(out, option=JSON_OPTIONS)
        return 200, data, [(b"content-type", b"application/json"), *rid]
    status = _FAILED_STATUS.get(result.status, 502)
    body = error_body(
        result.error_type or result.status,
        result.error or result.status,
        status=result.status,
        request_id=result.request_id,
    )
    extra = RETRY_AFTER if status == 429 else []
    return status, orjson.dumps(body), [(b"content-type", b"application/json"), *rid, *extra]


class HttpTriggerGateway:
    """Serves every HTTP trigger of one serverless service (a raw ASGI callable)."""

    def __init__(
        self,
        service: ServerlessService,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        threads: int = 256,
    ) -> None:
        self._service = service
        self.max_body_bytes = max_body_bytes
        self._limiter = CapacityLimiter(threads)
        self._table = RouteTable([])
        self._version = -1
        self._checked = 0.0
        self._waiting: dict[str, int] = {}
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}  # (route, method, status) -> n

    def routes(self) -> RouteTable:
        registry = self._service.triggers
        now = time.monotonic()
        if now - self._checked >= 1.0:  # another process may have added a route
            self._checked = now
            registry.refresh_if_changed()
        if registry.version != self._version:
            self._version = registry.version
            self._table = RouteTable(registry.list(type="http"))
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry (the lane in ``_lane.py`` calls :meth:`respond` directly)."""
        max_body = self.max_body_bytes

        async def body() -> bytes:
            return await read_body(scope, receive, max_body)

        status, data, headers = await self.respond(scope, body)
        await send_response(send, status, data, headers)

    async def respond(self, scope: Scope, read_body: BodyReader) -> Response:
        """The response to one request. ``scope`` needs ``method``, ``path``,
        ``query_string`` and ``headers`` (``client`` when known); ``read_body`` is
        awaited once the route is known, and raises :class:`BodyTooLarge` over the limit."""
        path = scope["path"]
        if is_traversal(path):
            return _error(400, "BadPath", "'.', '..', NUL and '\\' are refused")
        found = self.routes().resolve(scope["method"], path)
        if found is None:
            return _error(404, "NotFound", f"no route for {path}")
        if isinstance(found, list):
            allow = [(b"allow", ", ".join(found).encode())]
            return _error(405, "MethodNotAllowed", "allowed: " + ", ".join(found), allow)
        response = await self._serve(scope, read_body, found)
        key = (found.route, scope["method"], response[0])
        self.requests[key] = self.requests.get(key, 0) + 1
        return response

    async def _serve(self, scope: Scope, read_body: BodyReader, match: Match) -> Response:
        try:
            body = await read_body()
        except BodyTooLarge:
            message = f"the body is over the limit of {self.max_body_bytes} bytes"
            return _error(413, "PayloadTooLarge", message)
        trigger = match.trigger
        event_format = trigger.spec.get("event_format", "default")
        if event_format == "default":
            try:
                event = build_event(scope, match, body)
            except ValueError as exc:
                return _error(400, "InvalidJSON", f"the body is not JSON: {exc}")
        else:
            event = apigw_event(event_format, scope, match.route, match.params, body)
        fid = trigger.function_id
        try:
            info = self._service.get_function(fid)
        except NotFoundError:
            self._service.trigger_service.remove_for_function(fid)  # its timers and runners too
            return _error(404, "NotFound", f"no route for {scope['path']}")
        limit = min(info.concurrency, info.scaling_policy.max_instances)
        with self._lock:
            waiting = self._waiting.get(trigger.id, 0)
            over = waiting >= limit + trigger.spec.get("max_queued", 100)
            if not over:
                self._waiting[trigger.id] = waiting + 1
        if over:
            message = f"function {info.name!r} is at its concurrency limit and queue"
            return _error(429, "Throttled", message, RETRY_AFTER)
        try:
            result = await self._service.invoke_awaitable(
                fid,
                event,
                limiter=self._limiter,
                trace_parent=_trace_parent(scope),
                trigger="http",
            )
        except NotFoundError:
            return _error(404, "NotFound", f"no route for {scope['path']}")
        except ClosedError:
            return _error(503, "Unavailable", "the platform is stopping")
        finally:
            with self._lock:
                self._waiting[trigger.id] -= 1
        return to_response(result, event_format)


def _trace_parent(scope: Scope) -> str | None:
    """The request's W3C ``traceparent`` when it is well-formed (it reaches the handler)."""
    value = header(scope, b"traceparent")
    if value is None or not TRACEPARENT.match(value):
        return None
    return value.decode("ascii")


def _error(
    status: int, kind: str, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> Response:
    data = orjson.dumps(error_body(kind, message), option=JSON_OPTIONS)
    return status, data, [(b"content-type", b"application/json"), *(extra or [])]
