"""Monitoring: GPU readings published as metric series, on demand or every N seconds.

:meth:`GpuMonitor.tick` takes one sample of every GPU and records, per GPU (label
``gpu="nvidia:0"``), ``gpu_utilization_percent``, ``gpu_memory_used_mb``,
``gpu_temperature_celsius`` and ``gpu_power_watts`` in the platform's
:class:`~constellation.telemetry.Telemetry` (so anomaly detectors and ``/metrics`` see
them), plus ``gpu_allocation_memory_mb{owner=...}``: the memory that the processes
attached to each allocation hold, from the tools' process lists. A reading the tool does
not have (utilisation under MIG) is skipped, not recorded as 0.

The loop (:meth:`start`) runs ``tick`` on a daemon thread every ``interval_s`` seconds;
timestamps come from the injected ``clock`` so tests drive ``tick(now=...)`` directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ValidationError
from ..telemetry import Telemetry
from ._manager import GpuManager
from ._model import BackendError, Gpu, GpuProcess
from ._nvml import NvmlBackend

__all__ = ["GpuMonitor", "GpuSample", "read_gpu"]

METRICS = {
    "utilization": "gpu_utilization_percent",
    "memory_used": "gpu_memory_used_mb",
    "temperature": "gpu_temperature_celsius",
    "power_draw": "gpu_power_watts",
}


@dataclass(frozen=True, slots=True)
class GpuSample:
    gpu_id: str
    timestamp: float
    utilization: float | None
    memory_used: float | None
    temperature: float | None
    power_draw: float | None


class GpuMonitor:
    """Samples a manager's GPUs into telemetry. ``close()`` stops the loop (idempotent)."""

    def __init__(
        self,
        manager: GpuManager,
        telemetry: Telemetry,
        *,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (
            isinstance(interval_s, bool)
            or not isinstance(interval_s, int | float)
            or interval_s <= 0
        ):
            raise ValidationError(
                "interval_s", f"{interval_s!r} is out of range; expected > 0 seconds"
            )
        self.manager = manager
        self.telemetry = telemetry
        self.interval_s = float(interval_s)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples_taken = 0
        self.last_error: str | None = None
        self.latest: dict[str, GpuSample] = {}

    def _nvml(self) -> NvmlBackend | None:
        return next(
            (b for b in self.manager.discovery.backends if isinstance(b, NvmlBackend)), None
        )

    def sample(self, now: float | None = None) -> list[GpuSample]:
        """Read every GPU once: through NVML where NVML answered, else by rediscovery."""
        timestamp = self._clock() if now is None else now
        nvml = self._nvml()
        fresh = not self.manager.discovery.discovered
        gpus = self.manager.discover()
        if not fresh and (nvml is None or any(g.backend != "nvml" for g in gpus)):
            gpus = self.manager.discovery.discover()  # the tools give fresh readings per run
        samples = []
        for gpu in gpus:
            if gpu.backend == "nvml" and nvml is not None:
                readings = nvml.sample(gpu.index)
                samples.append(GpuSample(gpu.id, timestamp, **readings))
            else:
                samples.append(_from_gpu(gpu, timestamp))
        return samples

    def tick(self, now: float | None = None) -> list[GpuSample]:
        """One sample of every GPU, recorded in telemetry. Returns what was recorded."""
        try:
            samples = self.sample(now)
        except BackendError as exc:
            self.last_error = str(exc)
            return []
        for s in samples:
            labels = {"gpu": s.gpu_id}
            for field, metric in METRICS.items():
                value = getattr(s, field)
                if value is not None:
                    self.telemetry.record(metric, value, s.timestamp, labels)
            self.latest[s.gpu_id] = s
        if samples:
            self._record_allocations(samples[0].timestamp)
        self.samples_taken += 1
        return samples

    def _record_allocations(self, timestamp: float) -> None:
        watched = [a for a in self.manager.allocations() if a.pids]
        if not watched:
            return
        processes = self._processes({gpu_id for a in watched for gpu_id in a.gpu_ids})
        for allocation in watched:
            pids = set(allocation.pids)
            used = 0
            for gpu_id in allocation.gpu_ids:
                for proc in processes.get(gpu_id, ()):
                    if proc.pid in pids and proc.memory_mb is not None:
                        used += proc.memory_mb
            self.telemetry.record(
                "gpu_allocation_memory_mb", used, timestamp, {"owner": allocation.owner}
            )

    def _processes(self, gpu_ids: set[str]) -> dict[str, tuple[GpuProcess, ...]]:
        """Each GPU's process list now: NVML is asked again, since its samples carry none
        (the discovered list is from the first discovery); a tool backend's discovery
        ran during this sample, so its list is already fresh."""
        nvml = self._nvml()
        found: dict[str, tuple[GpuProcess, ...]] = {}
        for gpu in self.manager.discovery.gpus:
            if gpu.id not in gpu_ids:
                continue
            if gpu.backend == "nvml" and nvml is not None:
                try:
                    found[gpu.id] = nvml.processes(gpu.index)
                except BackendError as exc:
                    self.last_error = str(exc)
            else:
                found[gpu.id] = gpu.processes
        return found

    # -- the loop -----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="gpu-monitor", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=max(5.0, self.interval_s))

    close = stop

    def __enter__(self) -> GpuMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _from_gpu(gpu: Gpu, timestamp: float) -> GpuSample:
    used = float(gpu.memory_used) if gpu.memory_used is not None else None
    return GpuSample(gpu.id, timestamp, gpu.utilization, used, gpu.temperature, gpu.power_draw)


def read_gpu(manager: GpuManager, gpu_id: object, now: float | None = None) -> GpuSample:
    """A fresh reading of one GPU: NVML when it answered, else a rediscovery."""
    fresh = not manager.discovery.discovered
    manager.discover()
    gpu = manager.discovery.get(gpu_id)
    timestamp = time.time() if now is None else now
    nvml = next((b for b in manager.discovery.backends if isinstance(b, NvmlBackend)), None)
    if gpu.backend == "nvml" and nvml is not None:
        return GpuSample(gpu.id, timestamp, **nvml.sample(gpu.index))
    if not fresh:  # a discovery that just ran is fresh enough
        manager.discovery.discover()
        gpu = manager.discovery.get(gpu_id)
    return _from_gpu(gpu, timestamp)
