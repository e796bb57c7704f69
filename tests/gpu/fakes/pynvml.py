"""A fake ``pynvml`` (nvidia-ml-py) that answers from an nvidia_gpu_exporter capture,
or from a folder of real outputs saved by ``benchmarks/gpu_check.py``.

Only the calls the NVML backend makes exist. Readings come from the capture's
``--query-gpu`` CSV (memory, utilisation, temperature, power, compute capability, MIG
mode), ``-L`` (MIG profiles and UUIDs), the default ``nvidia-smi`` table (each MIG
device's GPU instance id and memory) and ``--query-compute-apps`` (processes). Like real
NVML it answers in bytes and milliwatts, raises ``NVMLError_NotSupported`` for a reading
the capture says is ``[N/A]`` (utilisation under MIG), and ``NVMLError_LibraryNotFound``
from ``nvmlInit`` when no capture is configured (``FAKE_PYNVML_CAPTURE``). Memory v1
counts the driver's reservation (``<reserved>`` of a saved ``-q -x``) as used, v2 does
not; ``FAKE_PYNVML_NO_V2`` makes v2 absent, as on older drivers.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fake_smi import capture_sections

NVML_TEMPERATURE_GPU = 0
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1
nvmlMemory_v2 = 0x02000028
_MIB = 1024 * 1024


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_NotFound(NVMLError):
    pass


class NVMLError_FunctionNotFound(NVMLError):
    pass


class NVMLError_NoPermission(NVMLError):
    pass


class NVMLError_Uninitialized(NVMLError):
    pass


@dataclass
class _Device:
    row: dict[str, str]
    migs: list[_Device] = field(default_factory=list)
    name: str = ""
    uuid: str = ""
    memory_total: int = 0
    memory_used: int = 0
    memory_reserved: int = 0
    gpu_instance_id: int | None = None
    processes: list[SimpleNamespace] = field(default_factory=list)


_devices: list[_Device] | None = None
calls: dict[str, int] = {}


def _rows(body: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(body.strip()), skipinitialspace=True))
    header = [re.sub(r"\s*\[.*\]$", "", h.strip()) for h in rows[0]]
    return [dict(zip(header, (v.strip() for v in row), strict=True)) for row in rows[1:] if row]


def _mib(value: str) -> int:
    return int(value.split()[0])


def _load() -> list[_Device]:
    raw = os.environ.get("FAKE_PYNVML_CAPTURE")
    if not raw:
        raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")
    capture = Path(raw)
    found = capture_sections(capture, os.environ.get("FAKE_GPU_STATE", "idle"))
    sections: dict[str, str] = {}
    for command, body in found.items():
        sections.setdefault(command.split("=")[0], body)
    xml = sections.get("nvidia-smi -q -x", "")
    reserved = [int(mib) for mib in re.findall(r"<reserved>(\d+) MiB</reserved>", xml)]
    devices = []
    for row in _rows(sections["nvidia-smi --query-gpu"]):
        d = _Device(row, name=row["name"], uuid=row["uuid"])
        d.memory_total, d.memory_used = (
            _mib(row["memory.total"]) * _MIB,
            _mib(row["memory.used"]) * _MIB,
        )
        if len(reserved) > len(devices):
            d.memory_reserved = reserved[len(devices)] * _MIB
        devices.append(d)
    apps = sections.get("nvidia-smi --query-compute-apps")
    for app in _rows(apps) if apps and apps.strip() else []:
        for d in devices:
            if d.uuid == app["gpu_uuid"]:
                d.processes.append(
                    SimpleNamespace(
                        pid=int(app["pid"]), usedGpuMemory=_mib(app["used_gpu_memory"]) * _MIB
                    )
                )
    # MIG devices: profile and UUID from -L, GPU instance and memory from the default table.
    table = re.findall(
        r"\|\s+(\d+)\s+(\d+)\s+\d+\s+(\d+)\s+\|\s+(\d+)MiB /\s*(\d+)MiB",
        sections.get("nvidia-smi", ""),
    )
    current = None
    for line in sections.get("nvidia-smi -L", "").splitlines():
        if m := re.match(r"GPU (\d+): .* \(UUID: ([^)]+)\)", line):
            current = devices[int(m.group(1))]
        elif (m := re.match(r"\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: ([^)]+)\)", line)) and current:
            gpu_index = devices.index(current)
            entry = next(
                (t for t in table if int(t[0]) == gpu_index and int(t[2]) == int(m.group(2))), None
            )
            mig = _Device({}, name=f"{current.name} MIG {m.group(1)}", uuid=m.group(3))
            if entry is not None:
                mig.gpu_instance_id = int(entry[1])
                mig.memory_used, mig.memory_total = int(entry[3]) * _MIB, int(entry[4]) * _MIB
            current.migs.append(mig)
    return devices


def _dev(handle: Any) -> _Device:
    if _devices is None:
        raise NVMLError_Uninitialized("Uninitialized")
    calls["device"] = calls.get("device", 0) + 1
    return handle


def nvmlInit() -> None:
    global _devices
    _devices = _load()


def nvmlShutdown() -> None:
    global _devices
    if _devices is None:
        raise NVMLError_Uninitialized("Uninitialized")
    _devices = None
    calls["shutdown"] = calls.get("shutdown", 0) + 1


def nvmlSystemGetDriverVersion() -> str:
    return _devices[0].row["driver_version"] if _devices else ""


def nvmlDeviceGetCount() -> int:
    if _devices is None:
        raise NVMLError_Uninitialized("Uninitialized")
    return len(_devices)


def nvmlDeviceGetHandleByIndex(index: int) -> _Device:
    if _devices is None:
        raise NVMLError_Uninitialized("Uninitialized")
    return _devices[index]


def nvmlDeviceGetName(handle: Any) -> str:
    return _dev(handle).name


def nvmlDeviceGetUUID(handle: Any) -> str:
    return _dev(handle).uuid


def nvmlDeviceGetMemoryInfo(handle: Any, version: int | None = None) -> SimpleNamespace:
    """v1 counts the driver's reservation as used, v2 does not (as nvidia-smi does not)."""
    d = _dev(handle)
    if version is None:
        used = d.memory_used + d.memory_reserved
        return SimpleNamespace(total=d.memory_total, used=used, free=d.memory_total - used)
    if os.environ.get("FAKE_PYNVML_NO_V2"):
        raise NVMLError_FunctionNotFound("Function Not Found")
    free = d.memory_total - d.memory_used - d.memory_reserved
    return SimpleNamespace(
        total=d.memory_total, reserved=d.memory_reserved, used=d.memory_used, free=free
    )


