"""HTTP triggers: route paths compiled to patterns, specs validated, overlaps found.

``{"type": "http", "path": "/api/orders/{order_id}", "method": "POST"}`` is served by
``constellation serve`` (see :mod:`constellation.server`), which matches requests with
:func:`compile_route`'s :class:`RoutePattern`. Two routes that can match the same
request with the same method are refused when the second is added (:func:`routes_overlap`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError

__all__ = [
    "HTTP_METHODS",
    "RESERVED_PREFIXES",
    "RoutePattern",
    "check_keys",
    "compile_route",
    "routes_overlap",
    "split_path",
    "validate_http",
]

HTTP_METHODS = ("ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# The server's own paths: an HTTP trigger may not shadow them.
RESERVED_PREFIXES = (
    "/api/v1",
    "/healthz",
    "/metrics",
    "/openapi.json",
    # the dashboard's pages (``/`` too, unless a trigger's route is ``/``: see server._app)
    "/ui",
    "/login",
    "/logout",
    "/docs",
    "/redoc",
)
MAX_PATH_LENGTH = 1024
DEFAULT_MAX_QUEUED = 100

_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]+$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class RoutePattern:
    """A compiled HTTP route: literal segments and ``{name}`` parameters (``None`` slots)."""

    path: str
    segments: tuple[str | None, ...]
    params: tuple[str, ...]

    @property
    def shape(self) -> tuple[str | None, ...]:
        return self.segments

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        values: dict[str, str] = {}
        names = iter(self.params)
        for part, literal in zip(parts, self.segments, strict=True):
            if literal is None:
                values[next(names)] = part
            elif literal != part:
                return None
        return values

    @property
    def specificity(self) -> int:
        """More literal segments first: ``/orders/new`` wins over ``/orders/{id}``."""
        return sum(1 for s in self.segments if s is not None)


def split_path(path: str) -> list[str]:
    return [p for p in path.split("/") if p] if path != "/" else []


def compile_route(path: Any, field: str = "trigger.path") -> RoutePattern:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValidationError(field, f"{path!r} must be a string starting with '/'")
    if len(path) > MAX_PATH_LENGTH:
        raise ValidationError(field, f"is {len(path)} characters long; at most {MAX_PATH_LENGTH}")
    normal = "/" + "/".join(split_path(path))
    if "//" in path.rstrip("/") or (path != normal and path != normal + "/"):
        raise ValidationError(field, f"{path!r} has an empty segment")
    for prefix in RESERVED_PREFIXES:
        if normal == prefix or normal.startswith(prefix.rstrip("/") + "/"):
            raise ValidationError(field, f"{normal!r} is reserved by the server ({prefix})")
    segments: list[str | None] = []
    params: list[str] = []
    for part in split_path(normal):
        param = _PARAM.match(part)
        if param:
            if param.group(1) in params:
                raise ValidationError(field, f"parameter {{{param.group(1)}}} appears twice")
            params.append(param.group(1))
            segments.append(None)
        elif part in (".", "..") or not _LITERAL.match(part):
            raise ValidationError(
                field,
                f"segment {part!r} is not allowed; use letters, digits, '-._~' "
                "and similar URL characters, or a parameter like {order_id}",
            )
        else:
            segments.append(part)
    return RoutePattern(normal, tuple(segments), tuple(params))


def check_keys(spec: Mapping[str, Any], allowed: Iterable[str], kind: str) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValidationError(
            f"trigger.{unknown[0]}",
            f"unknown option for a {kind} trigger; allowed: {', '.join(sorted(allowed))}",
        )


def validate_http(spec: Mapping[str, Any]) -> dict[str, Any]:
    check_keys(spec, ("type", "path", "method", "max_queued"), "http")
    if "path" not in spec:
        raise ValidationError("trigger.path", "required for an http trigger, e.g. '/api/orders'")
    route = compile_route(spec["path"])
    method = spec.get("method", "ANY")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise ValidationError.choice("trigger.method", method, HTTP_METHODS)
    queued = spec.get("max_queued", DEFAULT_MAX_QUEUED)
    if isinstance(queued, bool) or not isinstance(queued, int) or not 0 <= queued <= 100_000:
        raise ValidationError("trigger.max_queued", f"{queued!r} must be an integer 0-100000")
    return {"type": "http", "path": route.path, "method": method.upper(), "max_queued": queued}


def routes_overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two http specs can match the same request (same shape and method)."""
    methods_meet = "ANY" in (a["method"], b["method"]) or a["method"] == b["method"]
    return methods_meet and compile_route(a["path"]).shape == compile_route(b["path"]).shape
