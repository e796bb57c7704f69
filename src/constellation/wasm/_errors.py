"""Errors raised by ``constellation.wasm``.

Every error derives from :class:`WasmError`, itself a
:class:`constellation.errors.ConstellationError`. The hierarchy::

    WasmError
    ├── WasmValidationError        bad input (also constellation ValidationError / ValueError)
    │   └── InvalidModuleError     the bytes are not a valid module; the message gives the reason
    ├── WasmNotFoundError          no such module, instance or snapshot (also NotFoundError)
    ├── RuntimeUnavailableError    a runtime this machine cannot run (also UnavailableError)
    ├── WasmStateError             the call is not allowed in the object's state (ConflictError):
    │                              an instance that trapped, a snapshot that cannot be restored
    ├── WasmClosedError            the instance or host was closed (also ClosedError)
    └── WasmTrap                   the guest trapped; ``code`` names why (see TRAP_CODES)

Bad input never changes anything: limits, gas and instance state are as before the call.
"""

from __future__ import annotations

from constellation.errors import (
    ClosedError,
    ConflictError,
    ConstellationError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)

__all__ = [
    "TRAP_CODES",
    "InvalidModuleError",
    "RuntimeUnavailableError",
    "WasmClosedError",
    "WasmError",
    "WasmNotFoundError",
    "WasmStateError",
    "WasmTrap",
    "WasmValidationError",
]

# The trap codes a caller can see, in words that do not depend on the runtime.
TRAP_CODES = (
    "out_of_gas",  # the gas limit or the per-call instruction limit was used up
    "timeout",  # timeout_ms passed (epoch interruption)
    "out_of_memory",  # trapped with linear memory at max_memory (a memory.grow was refused)
    "out_of_bounds",  # memory or table access outside its bounds
    "unreachable",  # the guest executed `unreachable`
    "stack_overflow",
    "integer_overflow",
    "division_by_zero",
    "bad_conversion",  # float -> int conversion out of range
    "indirect_call",  # null or mistyped indirect call
    "host_error",  # an imported host function failed
    "other",
)


class WasmError(ConstellationError):
    """Root of every error raised by ``constellation.wasm``."""


class WasmValidationError(WasmError, ValidationError):
    """Bad input: ``field`` names the argument and the message says what is allowed."""


class InvalidModuleError(WasmValidationError):
    """The bytes or WAT text are not a valid WebAssembly module; the message says why."""


class WasmNotFoundError(WasmError, NotFoundError):
    """No module, instance or snapshot with that id or name."""


class RuntimeUnavailableError(WasmError, UnavailableError):
    """The runtime cannot be used on this machine (the message says why and what to use)."""


class WasmStateError(WasmError, ConflictError):
    """The object's state forbids the call (a trapped instance, a snapshot too large...)."""


class WasmClosedError(WasmError, ClosedError):
    """The instance (or the host that owned it) was closed."""


class WasmTrap(WasmError):
    """The guest trapped. ``code`` is one of :data:`TRAP_CODES`.

    The instance that trapped refuses further calls until a snapshot is restored into it;
    or create a new one.
    """

    def __init__(self, code: str, message: str, instance_id: str | None = None) -> None:
        self.code = code
        self.message = message
        self.instance_id = instance_id
        super().__init__(f"wasm trap ({code}): {message}")
