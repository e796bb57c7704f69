"""One inventory from many backends, and a record of what each backend did.

Backends are asked in priority order: NVML, ``nvidia-smi``, ``amd-smi``, ``rocm-smi``,
``xpu-smi``. Once a backend has found GPUs of its vendor, the lower-priority backends of
the same vendor are skipped (NVML answering makes ``nvidia-smi`` redundant). A backend
that is missing, hangs past its timeout, exits with an error or prints what does not
parse is recorded with that reason and discovery goes on with the others, so the
report always says which backends were tried and why none answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..errors import ValidationError
from ._amd import AmdSmiBackend, RocmSmiBackend
from ._backend import DEFAULT_TIMEOUT_S, Backend, StaticBackend
from ._intel import XpuSmiBackend
from ._model import BackendError, BackendReport, Gpu, UnknownGpu
from ._nvidia_smi import NvidiaSmiBackend
from ._nvml import NvmlBackend

__all__ = ["Backend", "Discovery", "StaticBackend", "default_backends"]


def default_backends(timeout: float = DEFAULT_TIMEOUT_S) -> list[Backend]:
    return [
        NvmlBackend(),
        NvidiaSmiBackend(timeout),
        AmdSmiBackend(timeout),
        RocmSmiBackend(timeout),
        XpuSmiBackend(timeout),
    ]


class Discovery:
    """Runs the backends, merges their GPUs, and keeps the last run's reports."""

    def __init__(
        self,
        backends: Sequence[Backend] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValidationError("timeout", f"{timeout!r} is out of range; expected > 0 seconds")
        self.backends: list[Backend] = (
            list(backends) if backends is not None else default_backends(timeout)
        )
        self._clock = clock
        self._lock = threading.Lock()
        self.reports: list[BackendReport] = []
        self.gpus: list[Gpu] = []
        self.discovered = False

    def discover(self) -> list[Gpu]:
        with self._lock:
            reports: list[BackendReport] = []
            found: list[Gpu] = []
            answered: dict[str, str] = {}
            for backend in self.backends:
                if backend.vendor in answered:
                    reports.append(
                        BackendReport(
                            backend.name,
                            "skipped",
                            f"{backend.vendor} GPUs already found by {answered[backend.vendor]}",
                        )
                    )
                    continue
                start = self._clock()
                try:
                    gpus = backend.discover()
                except BackendError as exc:
                    reports.append(
                        BackendReport(
                            backend.name, exc.status, exc.message, 0, self._clock() - start
                        )
                    )
                    continue
                except (LookupError, TypeError, ValueError, AttributeError) as exc:
                    # Output of a shape the parser never saw (a key gone, a list where an
                    # object was): that backend failed to parse; the others still answer.
                    detail = f"unexpected output: {type(exc).__name__}: {exc}"
                    elapsed = self._clock() - start
                    reports.append(BackendReport(backend.name, "parse_error", detail, 0, elapsed))
                    continue
                elapsed = self._clock() - start
                notes = "; ".join(backend.notes)
                if gpus:
                    answered[backend.vendor] = backend.name
                    detail = f"{len(gpus)} GPU(s)" + (f" ({notes})" if notes else "")
                else:
                    detail = "ran, but reported no GPUs" + (f" ({notes})" if notes else "")
                reports.append(BackendReport(backend.name, "ok", detail, len(gpus), elapsed))
                found.extend(gpus)
            self.gpus = _merge(found)
            self.reports = reports
            self.discovered = True
            return list(self.gpus)

    def ensure(self) -> list[Gpu]:
        return list(self.gpus) if self.discovered else self.discover()

    def get(self, gpu_id: object) -> Gpu:
        """A GPU by id (``"nvidia:0"``), UUID, or bare index (the first vendor's)."""
        gpus = self.ensure()
        for gpu in gpus:
            if gpu_id in (gpu.id, gpu.uuid):
                return gpu
        if isinstance(gpu_id, int) and not isinstance(gpu_id, bool):
            for gpu in gpus:
                if gpu.index == gpu_id:
                    return gpu
        raise UnknownGpu(gpu_id)

    def why_none(self) -> str:
        """One line per backend saying why it did not answer (for ``gpu ls`` and stats)."""
        if not self.reports:
            return "discovery has not run"
        return "; ".join(f"{r.backend}: {r.status} ({r.detail})" for r in self.reports)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


def _merge(gpus: list[Gpu]) -> list[Gpu]:
    """Drop a GPU a higher-priority backend already reported (same UUID or PCI address)."""
    seen: set[str] = set()
    merged = []
    for gpu in gpus:
        keys = {k for k in (gpu.uuid, gpu.pci_bus_id and gpu.pci_bus_id.lower()) if k}
        if keys & seen:
            continue
        seen |= keys
        merged.append(gpu)
    return merged
