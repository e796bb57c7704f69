"""Instances on wasm3 (PyPI ``pywasm3``), an interpreter.

wasm3 has no fuel, no interruption, no store limiter and no WASI in its Python binding,
so: gas comes from the counter that :mod:`._rewrite` writes into the module; ``max_memory``
is the global ``__cst_max_pages`` that the rewritten ``memory.grow`` checks, so it is
taken at creation and after it (the seed's order: create, then ``set_resource_limits``),
and refused only below the memory already in use; ``timeout_ms`` (wasm3 cannot interrupt
a running call: bound it with gas) and ``max_table_elements`` are refused with a clear
error; modules that import WASI are refused. Snapshots are not offered on wasm3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._base import WasmInstance
from ._binary import FormatError
from ._errors import RuntimeUnavailableError, WasmTrap, WasmValidationError
from ._limits import MAX_FUEL, ResourceLimits
from ._module import WasmModule
from ._rewrite import GAS_EXPORT, MAX_PAGES_EXPORT, meter
from ._values import NUMERIC_TYPES, WasmValue, check_params, to_signed
from ._wasi import WasiOptions

__all__ = ["Wasm3Instance"]

STACK_BYTES = 1024 * 1024
_TRAPS = (
    ("unreachable", "unreachable"),
    ("out of bounds", "out_of_bounds"),
    ("stack overflow", "stack_overflow"),
    ("divide by zero", "division_by_zero"),
    ("integer overflow", "integer_overflow"),
    ("conversion", "bad_conversion"),
    ("indirect call", "indirect_call"),
)


def _refuse_unsupported(limits: ResourceLimits) -> None:
    if limits.timeout_ms is not None:
        raise WasmValidationError(
            "timeout_ms", "wasm3 cannot interrupt a running call; bound it with gas instead"
        )
    if limits.max_table_elements is not None:
        raise WasmValidationError("max_table_elements", "wasm3 has no table limit")


class Wasm3Instance(WasmInstance):
    runtime = "wasm3"

    def __init__(
        self,
        module: WasmModule,
        *,
        limits: ResourceLimits | None = None,
        gas_limit: int | None = None,
        wasi: WasiOptions | None = None,
        instance_id: str | None = None,
    ) -> None:
        super().__init__(module, instance_id)
        if wasi is not None or module.uses_wasi:
            raise RuntimeUnavailableError(
                "runtime 'wasm3' runs without WASI (pywasm3 offers none); use 'wasmtime'"
            )
        import wasm3

        limits = limits or ResourceLimits()
        _refuse_unsupported(limits)
        try:
            wasm = meter(module.wasm)
        except FormatError as exc:
            raise RuntimeUnavailableError(
                f"runtime 'wasm3' cannot meter this module: {exc}"
            ) from None
        needed = module.layout.initial_pages * 65536
        if (
            limits.max_memory is not None
            and module.layout.has_memory
            and needed > limits.max_memory
        ):
            raise WasmValidationError(
                "max_memory",
                f"{limits.max_memory} is too small: the module needs {needed} bytes of memory at start",
            )
        self.limits = limits
        self._env = wasm3.Environment()
        self._rt = self._env.new_runtime(STACK_BYTES)
        try:
            self._mod = self._env.parse_module(wasm)
            self._rt.load(self._mod)
        except RuntimeError as exc:
            raise RuntimeUnavailableError(f"wasm3 cannot load this module: {exc}") from None
        self._used = 0
        self._funcs: dict[str, Any] = {}
        self._cap_memory(limits.max_memory)
        if gas_limit is not None:
            self.set_gas_limit(gas_limit)

    def call(self, name: str, params: Sequence[object] | None = None) -> list[WasmValue]:
        with self._lock:
            self._check_usable()
            info = self.module.function(name)
            if any(t not in NUMERIC_TYPES for t in (*info.params, *info.results)):
                raise WasmValidationError("function", f"{name}: only numeric values are supported")
            values = check_params(name, info.params, params)
            func = self._funcs.get(name)
            if func is None:
                func = self._funcs[name] = self._rt.find_function(name)
            budget = MAX_FUEL
            if self.limits.max_instructions is not None:
                budget = self.limits.max_instructions
            if self.gas_limit is not None:
                budget = max(min(budget, self.gas_limit - self._used), 0)
            self._mod.set_global(GAS_EXPORT, budget)
            try:
                raw = func(*values)
            except RuntimeError as exc:
                left = self._mod.get_global(GAS_EXPORT)
                self._used += budget - max(left, 0)
                self.trap = self._trap(str(exc), left < 0)
                raise self.trap from None
            self._used += budget - self._mod.get_global(GAS_EXPORT)
        raws = [] if raw is None else list(raw) if isinstance(raw, tuple | list) else [raw]
        return [
            WasmValue(t, to_signed(v, 32 if t == "i32" else 64) if t[0] == "i" else float(v))
            for t, v in zip(info.results, raws, strict=True)
        ]

    def _trap(self, message: str, out_of_gas: bool) -> WasmTrap:
        first = message.splitlines()[0] if message else "trap"
        if out_of_gas:
            if self.gas_limit is not None and self._used >= self.gas_limit:
                return WasmTrap("out_of_gas", f"gas limit of {self.gas_limit} used up", self.id)
            why = f"max_instructions of {self.limits.max_instructions} per call reached"
            return WasmTrap("out_of_gas", why, self.id)
        for needle, code in _TRAPS:
            if needle in first.lower():
                return WasmTrap(code, first, self.id)
        return WasmTrap("other", first, self.id)

    def _cap_memory(self, max_memory: int | None) -> None:
        if self.module.layout.has_memory:
            pages = 65536 if max_memory is None else max_memory // 65536
            self._mod.set_global(MAX_PAGES_EXPORT, pages)

    def set_limits(self, limits: ResourceLimits) -> None:
        _refuse_unsupported(limits)
        with self._lock:
            if limits.max_memory is not None and self.memory_size > limits.max_memory:
                raise WasmValidationError(
                    "max_memory",
                    f"{limits.max_memory} is below the instance's current memory of "
                    f"{self.memory_size} bytes (memory cannot shrink)",
                )
            self._cap_memory(limits.max_memory)
            self.limits = limits

    def set_gas_limit(self, gas: int | None) -> None:
        if gas is not None and (isinstance(gas, bool) or not isinstance(gas, int)):
            raise WasmValidationError("gas", f"{gas!r} is not an integer")
        if gas is not None and not 1 <= gas <= MAX_FUEL:
            raise WasmValidationError.range("gas", gas, 1, MAX_FUEL)
        with self._lock:
            self.gas_limit = gas

    @property
    def gas_used(self) -> int:
        return self._used

    @property
    def memory_size(self) -> int:
        if not self.module.layout.has_memory or self._closed:
            return 0
        return len(self._rt.get_memory(0))

    def _release(self) -> None:
        self._funcs.clear()
        self._mod = self._rt = self._env = None
