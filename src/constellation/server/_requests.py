"""Reading the management API's requests and writing its JSON answers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ._asgi import JSON_OPTIONS

__all__ = ["ApiError", "json_response", "read_bytes", "read_json"]


class ApiError(Exception):
    def __init__(
        self, status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(data, option=JSON_OPTIONS)
    return Response(body, status, headers, media_type="application/json")


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


async def read_bytes(request: Request) -> bytes:
    """The body as it came; 413 when it is over the API's limit."""
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "PayloadTooLarge", f"the body is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "PayloadTooLarge", f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, *, required: bool) -> Any:
    """The JSON body (None when empty and allowed); 400, 413 or 415 otherwise."""
    body = await read_bytes(request)
    if not body.strip():
        if required:
            raise ApiError(400, "ValidationError", "a JSON body is required")
        return None
    content_type = request.headers.get("content-type")
    # curl -d sends application/x-www-form-urlencoded: taken as JSON too.
    if (
        content_type is not None
        and not _is_json(content_type)
        and not content_type.lower().startswith("application/x-www-form-urlencoded")
    ):
        raise ApiError(415, "UnsupportedMediaType", "send the body as application/json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "InvalidJSON", f"the body is not JSON: {exc}") from None