def _reading(handle: Any, key: str) -> str:
    value = _dev(handle).row.get(key, "[N/A]")
    if value.startswith("["):
        raise NVMLError_NotSupported("Not Supported")
    return value


def nvmlDeviceGetUtilizationRates(handle: Any) -> SimpleNamespace:
    return SimpleNamespace(gpu=int(_reading(handle, "utilization.gpu").split()[0]), memory=0)


def nvmlDeviceGetTemperature(handle: Any, sensor: int) -> int:
    return int(_reading(handle, "temperature.gpu"))


def nvmlDeviceGetPowerUsage(handle: Any) -> int:
    return round(float(_reading(handle, "power.draw").split()[0]) * 1000)


def nvmlDeviceGetEnforcedPowerLimit(handle: Any) -> int:
    row = _dev(handle).row
    key = "enforced.power.limit" if "enforced.power.limit" in row else "power.limit"
    return round(float(_reading(handle, key).split()[0]) * 1000)


def nvmlDeviceGetCudaComputeCapability(handle: Any) -> tuple[int, int]:
    major, minor = _reading(handle, "compute_cap").split(".")
    return int(major), int(minor)


def nvmlDeviceGetMigMode(handle: Any) -> tuple[int, int]:
    mode = _reading(handle, "mig.mode.current")
    return (NVML_DEVICE_MIG_ENABLE if mode == "Enabled" else NVML_DEVICE_MIG_DISABLE,) * 2


def nvmlDeviceGetMaxMigDeviceCount(handle: Any) -> int:
    return 7


def nvmlDeviceGetMigDeviceHandleByIndex(handle: Any, index: int) -> _Device:
    migs = _dev(handle).migs
    if index >= len(migs):
        raise NVMLError_NotFound("Not Found")
    return migs[index]


def nvmlDeviceGetGpuInstanceId(handle: Any) -> int:
    gi = _dev(handle).gpu_instance_id
    if gi is None:
        raise NVMLError_NotSupported("Not Supported")
    return gi


def nvmlDeviceGetPciInfo(handle: Any) -> SimpleNamespace:
    return SimpleNamespace(busId=_dev(handle).row["pci.bus_id"].encode())


def nvmlDeviceGetComputeRunningProcesses(handle: Any) -> list[SimpleNamespace]:
    if os.environ.get("FAKE_PYNVML_NO_PERMISSION"):
        raise NVMLError_NoPermission("Insufficient Permissions")
    return list(_dev(handle).processes)
