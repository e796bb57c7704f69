"""Every function's pool of instances: made on demand, updated, warmed, reaped, listed.

The pools start instances through the backend (:func:`constellation.backends.make_backend`),
which sees only a function's :class:`~constellation.backends.FunctionSpec`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..backends import Backend, Instance
from ..errors import ClosedError, NotFoundError
from ._models import FunctionInfo, FunctionInstance
from ._pool import FunctionPool

__all__ = ["InstanceManager"]


class InstanceManager:
    """One :class:`FunctionPool` per function in use. ``close`` is idempotent.

    ``ensure_started`` starts the platform's loops on first use (where this process runs
    them): warming a pool without the autoscaler and reaper running would leak instances.
    """

    def __init__(
        self,
        backend: Backend,
        clock: Callable[[], float],
        *,
        background: bool,
        ensure_started: Callable[[], None],
    ) -> None:
        self.backend = backend
        self._clock = clock
        self._background = background
        self._ensure_started = ensure_started
        self.by_function: dict[str, FunctionPool] = {}  # function id -> its pool
        self._lock = threading.Lock()
        self._closed = False

    def pool(self, info: FunctionInfo) -> FunctionPool:
        """The function's pool, made on first use."""
        pool = self.by_function.get(info.id)
        if pool is None:
            with self._lock:
                if self._closed:
                    raise ClosedError("the serverless service is shut down")
                pool = self.by_function.get(info.id)
                if pool is None:
                    pool = self.by_function[info.id] = FunctionPool(info, self._launch, self._clock)
        return pool

    def _launch(self, info: FunctionInfo, generation: int) -> Instance:
        return self.backend.launch(info.launch_spec(), generation)

    def pools(self) -> list[FunctionPool]:
        return list(self.by_function.values())

    def apply(self, info: FunctionInfo, retire: bool) -> None:
        """A function changed: its pool serves the new settings; with ``retire`` its
        instances (and function zygote) are replaced."""
        with self._lock:
            pool = self.by_function.get(info.id)
        if pool is not None:
            pool.update(info, retire=retire)
        if retire:
            self.backend.drop_function_zygote(info.id)

    def warm(self, info: FunctionInfo) -> None:
        """Fill the warm pool now (only where this process runs the platform's loops)."""
        if self._background:
            self._ensure_started()
            pool = self.pool(info)
            pool.fill()
            pool.wait_started()  # ready when this returns, also if another fill raced it

    def fill_all(self) -> None:
        for pool in self.pools():
            pool.fill()

    def drop(self, function_id: str) -> None:
        """The function is gone: end its instances and its zygote."""
        with self._lock:
            pool = self.by_function.pop(function_id, None)
        if pool is not None:
            pool.close()
        self.backend.drop_function_zygote(function_id)

    def reap_idle(self, now: float) -> int:
        """Scale idle instances down to the warm target; how many were ended."""
        return sum(pool.reap(now) for pool in self.pools())

    def listing(self, function_id: str | None = None) -> list[FunctionInstance]:
        """The instances of one function (by id) or of all, for listings."""
        now = self._clock()
        pools = [self.by_function.get(function_id)] if function_id else self.pools()
        out = []
        for pool in pools:
            if pool is None:
                continue
            for inst, status in pool.instances():
                out.append(
                    FunctionInstance(
                        inst.id,
                        pool.info.id,
                        pool.info.name,
                        status,
                        inst.pid,
                        inst.created_at,
                        max(0.0, now - inst.created_at),
                        inst.invocations,
                        pool.info.version,
                        inst.node,
                    )
                )
        return out

    def restart(self, instance_id: str) -> None:
        """Replace an instance with a fresh one (a busy one is replaced after its call)."""
        for pool in self.pools():
            instance = pool.remove_instance(instance_id)
            if instance is not None:
                if instance.generation != -1:
                    instance.close()
                pool.fill(max(pool.warm_target, 1))
                return
        raise NotFoundError("instance", instance_id)

    def detach(self) -> list[FunctionPool]:
        """Shutting down: no pool is handed out or made from now on; returns the pools,
        for the caller to close once nothing can call into them."""
        with self._lock:
            self._closed = True
            pools = list(self.by_function.values())
            self.by_function.clear()  # in place: the service's reports hold this dict
        return pools

    def close(self) -> None:
        """End every pool's instances. Idempotent; the backend is closed by its owner."""
        for pool in self.detach():
            pool.close()
