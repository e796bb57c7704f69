"""API Gateway proxy events: what a handler written for AWS Lambda behind API Gateway gets.

An HTTP trigger with ``"event_format": "apigw-v1"`` hands its handler the event of an API
Gateway REST API proxy integration; ``"apigw-v2"`` the HTTP API's payload format 2.0.
The shapes are AWS's, field for field (see AWS's "Set up Lambda proxy integrations" and
"Create AWS Lambda proxy integrations for HTTP APIs"): the body is always a string (base64
with ``isBase64Encoded`` when it is not UTF-8), absent parts are ``null`` (v1) or left out
(v2). ``requestContext`` carries a fresh ``requestId`` and the request's time, the stage
``$default``, account ``000000000000`` and api id ``local``.

The handler's answer is read the way API Gateway reads it: v1 wants ``statusCode`` and a
string ``body`` (``headers`` and ``multiValueHeaders`` merged, several ``Set-Cookie``
allowed); v2 also takes ``cookies`` (a list of ``Set-Cookie`` values) and, when the
answer has no ``statusCode``, the shortcut: any JSON value is the body of a 200
``application/json`` response (a string as it is). Anything else is a 502
``BadHandlerResponse``, as API Gateway's "Malformed Lambda proxy response".
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ._asgi import JSON_OPTIONS, Scope

__all__ = ["apigw_event", "apigw_response"]

ACCOUNT_ID = "000000000000"
API_ID = "local"
STAGE = "$default"
_BAD_NAME = re.compile(r'[\x00-\x20\x7f()<>@,;:\\"/\[\]?={}]')
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HIDDEN = ("content-length", "transfer-encoding")
Headers = list[tuple[bytes, bytes]]


# A request id shaped like a UUID: a random per-process part and a counter (uuid4() cost
# ~7 us a request, a third of the event's cost).
_ID_PREFIX = os.urandom(10).hex()
_ID_PREFIX = f"{_ID_PREFIX[:8]}-{_ID_PREFIX[8:12]}-4{_ID_PREFIX[13:16]}-8{_ID_PREFIX[17:20]}"
_id_counter = itertools.count(1)
_clf_cache: tuple[int, str] = (-1, "")


def _request_id() -> str:
    return f"{_ID_PREFIX}-{next(_id_counter) % 16**12:012x}"


def _clf_time(now: float) -> str:
    """API Gateway's ``requestTime``: ``04/Dec/2026:09:26:20 +0000`` (made once a second)."""
    global _clf_cache
    second = int(now)
    if _clf_cache[0] != second:
        _clf_cache = (second, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second)))
    return _clf_cache[1]


def _query(raw: str) -> list[tuple[str, str]]:
    return parse_qsl(raw, keep_blank_values=True) if raw else []


def _body(raw: bytes) -> tuple[str | None, bool]:
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def apigw_event(
    version: str, scope: Scope, route: str, params: dict[str, str], raw: bytes
) -> dict[str, Any]:
    """The ``apigw-v1`` or ``apigw-v2`` event of one request."""
    if version == "apigw-v1":
        return _v1_event(scope, route, params, raw)
    return _v2_event(scope, route, params, raw)


def _request_parts(scope: Scope) -> tuple[list[tuple[str, str]], str, str, str]:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    client = scope.get("client")
    source_ip = client[0] if client else "127.0.0.1"
    user_agent, host = "", "localhost"
    for name, value in headers:
        lower = name.lower()
        if lower == "user-agent":
            user_agent = value
        elif lower == "host":
            host = value
    return headers, source_ip, user_agent, host


def _v1_event(scope: Scope, route: str, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    headers, source_ip, user_agent, host = _request_parts(scope)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # API Gateway keeps the last value of a repeated header
        multi.setdefault(name, []).append(value)
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for key, value in _query(raw_query):
        query[key] = value
        multi_query.setdefault(key, []).append(value)
    body, is_b64 = _body(raw)
    now = time.time()
    method = scope["method"]
    path = scope["path"]
    return {
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "extendedRequestId": None,
            "httpMethod": method,
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "path": path,
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "requestId": _request_id(),
            "requestTime": _clf_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": API_ID,
            "resourcePath": route,
            "stage": STAGE,
        },
        "body": body,
        "isBase64Encoded": is_b64,
    }


def _v2_event(scope: Scope, route: str, params: dict[str, str], raw: bytes) -> dict[str, Any]:
    headers, source_ip, user_agent, host = _request_parts(scope)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":  # v2 moves cookies out of the headers, one per entry
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[lower] = f"{joined[lower]},{value}" if lower in joined else value
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    for key, value in _query(raw_query):
        query[key] = f"{query[key]},{value}" if key in query else value
    body, is_b64 = _body(raw)
    now = time.time()
    method = scope["method"]
    route_key = f"{method} {route}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": scope["path"],
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": scope["path"],
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": _request_id(),
            "routeKey": route_key,
            "stage": STAGE,
            "time": _clf_time(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if body is not None:
        event["body"] = body
    return event


def _header(name: Any, value: Any) -> tuple[bytes, bytes]:
    if not isinstance(name, str) or not name or _BAD_NAME.search(name):
        raise ValueError(f"header name {name!r} is not a valid HTTP header name")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"header {name!r}: {value!r} is not a string")
    text = str(value)
    if _BAD_VALUE.search(text):
        raise ValueError(f"header {name!r}: {text!r} has control characters")
    return name.lower().encode("latin-1"), text.encode("latin-1")


def _headers(out: dict[str, Any]) -> Headers:
    """``headers`` and ``multiValueHeaders`` merged; a name in both takes the latter's."""
    single = out.get("headers") or {}
    multi = out.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise ValueError("headers and multiValueHeaders must be objects")
    taken = {str(k).lower() for k in multi}
    headers: Headers = []
    for name, value in single.items():
        if str(name).lower() not in taken:
            headers.append(_header(name, value))
    for name, values in multi.items():
        if not isinstance(values, list):
            raise ValueError(f"multiValueHeaders[{name!r}] must be a list of strings")
        headers.extend(_header(name, value) for value in values)
    return [h for h in headers if h[0].decode() not in _HIDDEN]


def apigw_response(version: str, out: Any) -> tuple[int, bytes, Headers]:
    """Status, body and headers from a handler's answer; ValueError when malformed."""
    if not (isinstance(out, dict) and "statusCode" in out):
        if version == "apigw-v1":
            raise ValueError("an apigw-v1 response is an object with a statusCode")
        data = out.encode() if isinstance(out, str) else orjson.dumps(out, option=JSON_OPTIONS)
        return 200, data, [(b"content-type", b"application/json")]
    status = out["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status (100-599)")
    headers = _headers(out)
    cookies = out.get("cookies") if version == "apigw-v2" else None
    if cookies is not None:
        if not isinstance(cookies, list):
            raise ValueError("cookies must be a list of Set-Cookie values")
        headers.extend(_header("set-cookie", c) for c in cookies)
    body = out.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
    elif version == "apigw-v2":  # the HTTP API serialises a non-string body
        data = orjson.dumps(body, option=JSON_OPTIONS)
    else:
        raise ValueError(f"body must be a string, not {type(body).__name__}")
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    return status, data, headers
