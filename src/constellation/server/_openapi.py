"""The OpenAPI 3.1 document served at ``/openapi.json``, made from the operation table.

Nothing here is written by hand but the summaries: every schema comes from the pydantic
models named by the :class:`~._contract.Operation` entries (their ``$defs`` become
``components/schemas``), and the paths from the same table that builds the routes.
``tests/server/test_schemathesis.py`` checks the live server against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter

from ._contract import ERROR_TEXT, Operation, error_codes
from ._responses import Error

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)\}")
_ANY_PATH_PARAM: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 200}
_TEXT = {"type": "string"}
_SYSTEM: dict[str, Any] = {
    "/healthz": ("Liveness: status and uptime", "application/json", {"type": "object"}),
    "/metrics": ("Prometheus metrics", "text/plain", _TEXT),
    "/openapi.json": ("This document", "application/json", {"type": "object"}),
}


class _Schemas:
    """``components/schemas``, filled as the operations name their models."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, kind: Any) -> dict[str, Any]:
        schema = TypeAdapter(kind).json_schema(ref_template=_REF)
        self.components.update(schema.pop("$defs", {}))
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            self.components[kind.__name__] = schema
            return {"$ref": _REF.format(model=kind.__name__)}
        return schema


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _parameters(op: Operation, schemas: _Schemas, path_params: dict[str, Any]) -> list[Any]:
    out: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": path_params.get(name, _ANY_PATH_PARAM),
        }
        for name in _PARAM.findall(op.path)
    ]
    if op.query is not None:
        properties = op.query.model_json_schema(by_alias=True)["properties"]
        for name, schema in properties.items():
            schema.pop("title", None)
            if schema.get("default", 0) is None:
                del schema["default"]
            out.append({"name": name, "in": "query", "required": False, "schema": schema})
    return out


def _operation(op: Operation, schemas: _Schemas, path_params: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in op.answers.items():
        text = "Created" if status == 201 else "Accepted" if status == 202 else "OK"
        answer = {"description": text} if model is None else _json(schemas.of(model), text)
        if status == 204:
            answer["description"] = "Done; no body"
        responses[str(status)] = answer
    error = schemas.of(Error)
    for status in error_codes(op):
        responses[str(status)] = _json(error, ERROR_TEXT[status])
    headers_of = {405: {"Allow": "the methods the path allows"}, **op.headers}
    for status, headers in headers_of.items():
        responses[str(status)]["headers"] = {
            name: {"description": text, "required": True, "schema": _TEXT}
            for name, text in headers.items()
        }
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "responses": responses,
    }
    parameters = _parameters(op, schemas, path_params)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": schemas.of(op.body)}},
        }
    elif op.content:
        out["requestBody"] = {
            "required": True,
            "content": {mime: {"schema": schemas.of(kind)} for mime, kind in op.content.items()},
        }
    return out


def _add_links(operations: list[Operation], paths: dict[str, Any]) -> None:
    """Links from what makes an object to every operation that reads it by its id (the
    stateful phase of schemathesis follows them)."""
    for source in operations:
        if source.link is None:
            continue
        status, param, expression = source.link
        targets = [op for op in operations if "{" + param + "}" in op.path]
        answer = paths[source.path][source.method.lower()]["responses"][str(status)]
        answer["links"] = {
            op.operation_id: {"operationId": op.operation_id, "parameters": {param: expression}}
            for op in targets
        }


def openapi_document(
    operations: Iterable[Operation], path_params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The document for ``operations`` and the system paths; ``path_params``: the schema
    of each path parameter by name (a non-empty string when not named)."""
    ops = list(operations)
    schemas = _Schemas()
    paths: dict[str, Any] = {}
    for path, (summary, media, schema) in _SYSTEM.items():
        ok = {"description": "OK", "content": {media: {"schema": schema}}}
        paths[path] = {
            "get": {
                "operationId": "get" + path.replace("/", "_").replace(".", "_"),
                "summary": summary,
                "security": [],
                "responses": {"200": ok},
            }
        }
    for op in ops:
        item = paths.setdefault(op.path, {})
        item[op.method.lower()] = _operation(op, schemas, path_params or {})
    _add_links(ops, paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Constellation management API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
