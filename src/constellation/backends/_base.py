"""The backend interface: how the serverless core starts instances, wherever they run.

A backend turns a :class:`~._spec.FunctionSpec` into ready instances. The control plane
(registry, pools, autoscaler, ledger, triggers, gateway) never asks where an instance
runs: it calls :meth:`Backend.launch`, then the instance's ``invoke_raw`` /
``invoke_awaitable`` and ``close``. :class:`constellation.backends.local.LocalBackend`
forks processes on this machine; :class:`constellation.backends.ray.RayBackend` starts
Ray actors.
"""

from __future__ import annotations

from typing import Any, Protocol

from ._spec import FunctionSpec

__all__ = ["Backend", "Instance"]


class Instance(Protocol):
    """One instance of a function: serves one invocation at a time."""

    id: str
    node: str  # "local", or the Ray node's id
    function_id: str
    generation: int
    pid: int
    created_at: float
    idle_since: float
    init_ms: float
    invocations: int

    @property
    def closed(self) -> bool: ...

    def invoke_raw(self, body: bytes, timeout: float) -> dict[str, Any]:
        """Run one request (JSON); raises InstanceTimedOut (the instance is gone) or
        InstanceDied (the message says how)."""
        ...

    async def invoke_awaitable(self, body: bytes, timeout: float) -> dict[str, Any]:
        """:meth:`invoke_raw` on an asyncio event loop."""
        ...

    def idle_seconds(self, now: float) -> float: ...

    def kill(self) -> None:
        """End the instance now, even mid-call."""
        ...

    def close(self) -> None:
        """End the instance. Idempotent."""
        ...


class Backend(Protocol):
    """Where instances run. ``close`` is idempotent."""

    name: str

    def start(self) -> None:
        """Get ready (start zygotes, connect to the cluster) before the first cold start."""
        ...

    def check_handler(self, info: FunctionSpec) -> None:
        """Load the code once; ValidationError (field code or handler) if it is unusable."""
        ...

    def launch(self, info: FunctionSpec, generation: int) -> Instance:
        """Start one instance and wait until it is ready (a cold start); InstanceStartError
        when it cannot start."""
        ...

    def function_zygote(self, info: FunctionSpec) -> None:
        """Prepare cold-start optimisation for the function (a no-op where it means nothing)."""
        ...

    def drop_function_zygote(self, function_id: str) -> None:
        """Forget what :meth:`function_zygote` prepared (the function changed or went)."""
        ...

    def close(self) -> None: ...
