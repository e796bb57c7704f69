"""What a GPU looks like to the rest of the package, and the package's errors.

Every discovery backend turns its tool's output into these frozen records, so the
allocator, the monitor and the CLI never see a vendor's format. Sizes are MB (MiB,
as the tools report them), power is W, temperature is degrees C; a value the tool
does not report (``N/A``, ``[Not Supported]``, a MIG GPU's utilisation) is ``None``.

Errors (their hierarchy)::

    ConstellationError
    └── GpuError                   root of this package's errors
        ├── BackendError           one discovery backend could not answer
        │   ├── ToolMissing        the tool or library is not installed here
        │   ├── ToolTimeout        the tool did not finish within the timeout
        │   ├── ToolFailed         the tool exited with an error
        │   └── ParseError         the tool's output is not what its format promises
        └── UnknownGpu             no discovered GPU has that id (also a NotFoundError)

Bad input (a request, a setting) raises :class:`constellation.errors.ValidationError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from ..errors import ConstellationError, NotFoundError

__all__ = [
    "VENDORS",
    "BackendError",
    "Gpu",
    "GpuError",
    "GpuProcess",
    "MigDevice",
    "ParseError",
    "ToolFailed",
    "ToolMissing",
    "ToolTimeout",
    "UnknownGpu",
    "number",
]

Vendor = Literal["nvidia", "amd", "intel"]
VENDORS: tuple[Vendor, ...] = ("nvidia", "amd", "intel")


class GpuError(ConstellationError):
    """Root of the GPU package's errors."""


class BackendError(GpuError):
    """A discovery backend could not answer; ``backend`` names it."""

    status = "failed"

    def __init__(self, backend: str, message: str) -> None:
        self.backend = backend
        self.message = message
        super().__init__(f"{backend}: {message}")


class ToolMissing(BackendError):
    status = "unavailable"


class ToolTimeout(BackendError):
    status = "timeout"


class ToolFailed(BackendError):
    status = "failed"


class ParseError(BackendError):
    status = "parse_error"


class UnknownGpu(GpuError, NotFoundError):
    def __init__(self, gpu_id: object) -> None:
        NotFoundError.__init__(self, "gpu", gpu_id)


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding memory on a GPU (or on one of its MIG devices)."""

    pid: int
    memory_mb: int | None
    name: str = ""
    mig_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class MigDevice:
    """One MIG slice of a GPU. ``profile`` is like ``"1g.10gb"`` (None when unknown)."""

    index: int
    uuid: str | None
    profile: str | None
    memory_mb: int | None
    gpu_instance_id: int | None = None
    multiprocessors: int | None = None


@dataclass(frozen=True, slots=True)
class Gpu:
    """One physical GPU as discovered. ``id`` is ``"<vendor>:<index>"``, stable per machine."""

    vendor: Vendor
    index: int
    uuid: str | None
    name: str
    memory_total: int | None  # MB
    memory_used: int | None = None
    memory_free: int | None = None
    utilization: float | None = None  # percent; None where the tool says N/A (MIG)
    temperature: float | None = None  # degrees C
    power_draw: float | None = None  # W
    power_limit: float | None = None  # W
    compute_capability: float | None = None  # NVIDIA only
    mig_enabled: bool = False
    mig_devices: tuple[MigDevice, ...] = ()
    processes: tuple[GpuProcess, ...] = ()
    pci_bus_id: str | None = None
    driver_version: str | None = None
    backend: str = ""

    @property
    def id(self) -> str:
        return f"{self.vendor}:{self.index}"

    def with_(self, **changes: object) -> Gpu:
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "vendor": self.vendor,
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "memory_total": self.memory_total,
            "memory_used": self.memory_used,
            "memory_free": self.memory_free,
            "utilization": self.utilization,
            "temperature": self.temperature,
            "power_draw": self.power_draw,
            "power_limit": self.power_limit,
            "compute_capability": self.compute_capability,
            "mig_enabled": self.mig_enabled,
            "mig_devices": [
                {"index": m.index, "uuid": m.uuid, "profile": m.profile, "memory_mb": m.memory_mb}
                for m in self.mig_devices
            ],
            "processes": [
                {"pid": p.pid, "memory_mb": p.memory_mb, "name": p.name} for p in self.processes
            ],
            "pci_bus_id": self.pci_bus_id,
            "backend": self.backend,
        }


@dataclass(frozen=True, slots=True)
class BackendReport:
    """What one backend did during a discovery: ``status`` is ok, skipped, unavailable,
    timeout, failed or parse_error; ``detail`` says why in words."""

    backend: str
    status: str
    detail: str = ""
    gpus: int = 0
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


_NA = {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]", "unknown"}
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def number(text: object, *, backend: str = "", what: str = "") -> float | None:
    """``"81559 MiB"`` -> 81559.0; ``"[N/A]"`` -> None; anything else is a ParseError.

    The tools put a unit after the number (``MiB``, ``W``, ``C``, ``%``); only the first
    number counts. A value that is neither a number nor a known "not available" marker
    means the format changed under us, which must not pass silently.
    """
    if text is None:
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    raw = str(text).strip()
    if raw.lower() in _NA or raw.lower().startswith("[requested functionality"):
        return None
    match = _NUMBER.match(raw)
    if match is None:
        raise ParseError(backend or "parser", f"{what or 'value'}: {raw!r} is not a number")
    return float(match.group())


def integer(text: object, *, backend: str = "", what: str = "") -> int | None:
    value = number(text, backend=backend, what=what)
    return None if value is None else round(value)
