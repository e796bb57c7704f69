"""An instance on a Ray node, seen from the head: a thin wrapper over its actor handle.

It has the same interface as the local :class:`WorkerInstance`, so pools, the autoscaler
and the gateway use it unchanged. ``close`` and ``kill`` end the actor (idempotent); an
actor lost with its node is marked dead by the backend's watcher, so a pool never hands
it out again.
"""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

from .._errors import InstanceDied, InstanceTimedOut
from ._host import DIED, TIMED_OUT

__all__ = ["RayInstance", "describe_ray_error"]

# The worker on the node enforces the timeout itself; the head waits this much longer
# before it gives up on a node that stopped answering.
HEAD_GRACE_S = 10.0


class RayInstance:
    def __init__(
        self,
        ray: ModuleType,
        actor: Any,
        instance_id: str,
        function_id: str,
        generation: int,
        now: float,
    ) -> None:
        self._ray = ray
        self.actor = actor
        self.id = instance_id
        self.function_id = function_id
        self.generation = generation
        self.created_at = now
        self.idle_since = now
        self.init_ms = 0.0
        self.invocations = 0
        self.pid = 0
        self.node = ""
        self.host = ""
        self.death: str | None = None
        self._closed = False

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """The host's ready message; ``{"ready": False, "error"}`` if it did not start in time."""
        ray = self._ray
        try:
            ready: dict[str, Any] = ray.get(self.actor.ready.remote(), timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            self.kill()
            return {"ready": False, "error": f"Ray did not place and start it within {timeout:g} s"}
        except ray.exceptions.RayError as exc:
            self.kill()
            return {
                "ready": False,
                "error": f"its Ray actor failed to start: {describe_ray_error(exc)}",
            }
        self.pid = int(ready.get("pid", 0))
        self.node = str(ready.get("node_id", ""))
        self.host = str(ready.get("host", ""))
        return ready

    def invoke_raw(self, body: bytes, timeout: float) -> dict[str, Any]:
        ray = self._ray
        try:
            reply = ray.get(self.actor.invoke.remote(body, timeout), timeout=timeout + HEAD_GRACE_S)
        except ray.exceptions.GetTimeoutError:
            self.kill()
            raise InstanceTimedOut() from None
        except ray.exceptions.RayError as exc:
            raise InstanceDied(self._lost(exc)) from None
        return self._checked(reply)

    async def invoke_awaitable(self, body: bytes, timeout: float) -> dict[str, Any]:
        ray = self._ray
        ref = self.actor.invoke.remote(body, timeout)
        try:
            reply = await asyncio.wait_for(ref, timeout + HEAD_GRACE_S)
        except TimeoutError:
            self.kill()
            raise InstanceTimedOut() from None
        except ray.exceptions.RayError as exc:
            raise InstanceDied(self._lost(exc)) from None
        return self._checked(reply)

    def _checked(self, reply: dict[str, Any]) -> dict[str, Any]:
        kind = reply.get("kind")
        if kind == TIMED_OUT:
            self.kill()
            raise InstanceTimedOut()
        if kind == DIED:
            self.kill()
            raise InstanceDied(f"{reply['error']} (on Ray node {self.node[:12]})")
        self.invocations += 1
        return reply

    def _lost(self, exc: BaseException) -> str:
        self.mark_dead(describe_ray_error(exc))
        return f"its Ray actor on node {self.node[:12]} was lost: {self.death}"

    def mark_dead(self, reason: str) -> None:
        """The actor is gone (its node died, or it was killed): never use it again."""
        if self.death is None:
            self.death = reason
        self.kill()

    def kill(self) -> None:
        """End the actor now; its zygote and worker end with it."""
        if not self._closed:
            self._closed = True
            try:
                self._ray.kill(self.actor, no_restart=True)
            except Exception:  # already dead, or Ray is shut down: nothing left to end
                pass

    close = kill

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_seconds(self, now: float) -> float:
        return max(0.0, now - self.idle_since)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<RayInstance {self.id} node={self.node[:12]} pid={self.pid} {state}>"


def describe_ray_error(exc: BaseException) -> str:
    """The line of a Ray error that says why (Ray's messages run to many lines)."""
    text = str(exc).strip()
    for line in text.splitlines():
        if "died because" in line or ("node" in line.lower() and "died" in line.lower()):
            return line.strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
