"""The HTTP triggers' route table: exact paths in a dict, parameterised ones by specificity."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..triggers import RoutePattern, Trigger, compile_route

__all__ = ["Match", "RouteTable", "is_traversal"]


@dataclass(frozen=True, slots=True)
class Match:
    trigger: Trigger
    route: str
    params: dict[str, str]


def is_traversal(path: str) -> bool:
    """``.``/``..`` segments, NUL bytes or backslashes: refused before any routing."""
    if "\x00" in path or "\\" in path:
        return True
    if "/." not in path and not path.startswith("."):
        return False
    return any(part in (".", "..") for part in path.split("/"))


class RouteTable:
    def __init__(self, triggers: Iterable[Trigger]) -> None:
        self._exact: dict[str, dict[str, Trigger]] = {}
        patterns: list[tuple[RoutePattern, str, Trigger]] = []
        for trigger in triggers:
            if trigger.type != "http":
                continue
            route = compile_route(trigger.spec["path"])
            method = trigger.spec["method"]
            if route.params:
                patterns.append((route, method, trigger))
            else:
                self._exact.setdefault(route.path, {})[method] = trigger
        self._patterns = sorted(patterns, key=lambda p: p[0].order)

    def __len__(self) -> int:
        return sum(len(m) for m in self._exact.values()) + len(self._patterns)

    def resolve(self, method: str, path: str) -> Match | list[str] | None:
        """A match; or the methods the path allows (for a 405); or None (404)."""
        by_method = self._exact.get(path)  # found as it is: already in normal form
        normal, parts = path, None
        if by_method is None:
            parts = [p for p in path.split("/") if p]
            normal = "/" + "/".join(parts)
            by_method = self._exact.get(normal)
        allowed: list[str] = []
        if by_method is not None:
            trigger = by_method.get(method) or by_method.get("ANY")
            if trigger is not None:
                return Match(trigger, normal, {})
            allowed.extend(by_method)
        if self._patterns:
            if parts is None:
                parts = [p for p in path.split("/") if p]
            for route, route_method, trigger in self._patterns:
                params = route.match(parts)
                if params is None:
                    continue
                if route_method in (method, "ANY"):
                    return Match(trigger, route.path, params)
                allowed.append(route_method)
        return sorted(set(allowed)) or None
