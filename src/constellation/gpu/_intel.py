"""Intel discovery through ``xpu-smi`` (Intel XPU Manager).

Three calls, in the formats of Intel's ``doc/smi_user_guide.md``:

* ``xpu-smi discovery -j``: ``{"device_list": [{"device_id", "device_name", "uuid",
  "pci_bdf_address", ...}]}``;
* ``xpu-smi discovery -d <id>``: a text table with ``Memory Physical Size: 32768.00 MiB``;
* ``xpu-smi dump -d -1 -m 0,1,3,5,18 -n 1``: one CSV sample per device of utilisation,
  power, core temperature, memory utilisation and memory used. Columns are matched by
  their header names, so a release that reorders them still parses.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

from ._backend import DEFAULT_TIMEOUT_S, Tool
from ._model import BackendError, Gpu, ParseError, integer, number

__all__ = [
    "XpuSmiBackend",
    "build_gpus",
    "parse_xpu_detail",
    "parse_xpu_discovery",
    "parse_xpu_dump",
]

NAME = "xpu-smi"
DUMP_ARGS = ("dump", "-d", "-1", "-m", "0,1,3,5,18", "-n", "1")


def parse_xpu_discovery(text: str) -> list[dict[str, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(NAME, f"discovery -j output is not JSON: {exc}") from None
    devices = data.get("device_list") if isinstance(data, dict) else None
    if not isinstance(devices, list):
        raise ParseError(NAME, 'discovery -j output has no "device_list" list')
    return [d for d in devices if isinstance(d, dict)]


_MEMORY = re.compile(r"Memory Physical Size:\s*([\d.]+)\s*MiB")


def parse_xpu_detail(text: str) -> int | None:
    """Memory (MiB) from the ``discovery -d <id>`` table; None when the table lacks it."""
    match = _MEMORY.search(text)
    return int(float(match.group(1))) if match else None


_COLUMNS = {
    "utilization": "gpu utilization",
    "power_draw": "gpu power",
    "temperature": "gpu core temperature",
    "memory_used": "gpu memory used",
}


def parse_xpu_dump(text: str) -> dict[int, dict[str, float | None]]:
    """The last sample per device id from ``xpu-smi dump`` CSV."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].lower().startswith("timestamp"):
        raise ParseError(NAME, "dump output does not start with a 'Timestamp, DeviceId' header")
    rows = list(csv.reader(io.StringIO("\n".join(lines)), skipinitialspace=True))
    header = [h.strip().lower() for h in rows[0]]
    if "deviceid" not in header:
        raise ParseError(NAME, "dump output has no DeviceId column")
    where = {
        key: next((i for i, h in enumerate(header) if h.startswith(prefix)), None)
        for key, prefix in _COLUMNS.items()
    }
    result: dict[int, dict[str, float | None]] = {}
    for row in rows[1:]:
        if len(row) != len(header):
            raise ParseError(NAME, f"dump row has {len(row)} fields, header has {len(header)}")
        device = integer(row[header.index("deviceid")], backend=NAME, what="DeviceId")
        if device is None:
            continue
        result[device] = {
            key: (number(row[i], backend=NAME, what=header[i]) if i is not None else None)
            for key, i in where.items()
        }
    return result


def build_gpus(
    devices: list[dict[str, object]],
    readings: dict[int, dict[str, float | None]],
    memory_of: Callable[[int], int | None],
) -> list[Gpu]:
    """Join the device list, the dump readings and each device's memory into records."""
    gpus = []
    for position, device in enumerate(devices):
        device_id = integer(device.get("device_id", position), backend=NAME) or 0
        total = memory_of(device_id)
        reading = readings.get(device_id, {})
        used = reading.get("memory_used")
        gpus.append(
            Gpu(
                vendor="intel",
                index=device_id,
                uuid=str(device["uuid"]) if device.get("uuid") else None,
                name=str(device.get("device_name") or "Intel GPU"),
                memory_total=total,
                memory_used=int(used) if used is not None else None,
                memory_free=int(total - used) if total is not None and used is not None else None,
                utilization=reading.get("utilization"),
                temperature=reading.get("temperature"),
                power_draw=reading.get("power_draw"),
                pci_bus_id=str(device.get("pci_bdf_address") or "") or None,
                backend=NAME,
            )
        )
    return gpus


class XpuSmiBackend:
    name = NAME
    vendor = "intel"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S, executable: str = "xpu-smi") -> None:
        self.tool = Tool(NAME, executable, timeout)
        self.notes: list[str] = []

    def discover(self) -> list[Gpu]:
        self.notes = []
        devices = parse_xpu_discovery(self.tool.run(["discovery", "-j"]))
        try:
            readings = parse_xpu_dump(self.tool.run(list(DUMP_ARGS)))
        except BackendError as exc:  # still list the devices, without readings
            self.notes.append(f"dump: {exc.message}")
            readings = {}

        def detail(device_id: int) -> int | None:
            try:
                return parse_xpu_detail(self.tool.run(["discovery", "-d", str(device_id)]))
            except BackendError as exc:
                self.notes.append(f"discovery -d {device_id}: {exc.message}")
                return None

        return build_gpus(devices, readings, detail)

    def close(self) -> None:
        """Nothing to release."""
