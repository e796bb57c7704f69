"""Can any node of the cluster ever host an instance? Ray would keep an actor that asks
for more than every node has pending for good; this check names the missing resource."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

__all__ = ["NodeView", "describe_resource", "needs_of", "unplaceable"]

MB = 1024 * 1024
NODES_TTL_S = 2.0  # how long a view of the cluster's nodes is trusted


def needs_of(options: Mapping[str, Any]) -> dict[str, float]:
    """Ray resource names and amounts from actor options."""
    needs = {"CPU": float(options.get("num_cpus", 0.0))}
    if options.get("memory"):
        needs["memory"] = float(options["memory"])
    if options.get("num_gpus"):
        needs["GPU"] = float(options["num_gpus"])
    needs.update({k: float(v) for k, v in options.get("resources", {}).items()})
    return needs


def describe_resource(name: str, amount: float) -> str:
    if name == "memory":
        return f"memory={amount / MB:g} MB"
    key = {"CPU": "num_cpus", "GPU": "num_gpus"}.get(name, name)
    return f"{key}={amount:g}"


def unplaceable(nodes: list[Mapping[str, float]], needs: Mapping[str, float]) -> str | None:
    """Why no node (given by its total resources) could host it, or None if one could."""
    for name, amount in needs.items():
        most = max((float(r.get(name, 0.0)) for r in nodes), default=0.0)
        if most < amount:
            return (
                f"no node in the Ray cluster has {describe_resource(name, amount)} "
                f"(the most any node has: {describe_resource(name, most)})"
            )
    if not any(all(float(r.get(k, 0.0)) >= v for k, v in needs.items()) for r in nodes):
        wanted = ", ".join(describe_resource(k, v) for k, v in needs.items())
        return f"no single node in the Ray cluster has all of {wanted}"
    return None


class NodeView:
    """The alive nodes' total resources, refreshed at most every :data:`NODES_TTL_S`."""

    def __init__(self, ray: ModuleType) -> None:
        self._ray = ray
        self._seen_at = 0.0
        self._nodes: list[Mapping[str, float]] = []

    def totals(self) -> list[Mapping[str, float]]:
        now = time.monotonic()
        if now - self._seen_at > NODES_TTL_S or not self._nodes:
            nodes = self._ray.nodes()
            self._nodes = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
            self._seen_at = now
        return self._nodes

    def why_not(self, options: Mapping[str, Any]) -> str | None:
        return unplaceable(self.totals(), needs_of(options))
