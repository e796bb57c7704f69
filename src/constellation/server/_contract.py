"""One table of operations makes both the API's routes and its OpenAPI document.

An :class:`Operation` names a method and path, its handler, the pydantic models of its
body and query string, and the models of its answers by status code. From a table of
them, :func:`routes` builds the Starlette routes (one per path, so that a 405 lists
every allowed method in ``Allow``) and :func:`openapi_document` the document served at
``/openapi.json``; no JSON Schema is written by hand. Bodies and queries are validated
by the same models before the handler runs; a failure is a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._invalid import check
from ._requests import read_json

__all__ = ["ERROR_TEXT", "Operation", "error_codes", "routes"]

Handler = Callable[[Request, Any, Any], Awaitable[Response]]
ERROR_TEXT = {
    400: "Bad input; the field is named",
    401: "Missing or wrong bearer token",
    404: "Not found",
    405: "Method not allowed; Allow lists the methods",
    409: "The name or route is taken",
    413: "Body over the limit",
    415: "The body is not application/json",
    429: "Throttled; retry after the Retry-After seconds",
    503: "The platform is stopping",
}
COMMON_ERRORS = (400, 401, 404, 405, 503)
BODY_ERRORS = (409, 413, 415)


@dataclass(frozen=True)
class Operation:
    """One method on one path: what it takes and what it answers."""

    method: str
    path: str
    handler: Handler
    summary: str
    answers: dict[int, Any]  # status -> response model (None: no body)
    body: Any = None  # a model or annotated type; None: no body
    body_required: bool = True
    body_name: str = "body"  # how a bad body as a whole is named in errors
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    headers: dict[int, dict[str, str]] = field(default_factory=dict)  # status -> name: text
    # (status, path parameter, expression): the answer names the object that other
    # operations take as that parameter (an OpenAPI link).
    link: tuple[int, str, str] | None = None
    # A body the handler reads itself, documented per media type (a model or type each);
    # for bodies that are not one JSON model (CloudEvents' content modes).
    content: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.body is not None:
            _ = self.adapter  # built once, now: a bad model fails at import, not on a request

    @cached_property
    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.body)

    @property
    def operation_id(self) -> str:
        words = [w.strip("{}").replace("-", "_") for w in self.path.split("/")[3:] if w]
        return self.method.lower() + "_" + "_".join(words or ["root"])

    async def parse(self, request: Request) -> tuple[Any, Any]:
        """The validated body and query: models, or ValidationError naming the field."""
        query = None
        if self.query is not None:
            query = check(self.query.model_validate, dict(request.query_params), "query")
        if self.body is None:
            return None, query
        data = await read_json(request, required=self.body_required)
        if data is None and not self.body_required:
            return None, query  # no body, or JSON null: the same to an optional body
        validate = partial(self.adapter.validate_python, strict=True)
        return check(validate, data, self.body_name, self.body), query


# -- routes ----------------------------------------------------------------------------
def _endpoint(ops: dict[str, Operation]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        op = ops[method]
        body, query = await op.parse(request)
        return await op.handler(request, body, query)

    return endpoint


def routes(operations: Iterable[Operation]) -> list[Route]:
    """One Starlette route per path, answering each of its operations' methods."""
    by_path: dict[str, dict[str, Operation]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = op
    return [Route(path, _endpoint(ops), methods=list(ops)) for path, ops in by_path.items()]


def error_codes(op: Operation) -> list[int]:
    """The error statuses an operation may answer with, in order."""
    body = BODY_ERRORS if op.body is not None or op.content else ()
    return sorted({*COMMON_ERRORS, *body, *op.errors})
