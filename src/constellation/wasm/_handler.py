"""One invocation of a module as a function handler: JSON in, JSON out.

This is the piece a serverless runtime ``"wasm"`` drives (not wired in here):

* a WASI command module (exports ``_start``; ``handler`` None or "_start") gets the event
  as JSON on stdin and writes its result as JSON on stdout (WAGI style); a non-zero exit
  code or output that is not JSON is a failed invocation;
* a core module exports ``handler``, a function taking and returning numbers: the event
  is a list of numbers or ``{"args": [...]}``; the output is the single result, or the
  list of results.

A failing guest (trap, exit code, bad output) is *not* an exception: the result's
``status`` is "error" and ``error`` says why, as for Python handlers. Bad arguments to
``invoke`` itself raise :class:`WasmValidationError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import WasmStateError, WasmTrap, WasmValidationError
from ._host import WasmHost
from ._instance import WasmtimeInstance
from ._limits import ResourceLimits

__all__ = ["InvocationResult", "WasmHandler"]


@dataclass(frozen=True)
class InvocationResult:
    status: str  # "ok" or "error"
    output: Any = None
    error: str | None = None
    trap_code: str | None = None
    exit_code: int | None = None
    gas_used: int | None = None
    duration_ms: float = 0.0
    stderr: bytes = field(default=b"", repr=False)


class WasmHandler:
    """Runs invocations of one module; keeps a warm instance for core-module handlers.

    ``snapshot`` (a name in the host) makes every fresh instance start from it, which is
    how pre-initialised state gives fast cold starts; ``init_snapshot=True`` makes that
    snapshot here, after the module's initializer (see :meth:`WasmHost.init_snapshot`).
    ``env`` is the WASI environment every instance sees (a function's env vars).
    """

    def __init__(
        self,
        host: WasmHost,
        module_id: str,
        handler: str | None = None,
        *,
        limits: Mapping[str, object] | ResourceLimits | None = None,
        gas_limit: int | None = None,
        snapshot: str | None = None,
        env: Mapping[str, str] | None = None,
        init_snapshot: bool = False,
    ) -> None:
        self.host = host
        self.module = host.get_module(module_id)
        self.env = dict(env or {})
        if init_snapshot and snapshot is None:
            snapshot = host.init_snapshot(self.module.id, env=self.env).name
        self.limits = ResourceLimits.from_value(limits or {})
        self.gas_limit = gas_limit
        self.snapshot = snapshot
        has_start = self.module.export("_start") is not None
        self.command = handler in (None, "_start") and has_start
        if not self.command:
            if handler is None:
                raise WasmValidationError(
                    "handler", "the module has no _start; name the exported function to call"
                )
            self.module.function(handler)
        self.handler = handler or "_start"
        self._warm: WasmtimeInstance | None = None

    def _instance(self, wasi: dict[str, Any] | None = None) -> WasmtimeInstance:
        if wasi is None and self.module.uses_wasi:
            wasi = {}
        if wasi is not None:
            wasi = {"env": self.env, **wasi}
        inst = self.host.create_instance(self.module.id, limits=self.limits, wasi=wasi,
                                         from_snapshot=self.snapshot)  # fmt: skip
        assert isinstance(inst, WasmtimeInstance)
        if self.gas_limit is not None:
            # A budget per invocation: gas already used (start-up, snapshot) is not charged.
            inst.set_gas_limit(inst.gas_used + self.gas_limit)
        return inst

    def prewarm(self) -> None:
        if not self.command and self._warm is None:
            self._warm = self._instance()

    def __call__(self, event: Any) -> InvocationResult:
        start = time.perf_counter()
        try:
            result = self._command(event) if self.command else self._core(event)
        except WasmTrap as trap:
            result = InvocationResult("error", error=str(trap), trap_code=trap.code)
        ms = (time.perf_counter() - start) * 1000.0
        return InvocationResult(**{**result.__dict__, "duration_ms": ms})

    def _command(self, event: Any) -> InvocationResult:
        try:
            stdin = json.dumps(event).encode()
        except (TypeError, ValueError) as exc:
            raise WasmValidationError("event", f"not JSON-serialisable: {exc}") from None
        inst = self._instance(wasi={"argv": (self.module.source,), "stdin": stdin})
        try:
            run = inst.run_command(self.handler)
        finally:
            self.host.destroy_instance(inst)
        gas = run.gas_used
        if run.exit_code != 0:
            err = f"exit code {run.exit_code}: {run.stderr.decode(errors='replace')[:500]}"
            return InvocationResult("error", error=err, exit_code=run.exit_code, gas_used=gas,
                                    stderr=run.stderr)  # fmt: skip
        try:
            output = json.loads(run.stdout) if run.stdout.strip() else None
        except ValueError:
            return InvocationResult("error", error="stdout is not JSON", exit_code=0,
                                    gas_used=gas, stderr=run.stderr)  # fmt: skip
        return InvocationResult("ok", output, exit_code=0, gas_used=gas, stderr=run.stderr)

    def _core(self, event: Any) -> InvocationResult:
        args = event.get("args") if isinstance(event, Mapping) else event
        if args is None:
            args = []
        if not isinstance(args, list):
            raise WasmValidationError("event", "expected a list of numbers or {'args': [...]}")
        if self._warm is None or self._warm.closed or self._warm.trapped:
            if self._warm is not None:
                self.host.destroy_instance(self._warm)
            self._warm = self._instance()
        inst = self._warm
        before = inst.gas_used if inst.metering else None
        if self.gas_limit is not None and before is not None:
            inst.set_gas_limit(before + self.gas_limit)
        try:
            values = [v.value for v in inst.call(self.handler, args)]
        except WasmStateError as exc:
            return InvocationResult("error", error=str(exc))
        gas = inst.gas_used - before if before is not None else None
        output = values[0] if len(values) == 1 else values
        return InvocationResult("ok", output, gas_used=gas)

    def close(self) -> None:
        warm, self._warm = self._warm, None
        if warm is not None and not warm.closed:
            self.host.destroy_instance(warm)

    def __enter__(self) -> WasmHandler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
