"""Resource limits for an instance, validated when built.

``max_memory`` (bytes of linear memory, enforced by the store's limiter: ``memory.grow``
returns -1 past it and instantiation fails if the module needs more), ``max_instructions``
(fuel per call: a call that would use more traps with ``out_of_gas``),
``max_table_elements`` (enforced by the store's limiter) and ``timeout_ms`` (wall time per
call, enforced by epoch interruption). ``None`` means no limit.

Every new instance starts from the host's **default limits** (:data:`DEFAULT_LIMITS`:
a 10 s timeout per call, 256 MiB of linear memory and 10**11 gas per call), so an
infinite loop ends on its own. They are configurable per host
(``WasmHost(default_limits=...)``, ``wasm.init(default_limits=...)``) and by environment
(``CONSTELLATION_WASM_TIMEOUT_MS``, ``CONSTELLATION_WASM_MAX_MEMORY``,
``CONSTELLATION_WASM_MAX_INSTRUCTIONS``; ``none`` turns one off); limits given to
``create_instance`` are laid over them (a key set to ``None`` removes that default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from ._errors import WasmStateError, WasmValidationError

__all__ = ["DEFAULT_LIMITS", "ENV_LIMITS", "ResourceLimits", "default_limits", "instantiation_error",
           "parse_size"]  # fmt: skip

MAX_MEMORY_BYTES = 4 * 1024**3  # wasm32's whole address space
MAX_FUEL = 2**62  # leaves room below wasmtime's u64 fuel counter


@dataclass(frozen=True)
class ResourceLimits:
    max_memory: int | None = None
    max_instructions: int | None = None
    max_table_elements: int | None = None
    timeout_ms: float | None = None

    def __post_init__(self) -> None:
        # At least one wasm page: each memory is capped on its own, the meter's page too.
        _check_int("max_memory", self.max_memory, 65536, MAX_MEMORY_BYTES, "bytes")
        _check_int("max_instructions", self.max_instructions, 1, MAX_FUEL)
        _check_int("max_table_elements", self.max_table_elements, 0, 2**32 - 1)
        t = self.timeout_ms
        if t is not None:
            if isinstance(t, bool) or not isinstance(t, int | float):
                raise WasmValidationError("timeout_ms", f"{t!r} is not a number of milliseconds")
            if not 0 < t <= 24 * 3600 * 1000:
                raise WasmValidationError.range("timeout_ms", t, 1, 24 * 3600 * 1000, "ms")

    @classmethod
    def from_value(cls, value: object, base: ResourceLimits | None = None) -> ResourceLimits:
        """Build from a mapping (keys as the fields) or a ResourceLimits, over ``base``.

        Keys absent from the mapping keep ``base``'s value; ``None`` removes a limit.
        """
        base = base or cls()
        if isinstance(value, ResourceLimits):
            return value
        if not isinstance(value, Mapping):
            raise WasmValidationError("limits", f"{value!r} is not a mapping of limits")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in value:
            if key not in known:
                raise WasmValidationError.choice("limits", key, known)
        return dataclasses.replace(base, **dict(value))

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _check_int(field: str, value: object, low: int, high: int, unit: str = "") -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise WasmValidationError(field, f"{value!r} is not an integer")
    if not low <= value <= high:
        raise WasmValidationError.range(field, value, low, high, unit)


_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
          "kb": 1000, "mb": 1000**2, "gb": 1000**3}  # fmt: skip


def parse_size(field: str, text: str) -> int:
    """``"64MiB"`` -> 67108864 (KiB/MiB/GiB are powers of two, kB/MB/GB of ten)."""
    raw = text.strip().lower().replace(" ", "")
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(digits) :]
    if not digits or unit not in _UNITS:
        raise WasmValidationError(field, f"{text!r} is not a size; expected e.g. 65536, 64MiB")
    try:
        number = float(digits)
    except ValueError:
        raise WasmValidationError(field, f"{text!r} is not a size") from None
    return int(number * _UNITS[unit])


DEFAULT_LIMITS = ResourceLimits(
    max_memory=256 * 1024**2, max_instructions=10**11, timeout_ms=10_000
)
# Environment variables that replace one default each ("none" removes it).
ENV_LIMITS = {
    "CONSTELLATION_WASM_TIMEOUT_MS": "timeout_ms",
    "CONSTELLATION_WASM_MAX_MEMORY": "max_memory",
    "CONSTELLATION_WASM_MAX_INSTRUCTIONS": "max_instructions",
}


def default_limits(environ: Mapping[str, str] | None = None) -> ResourceLimits:
    """:data:`DEFAULT_LIMITS` with the environment's replacements (validated, field named)."""
    import os

    env = os.environ if environ is None else environ
    changes: dict[str, object] = {}
    for var, field in ENV_LIMITS.items():
        raw = env.get(var)
        if raw is None or not raw.strip():
            continue
        text = raw.strip()
        if text.lower() in ("none", "off", "0"):
            changes[field] = None
        elif field == "max_memory":
            changes[field] = parse_size(var, text)
        else:
            try:
                changes[field] = float(text) if field == "timeout_ms" else int(text)
            except ValueError:
                raise WasmValidationError(var, f"{text!r} is not a number (or 'none')") from None
    try:
        return dataclasses.replace(DEFAULT_LIMITS, **changes)  # type: ignore[arg-type]
    except WasmValidationError as exc:
        var = next(v for v, f in ENV_LIMITS.items() if f == exc.field)
        raise WasmValidationError(var, exc.message) from None


def instantiation_error(message: str, limits: ResourceLimits) -> Exception:
    """The error for a failed instantiation: a limit too small to instantiate, a missing
    import, else a state error with wasmtime's message."""
    text = " ".join(message.split())
    if "unknown import" in text:
        return WasmValidationError("module", f"{text}: the host does not provide this import")
    if "memory" in text and limits.max_memory is not None:
        return WasmValidationError(
            "max_memory", f"{limits.max_memory} bytes is too small to instantiate: {text}"
        )
    if "table" in text and limits.max_table_elements is not None:
        return WasmValidationError(
            "max_table_elements",
            f"{limits.max_table_elements} is too small to instantiate: {text}",
        )
    return WasmStateError(f"instantiation failed: {text}")
