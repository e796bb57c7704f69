"""NVIDIA discovery and sampling through NVML (the ``pynvml`` module of ``nvidia-ml-py``).

:class:`NvmlBackend` is the one thin wrapper around the NVML handle: it initialises
NVML on first use, keeps the device handles, and releases them on :meth:`close`
(idempotent; also a context manager). NVML answers in bytes and milliwatts; the
records here are MB and W like every other backend. A reading NVML does not support
(utilisation under MIG, power on some boards) is ``None``, as ``nvidia-smi`` says
``[N/A]``; any other NVML error fails the backend with NVML's own message.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
from types import ModuleType
from typing import Any

from ._catalog import mig_table_for
from ._model import Gpu, GpuProcess, MigDevice, ToolFailed, ToolMissing

__all__ = ["NvmlBackend"]

NAME = "nvml"
_MIB = 1024 * 1024
_PROFILE = re.compile(r"MIG (\d+g\.\d+gb(?:\+me)?)")


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlBackend:
    """NVML, initialised on first use. ``close()`` shuts NVML down (idempotent)."""

    name = NAME
    vendor = "nvidia"

    def __init__(self, module: ModuleType | None = None) -> None:
        self._module = module
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._lock = threading.Lock()
        self.notes: list[str] = []

    def _open(self) -> Any:
        if self._nvml is not None:
            return self._nvml
        try:
            nvml: Any = self._module or importlib.import_module("pynvml")
        except ImportError:
            raise ToolMissing(NAME, "the pynvml module (nvidia-ml-py) is not installed") from None
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            # LibraryNotFound / DriverNotLoaded mean "no NVIDIA stack here", not a fault.
            raise ToolMissing(NAME, f"nvmlInit failed: {exc}") from None
        self._nvml = nvml
        try:
            self._handles = [
                nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())
            ]
        except nvml.NVMLError as exc:
            self.close()
            raise ToolFailed(NAME, f"listing devices failed: {exc}") from None
        return nvml

    def _maybe(self, fn: Any, *args: Any) -> Any:
        """Call an NVML function; None when this device or driver does not have it."""
        nvml = self._nvml
        absent = tuple(
            getattr(nvml, name)
            for name in (
                "NVMLError_NotSupported",
                "NVMLError_NotFound",
                "NVMLError_FunctionNotFound",
            )
            if hasattr(nvml, name)
        )
        try:
            return fn(*args)
        except absent:
            return None

    def discover(self) -> list[Gpu]:
        with self._lock:
            nvml = self._open()
            self.notes = []
            try:
                driver = _str(nvml.nvmlSystemGetDriverVersion())
                return [self._device(i, h, driver) for i, h in enumerate(self._handles)]
            except nvml.NVMLError as exc:
                raise ToolFailed(NAME, str(exc)) from None

    def _device(self, index: int, handle: Any, driver: str) -> Gpu:
        nvml = self._nvml
        name = _str(nvml.nvmlDeviceGetName(handle))
        memory = self._memory(handle)
        total = memory.total // _MIB
        cc = self._maybe(nvml.nvmlDeviceGetCudaComputeCapability, handle)
        mig_mode = self._maybe(nvml.nvmlDeviceGetMigMode, handle)
        mig_enabled = bool(mig_mode) and mig_mode[0] == nvml.NVML_DEVICE_MIG_ENABLE
        migs = self._mig_devices(handle, name, total) if mig_enabled else ()
        pci = self._maybe(nvml.nvmlDeviceGetPciInfo, handle)
        util, temp, draw, limit = self._readings(handle)
        return Gpu(
            vendor="nvidia",
            index=index,
            uuid=_str(nvml.nvmlDeviceGetUUID(handle)),
            name=name,
            memory_total=total,
            memory_used=memory.used // _MIB,
            memory_free=memory.free // _MIB,
            utilization=util,
            temperature=temp,
            power_draw=draw,
            power_limit=limit,
            compute_capability=float(f"{cc[0]}.{cc[1]}") if cc else None,
            mig_enabled=mig_enabled,
            mig_devices=migs,
            processes=self._processes(handle, migs),
            pci_bus_id=_str(pci.busId) if pci is not None else None,
            driver_version=driver,
            backend=NAME,
        )

    def _memory(self, handle: Any) -> Any:
        """Memory as ``nvidia-smi`` counts it: the v2 call, whose ``used`` leaves out what
        the driver reserves (616 MiB on an idle H200, which v1 counts as used); v1 where
        the driver or binding lacks v2."""
        nvml = self._nvml
        version = getattr(nvml, "nvmlMemory_v2", None)
        if version is not None:
            try:
                return nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
            except nvml.NVMLError:
                pass  # FunctionNotFound on older drivers
        return nvml.nvmlDeviceGetMemoryInfo(handle)

    def _readings(self, handle: Any) -> tuple[float | None, ...]:
        nvml = self._nvml
        util = self._maybe(nvml.nvmlDeviceGetUtilizationRates, handle)
        temp = self._maybe(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        power = self._maybe(nvml.nvmlDeviceGetPowerUsage, handle)
        limit = self._maybe(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        return (
            float(util.gpu) if util is not None else None,
            float(temp) if temp is not None else None,
            power / 1000.0 if power is not None else None,
            limit / 1000.0 if limit is not None else None,
        )

    def _mig_devices(self, handle: Any, gpu_name: str, total: int) -> tuple[MigDevice, ...]:
        nvml = self._nvml
        table = mig_table_for(gpu_name, total)
        devices = []
        for slot in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except nvml.NVMLError:
                continue  # an empty slot (NOT_FOUND, or INVALID_ARGUMENT on some drivers)
            match = _PROFILE.search(_str(nvml.nvmlDeviceGetName(mig)))
            profile = match.group(1) if match else None
            memory = nvml.nvmlDeviceGetMemoryInfo(mig).total // _MIB
            if profile is None and table is not None:
                profile = next((p for p in table[1] if table[1][p].memory_mb == memory), None)
            devices.append(
                MigDevice(
                    index=slot,
                    uuid=_str(nvml.nvmlDeviceGetUUID(mig)),
                    profile=profile,
                    memory_mb=memory,
                    gpu_instance_id=self._maybe(nvml.nvmlDeviceGetGpuInstanceId, mig),
                )
            )
        return tuple(devices)

    def _processes(self, handle: Any, migs: tuple[MigDevice, ...]) -> tuple[GpuProcess, ...]:
        nvml = self._nvml
        try:
            found = nvml.nvmlDeviceGetComputeRunningProcesses(handle) or []
        except nvml.NVMLError as exc:  # e.g. NO_PERMISSION: the GPU is still usable
            self.notes.append(f"processes: {exc}")
            found = []
        by_gi = {m.gpu_instance_id: m.uuid for m in migs}
        result = []
        for proc in found:
            used = getattr(proc, "usedGpuMemory", None)
            gi = getattr(proc, "gpuInstanceId", None)
            result.append(
                GpuProcess(
                    pid=int(proc.pid),
                    memory_mb=used // _MIB if isinstance(used, int) else None,
                    mig_uuid=by_gi.get(gi) if migs else None,
                )
            )
        return tuple(result)

    def sample(self, index: int) -> dict[str, float | None]:
        """One cheap monitoring reading of device ``index`` (no names, no MIG walk)."""
        with self._lock:
            nvml = self._open()
            handle = self._handles[index]
            try:
                memory = self._memory(handle)
                util, temp, draw, _limit = self._readings(handle)
            except nvml.NVMLError as exc:
                raise ToolFailed(NAME, str(exc)) from None
        return {
            "utilization": util,
            "memory_used": float(memory.used // _MIB),
            "temperature": temp,
            "power_draw": draw,
        }

    def processes(self, index: int) -> tuple[GpuProcess, ...]:
        """The compute processes on device ``index`` now (pid and memory; for usage per owner)."""
        with self._lock:
            self._open()
            return self._processes(self._handles[index], ())

    @property
    def device_count(self) -> int:
        with self._lock:
            self._open()
            return len(self._handles)

    def close(self) -> None:
        nvml, self._nvml, self._handles = self._nvml, None, []
        if nvml is not None:
            # Shutting down a half-initialised library is not worth raising over.
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def __enter__(self) -> NvmlBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
