"""Small raw-ASGI helpers shared by the gateway and the top-level app (the hot path
avoids building Starlette request/response objects)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

__all__ = [
    "BodyTooLarge",
    "Receive",
    "Scope",
    "Send",
    "check_declared_length",
    "error_body",
    "header",
    "read_body",
    "send_bytes",
    "send_json",
    "send_response",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class BodyTooLarge(Exception):
    """The request body is over the limit."""


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one error shape of the server: ``{"error": {"type", "message", ...}}``."""
    return {"error": {"type": kind, "message": message, **extra}}


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_response(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """``headers`` must include the content type; the length is added here."""
    raw = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_bytes(send, status, orjson.dumps(data, option=JSON_OPTIONS), headers=headers)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def check_declared_length(scope: Scope, limit: int) -> None:
    """BodyTooLarge when the request's ``Content-Length`` is already over ``limit``."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it is known to be over ``limit``."""
    check_declared_length(scope, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge()
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
