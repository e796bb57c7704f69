"""AMD discovery through ``amd-smi`` (ROCm 6+) and the older ``rocm-smi --json``.

``rocm-smi --json`` prints one object keyed ``card0``, ``card1``, ... (plus ``system``),
every value a string with the unit in its key (``"VRAM Total Memory (B)"``). Key names
drift between ROCm releases (``Card series`` / ``Card Series``), so each reading is
looked up under every spelling seen in the captures.

``amd-smi <command> --json`` prints, depending on its version, either a top-level list
of per-GPU objects or ``{"gpu_data": [...]}``; both shapes are accepted. Its numbers are
``{"value": N, "unit": "MB"}`` objects, or ``"N/A"``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._backend import DEFAULT_TIMEOUT_S, Tool
from ._model import BackendError, Gpu, GpuProcess, ParseError, integer, number

__all__ = ["AmdSmiBackend", "RocmSmiBackend", "parse_amd_smi", "parse_rocm_smi"]

_MIB = 1024 * 1024
_UNIT_TO_MB = {"B": 1 / _MIB, "KB": 1 / 1024, "KIB": 1 / 1024, "MB": 1.0, "MIB": 1.0}
_UNIT_TO_MB |= {"GB": 1024.0, "GIB": 1024.0}
ROCM_ARGS: tuple[str, ...] = (
    "--showproductname",
    "--showuniqueid",
    "--showbus",
    "--showmeminfo",
    "vram",
    "--showuse",
    "--showtemp",
    "--showpower",
    "--showmaxpower",
    "--showdriverversion",
    "--json",
)


def _load(text: str, backend: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(backend, f"{what} is not JSON: {exc}") from None


def _pick(card: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = card.get(key)
        if value not in (None, "N/A", ""):
            return value
    return None


def parse_rocm_smi(text: str) -> list[Gpu]:
    name = "rocm-smi"
    data = _load(text, name, "rocm-smi --json output")
    if not isinstance(data, dict):
        raise ParseError(name, f"expected a JSON object keyed by card, got {type(data).__name__}")
    cards = sorted(
        (int(m.group(1)), value)
        for key, value in data.items()
        if (m := re.fullmatch(r"card(\d+)", key)) and isinstance(value, dict)
    )
    raw_system = data.get("system")
    system: dict[str, Any] = raw_system if isinstance(raw_system, dict) else {}
    gpus = []
    for index, (_, card) in enumerate(cards):
        total = number(card.get("VRAM Total Memory (B)"), backend=name, what="VRAM total")
        used = number(card.get("VRAM Total Used Memory (B)"), backend=name, what="VRAM used")
        power = _pick(
            card,
            "Average Graphics Package Power (W)",
            "Current Socket Graphics Package Power (W)",
        )
        gpus.append(
            Gpu(
                vendor="amd",
                index=index,
                uuid=_pick(card, "Unique ID", "GUID"),
                name=_pick(card, "Card series", "Card Series", "Device Name", "Card SKU")
                or "AMD GPU",
                memory_total=int(total // _MIB) if total is not None else None,
                memory_used=int(used // _MIB) if used is not None else None,
                memory_free=int((total - used) // _MIB)
                if total is not None and used is not None
                else None,
                utilization=number(card.get("GPU use (%)"), backend=name, what="GPU use"),
                temperature=number(
                    _pick(
                        card, "Temperature (Sensor edge) (C)", "Temperature (Sensor junction) (C)"
                    ),
                    backend=name,
                ),
                power_draw=number(power, backend=name, what="power"),
                power_limit=number(card.get("Max Graphics Package Power (W)"), backend=name),
                pci_bus_id=_pick(card, "PCI Bus"),
                driver_version=_pick(system, "Driver version"),
                backend=name,
            )
        )
    return gpus


def _entries(data: Any, backend: str, what: str) -> list[dict[str, Any]]:
    """Both ``amd-smi`` shapes: a top-level list, or ``{"gpu_data": [...]}``."""
    if isinstance(data, dict) and isinstance(data.get("gpu_data"), list):
        data = data["gpu_data"]
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ParseError(backend, f'{what}: expected a list of GPUs or {{"gpu_data": [...]}}')
    return data


def _value(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, dict):
        return node.get("value"), str(node.get("unit", ""))
    return node, ""


def _measure(node: Any, *path: str, to_mb: bool = False) -> float | None:
    raw, unit = _value(node, *path) or (None, "")
    value = number(raw, backend="amd-smi", what=".".join(path))
    if value is None or not to_mb:
        return value
    factor = _UNIT_TO_MB.get(unit.upper())
    if factor is None:
        raise ParseError("amd-smi", f"{'.'.join(path)}: unknown memory unit {unit!r}")
    return value * factor


def parse_amd_smi(
    metric: str, static: str = "", listing: str = "", processes: str = ""
) -> list[Gpu]:
    """Parse ``amd-smi metric --json`` (with optional ``static``, ``list``, ``process``)."""
    name = "amd-smi"
    metrics = _entries(_load(metric, name, "metric --json"), name, "metric --json")
    statics = (
        {e.get("gpu"): e for e in _entries(_load(static, name, "static"), name, "static")}
        if static
        else {}
    )
    lists = (
        {e.get("gpu"): e for e in _entries(_load(listing, name, "list"), name, "list")}
        if listing
        else {}
    )
    procs = _amd_processes(processes) if processes else {}
    gpus = []
    for position, entry in enumerate(metrics):
        gpu = entry.get("gpu", position)
        info, listed = statics.get(gpu, {}), lists.get(gpu, {})
        total = _measure(entry, "mem_usage", "total_vram", to_mb=True)
        if total is None:
            total = _measure(info, "vram", "size", to_mb=True)
        used = _measure(entry, "mem_usage", "used_vram", to_mb=True)
        free = _measure(entry, "mem_usage", "free_vram", to_mb=True)
        power = _measure(entry, "power", "socket_power")
        temp = _measure(entry, "temperature", "edge")
        raw_asic = info.get("asic")
        asic: dict[str, Any] = raw_asic if isinstance(raw_asic, dict) else {}
        gpus.append(
            Gpu(
                vendor="amd",
                index=integer(gpu, backend=name, what="gpu") or 0,
                uuid=listed.get("uuid") or None,
                name=str(asic.get("market_name") or "AMD GPU"),
                memory_total=int(total) if total is not None else None,
                memory_used=int(used) if used is not None else None,
                memory_free=int(free) if free is not None else None,
                utilization=_measure(entry, "usage", "gfx_activity"),
                temperature=temp if temp is not None else _measure(entry, "temperature", "hotspot"),
                power_draw=power,
                power_limit=_measure(info, "limit", "socket_power")
                or _measure(info, "limit", "max_power"),
                processes=tuple(procs.get(gpu, ())),
                pci_bus_id=listed.get("bdf") or (_value(info, "bus", "bdf") or (None,))[0] or None,
                backend=name,
            )
        )
    return gpus


def _amd_processes(text: str) -> dict[Any, list[GpuProcess]]:
    result: dict[Any, list[GpuProcess]] = {}
    for entry in _entries(_load(text, "amd-smi", "process --json"), "amd-smi", "process --json"):
        for item in entry.get("process_list") or []:
            info = item.get("process_info") if isinstance(item, dict) else None
            if not isinstance(info, dict):
                continue  # "No running processes detected"
            vram = _measure(info, "memory_usage", "vram_mem", to_mb=True)
            result.setdefault(entry.get("gpu"), []).append(
                GpuProcess(
                    pid=int(info["pid"]),
                    memory_mb=int(vram) if vram is not None else None,
                    name=str(info.get("name", "")),
                )
            )
    return result


class RocmSmiBackend:
    name = "rocm-smi"
    vendor = "amd"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S, executable: str = "rocm-smi") -> None:
        self.tool = Tool(self.name, executable, timeout)
        self.notes: list[str] = []

    def discover(self) -> list[Gpu]:
        return parse_rocm_smi(self.tool.run(list(ROCM_ARGS)))

    def close(self) -> None:
        """Nothing to release."""


class AmdSmiBackend:
    name = "amd-smi"
    vendor = "amd"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S, executable: str = "amd-smi") -> None:
        self.tool = Tool(self.name, executable, timeout)
        self.notes: list[str] = []

    def discover(self) -> list[Gpu]:
        self.notes = []
        metric = self.tool.run(["metric", "--json"])
        extra = {}
        for command in ("static", "list", "process"):
            try:
                extra[command] = self.tool.run([command, "--json"])
            except BackendError as exc:  # names and processes are optional; readings are not
                self.notes.append(f"{command}: {exc.message}")
                extra[command] = ""
        return parse_amd_smi(metric, extra["static"], extra["list"], extra["process"])

    def close(self) -> None:
        """Nothing to release."""
