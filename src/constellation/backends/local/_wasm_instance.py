"""A WASM function's instance: a pre-instantiated module behind the worker interface.

WebAssembly is its own sandbox (linear memory, store limits, gas, epoch interruption),
so a WASM function's instances live in the platform's process, each holding one warm
wasmtime instance (core modules) or starting a fresh one per call (WASI commands, as
``constellation.wasm.WasmHandler`` does). This wrapper gives them the same interface as
a Python worker, so the pool, limits, ledger, metrics and billing treat both alike.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from ...errors import ValidationError
from .._errors import InstanceTimedOut
from .._spec import FunctionSpec
from ._instance import WorkerInstance

__all__ = ["WasmInstance", "wasm_handler"]


def wasm_handler(host: Any, info: FunctionSpec, code_dir: Path) -> Any:
    """A :class:`constellation.wasm.WasmHandler` for the function, honouring its settings:

    ``memory_mb`` -> ``max_memory``, ``timeout_s`` -> ``timeout_ms``, ``gas_limit`` -> gas
    per invocation, ``env`` -> the WASI environment, ``cold_start_optimization`` -> every
    instance starts from a snapshot taken after the module's initializer (made once per
    module and env, kept by the host).
    """
    from ...wasm import WasmError, WasmHandler

    filename, export = info.entry.split(":", 1)
    path = code_dir / info.code_hash / filename
    limits = {"max_memory": info.memory_mb * 1024 * 1024, "timeout_ms": info.timeout_s * 1000}
    try:
        module = host.load_module(path)
        handler = None if export == "_start" else export
        return WasmHandler(host, module.id, handler, limits=limits, gas_limit=info.gas_limit,
                           env=info.env, init_snapshot=info.cold_start_optimization)  # fmt: skip
    except ValidationError as exc:
        field = "handler" if exc.field in ("handler", "function") else "code"
        raise ValidationError(field, exc.message) from None
    except WasmError as exc:
        raise ValidationError("code", f"{filename}: {exc}") from None


class WasmInstance:
    """One pooled WASM handler; ``close()`` is idempotent."""

    node = "local"  # it runs in the platform's process

    def __init__(self, instance_id: str, function_id: str, generation: int, handler: Any,
                 memory_mb: int, now: float) -> None:  # fmt: skip
        self.id = instance_id
        self.function_id = function_id
        self.generation = generation
        self.pid = os.getpid()
        self.created_at = now
        self.idle_since = now
        self.init_ms = 0.0
        self.invocations = 0
        self._handler = handler
        self._memory_mb = memory_mb
        self._closed = False
        self._lock = threading.Lock()

    new_id = staticmethod(WorkerInstance.new_id)

    def invoke_raw(self, body: bytes, timeout: float) -> dict[str, Any]:
        from ...wasm import WasmValidationError

        request = orjson.loads(body)
        start = time.perf_counter()
        try:
            result = self._handler(request["event"])
        except WasmValidationError as exc:
            return {"ok": False, "kind": "error", "type": "WasmValidationError", "error": str(exc),
                    "dur": (time.perf_counter() - start) * 1000.0}  # fmt: skip
        self.invocations += 1
        reply: dict[str, Any] = {"dur": result.duration_ms, "rss": 0.0,
                                 "logs": result.stderr.decode(errors="replace")[:16384]}  # fmt: skip
        if result.status == "ok":
            reply.update(ok=True, out=result.output)
        elif result.trap_code == "timeout":
            self.close()
            raise InstanceTimedOut()
        elif result.trap_code == "out_of_memory" or "memory limit" in str(result.error):
            reply.update(
                ok=False,
                kind="memory_limit",
                error=f"memory limit of {self._memory_mb} MB exceeded ({result.error})",
            )
        else:
            kind = "WasmTrap" if result.trap_code else "WasmError"
            reply.update(ok=False, kind="error", type=kind, error=result.error)
        return reply

    async def invoke_awaitable(self, body: bytes, timeout: float) -> dict[str, Any]:
        """:meth:`invoke_raw` on a worker thread: a WASM call runs in this process."""
        return await asyncio.to_thread(self.invoke_raw, body, timeout)

    def kill(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._handler.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_seconds(self, now: float) -> float:
        return max(0.0, now - self.idle_since)
