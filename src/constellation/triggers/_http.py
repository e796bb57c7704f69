"""HTTP triggers: route paths compiled to patterns, specs validated, overlaps found.

``{"type": "http", "path": "/api/orders/{order_id}", "method": "POST"}`` is served by
``constellation serve`` (see :mod:`constellation.server`), which matches requests with
:func:`compile_route`'s :class:`RoutePattern`. Two routes that can match the same
request with the same method are refused when the second is added (:func:`routes_overlap`).

A last segment ``{name+}`` is greedy (API Gateway's ``{proxy+}``): it matches one or more
segments, and its parameter is the rest of the path (``a/b/c``). A route with a greedy
parameter is tried after every route without one. ``event_format`` chooses the event a
handler gets: ``default`` (Constellation's), ``apigw-v1`` (an API Gateway REST API proxy
event) or ``apigw-v2`` (an HTTP API payload 2.0 event); see ``server/_apigw.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError

__all__ = [
    "EVENT_FORMATS",
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
EVENT_FORMATS = ("default", "apigw-v1", "apigw-v2")

_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]+$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")


@dataclass(frozen=True)
class RoutePattern:
    """A compiled HTTP route: literal segments and ``{name}`` parameters (``None`` slots);
    ``greedy`` when the last parameter is ``{name+}`` (it takes the rest of the path)."""

    path: str
    segments: tuple[str | None, ...]
    params: tuple[str, ...]
    greedy: bool = False

    @property
    def shape(self) -> tuple[str | None, ...]:
        return (*self.segments, "+") if self.greedy else self.segments

    def match(self, parts: list[str]) -> dict[str, str] | None:
        count = len(self.segments)
        if len(parts) != count and not (self.greedy and len(parts) > count):
            return None
        values: dict[str, str] = {}
        names = iter(self.params)
        for part, literal in zip(parts, self.segments, strict=False):
            if literal is None:
                values[next(names)] = part
            elif literal != part:
                return None
        if self.greedy:
            values[self.params[-1]] = "/".join(parts[count - 1 :])
        return values

    @property
    def specificity(self) -> int:
        """More literal segments first: ``/orders/new`` wins over ``/orders/{id}``."""
        return sum(1 for s in self.segments if s is not None)

    @property
    def order(self) -> tuple[bool, int]:
        """The order routes are tried in: greedy ones last, then the most literal first."""
        return self.greedy, -self.specificity


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
    parts = split_path(normal)
    greedy = False
    for index, part in enumerate(parts):
        param = _PARAM.match(part)
        if param:
            if param.group(1) in params:
                raise ValidationError(field, f"parameter {{{param.group(1)}}} appears twice")
            if param.group(2):
                if index != len(parts) - 1:
                    raise ValidationError(
                        field, f"greedy parameter {part} must be the last segment"
                    )
                greedy = True
            params.append(param.group(1))
            segments.append(None)
        elif part in (".", "..") or not _LITERAL.match(part):
            raise ValidationError(
                field,
                f"segment {part!r} is not allowed; use letters, digits, '-._~' "
                "and similar URL characters, a parameter like {order_id}, "
                "or a last greedy parameter like {proxy+}",
            )
        else:
            segments.append(part)
    return RoutePattern(normal, tuple(segments), tuple(params), greedy)


def check_keys(spec: Mapping[str, Any], allowed: Iterable[str], kind: str) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValidationError(
            f"trigger.{unknown[0]}",
            f"unknown option for a {kind} trigger; allowed: {', '.join(sorted(allowed))}",
        )


def validate_http(spec: Mapping[str, Any]) -> dict[str, Any]:
    check_keys(spec, ("type", "path", "method", "max_queued", "event_format"), "http")
    if "path" not in spec:
        raise ValidationError("trigger.path", "required for an http trigger, e.g. '/api/orders'")
    route = compile_route(spec["path"])
    method = spec.get("method", "ANY")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise ValidationError.choice("trigger.method", method, HTTP_METHODS)
    queued = spec.get("max_queued", DEFAULT_MAX_QUEUED)
    if isinstance(queued, bool) or not isinstance(queued, int) or not 0 <= queued <= 100_000:
        raise ValidationError("trigger.max_queued", f"{queued!r} must be an integer 0-100000")
    event_format = spec.get("event_format", "default")
    if event_format not in EVENT_FORMATS:
        raise ValidationError.choice("trigger.event_format", event_format, EVENT_FORMATS)
    return {
        "type": "http",
        "path": route.path,
        "method": method.upper(),
        "max_queued": queued,
        "event_format": event_format,
    }


def routes_overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two http specs can match the same request (same shape and method)."""
    methods_meet = "ANY" in (a["method"], b["method"]) or a["method"] == b["method"]
    return methods_meet and compile_route(a["path"]).shape == compile_route(b["path"]).shape
