"""What runs on a Ray node: an actor hosting one instance's worker process.

The actor does not run the handler itself. It starts a zygote on its node and forks one
constellation worker from it, exactly as the local backend does, so every guarantee of
an instance holds on a node too: the memory limit (RLIMIT_AS), the timeout (the worker is
killed), a crash that takes only the worker down, captured logs and peak memory. The
actor forwards each request to that worker and returns its reply; the worker and the
zygote end with the actor.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from .._errors import InstanceDied, InstanceTimedOut
from ..local import ExitRegistry, RootZygote, WorkerInstance
from ._codeship import unpack_code

__all__ = ["FunctionHost", "node_id"]

# Markers in a reply that the head turns back into InstanceTimedOut / InstanceDied.
TIMED_OUT = "__instance_timed_out__"
DIED = "__instance_died__"


def node_id() -> str:
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # not inside Ray (unit tests of the host itself)
        return socket.gethostname()


class FunctionHost:
    """A Ray actor serving one function instance through a local worker process."""

    def __init__(self, spec: dict[str, Any], code: bytes, code_hash: str, start_timeout: float):
        started = time.perf_counter()
        root = unpack_code(code, code_hash)
        spec = dict(spec, code_root=str(root), die_with_parent=True)
        self._ended = threading.Event()
        self._exits = ExitRegistry()
        self._zygote = RootZygote(self._exits)
        pid, sock = self._zygote.fork_worker(spec)
        self._worker = WorkerInstance(spec["instance_id"], "", 0, pid, sock, self._exits, 0.0)
        self._worker.spin_s = float(spec.get("reply_spin_s", 0.0))
        ready = self._worker.wait_ready(start_timeout)
        ready["node_id"] = node_id()
        ready["host"] = socket.gethostname()
        ready["host_ms"] = (time.perf_counter() - started) * 1000.0
        self._ready = ready
        if spec.get("check_only") or not ready.get("ready"):
            self.stop()

    def ready(self) -> dict[str, Any]:
        """The worker's ready message, with where it runs (``node_id``, ``host``)."""
        return self._ready

    def invoke(self, body: bytes, timeout: float) -> dict[str, Any]:
        try:
            return self._worker.invoke_raw(body, timeout)
        except InstanceTimedOut:
            return {"ok": False, "kind": TIMED_OUT}
        except InstanceDied as exc:
            return {"ok": False, "kind": DIED, "error": str(exc)}

    def watch(self) -> str:
        """Returns only when the host stops; an actor that dies fails it instead, which is
        how the head notices an instance lost with its node."""
        self._ended.wait()
        return "stopped"

    def stop(self) -> None:
        """End the worker and the zygote. Idempotent."""
        self._worker.close()
        self._zygote.close()
        self._ended.set()

    def pid(self) -> int:
        return os.getpid()
