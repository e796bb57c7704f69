"""Noticing lost actors: one thread waits on every instance's ``watch`` call.

A host's ``watch`` returns only when the host stops; when the actor dies (its node was
removed, or it was killed) the call fails at once, so a single ``ray.wait`` over all of
them tells which instances are gone, without polling each actor.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

from ._instance import describe_ray_error

__all__ = ["ActorWatcher"]

WAIT_S = 0.5


class ActorWatcher:
    def __init__(self, ray: ModuleType) -> None:
        self._ray = ray
        self._watched: dict[Any, Any] = {}  # watch() ObjectRef -> RayInstance
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ray-actor-watcher", daemon=True)
        self._thread.start()

    def watch(self, instance: Any) -> None:
        ref = instance.actor.watch.remote()
        with self._lock:
            self._watched[ref] = instance

    def _run(self) -> None:
        ray = self._ray
        while not self._stop.is_set():
            with self._lock:
                refs = [r for r, inst in self._watched.items() if not inst.closed]
                self._watched = {r: self._watched[r] for r in refs}
            if not refs:
                self._stop.wait(WAIT_S)
                continue
            try:
                done, _ = ray.wait(refs, num_returns=1, timeout=WAIT_S)
            except Exception:  # Ray shut down under us
                return
            for ref in done:
                with self._lock:
                    instance = self._watched.pop(ref, None)
                if instance is None or instance.closed:
                    continue
                try:
                    ray.get(ref, timeout=0)
                    reason = "its host stopped"
                except Exception as exc:
                    reason = describe_ray_error(exc)
                instance.mark_dead(reason)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
