"""NVIDIA discovery through the ``nvidia-smi`` tool: XML first, CSV as the fallback.

``nvidia-smi -q -x`` gives everything in one call (memory, utilisation, power, MIG
devices, processes) in every schema seen so far (DTD v10 to v13, whose power moved from
``power_readings/power_draw`` to ``gpu_power_readings/instant_power_draw``). When the XML
call fails or does not parse, the backend asks ``--query-gpu=... --format=csv`` instead,
with ``--query-compute-apps`` for processes and ``-L`` for the MIG devices' profiles and
UUIDs. The parsers are plain functions of the text so a capture can be parsed directly.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

from ._backend import DEFAULT_TIMEOUT_S, Tool
from ._catalog import compute_capability_for, infer_profile
from ._model import (
    BackendError,
    Gpu,
    GpuProcess,
    MigDevice,
    ParseError,
    ToolFailed,
    integer,
    number,
)

__all__ = ["NvidiaSmiBackend", "parse_csv", "parse_list", "parse_xml"]

NAME = "nvidia-smi"
QUERY_FIELDS = (
    "index,uuid,name,pci.bus_id,driver_version,memory.total,memory.used,memory.free,"
    "utilization.gpu,temperature.gpu,power.draw,power.limit,mig.mode.current,compute_cap"
)
APPS_FIELDS = "gpu_uuid,pid,process_name,used_gpu_memory"


def _text(node: ET.Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    return None if found is None or found.text is None else found.text.strip()


def _first(node: ET.Element, *paths: str) -> str | None:
    for path in paths:
        value = _text(node, path)
        if value is not None and number(value, backend=NAME, what=path) is not None:
            return value
    return None


def parse_xml(text: str) -> list[Gpu]:
    """Parse ``nvidia-smi -q -x`` output."""
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raise ParseError(NAME, f"-q -x output is not XML: {exc}") from None
    if root.tag != "nvidia_smi_log":
        raise ParseError(NAME, f"-q -x output has root <{root.tag}>, expected <nvidia_smi_log>")
    driver = _text(root, "driver_version")
    gpus = []
    for index, node in enumerate(root.findall("gpu")):
        name = _text(node, "product_name")
        if not name:
            raise ParseError(NAME, f"<gpu> {index} has no <product_name>")
        total = integer(_text(node, "fb_memory_usage/total"), backend=NAME, what="memory total")
        power = node.find("power_readings")
        if power is None:
            power = node.find("gpu_power_readings")
        draw = limit = None
        if power is not None:
            draw = _first(power, "power_draw", "instant_power_draw", "average_power_draw")
            limit = _first(power, "current_power_limit", "power_limit", "enforced_power_limit")
        mig_enabled = (_text(node, "mig_mode/current_mig") or "").lower() == "enabled"
        migs = tuple(_xml_mig(node, name, total)) if mig_enabled else ()
        gi_to_mig = {m.gpu_instance_id: m for m in migs}
        gpus.append(
            Gpu(
                vendor="nvidia",
                index=index,
                uuid=_text(node, "uuid"),
                name=name,
                memory_total=total,
                memory_used=integer(_text(node, "fb_memory_usage/used"), backend=NAME),
                memory_free=integer(_text(node, "fb_memory_usage/free"), backend=NAME),
                utilization=number(_text(node, "utilization/gpu_util"), backend=NAME),
                temperature=number(_text(node, "temperature/gpu_temp"), backend=NAME),
                power_draw=number(draw, backend=NAME),
                power_limit=number(limit, backend=NAME),
                compute_capability=compute_capability_for(name),
                mig_enabled=mig_enabled,
                mig_devices=migs,
                processes=tuple(_xml_processes(node, gi_to_mig)),
                pci_bus_id=node.get("id") or _text(node, "pci/pci_bus_id"),
                driver_version=driver,
                backend=f"{NAME} (xml)",
            )
        )
    return gpus


def _xml_mig(node: ET.Element, gpu_name: str, gpu_total: int | None) -> list[MigDevice]:
    devices = []
    for mig in node.findall("mig_devices/mig_device"):
        memory = integer(_text(mig, "fb_memory_usage/total"), backend=NAME, what="MIG memory")
        sms = integer(_text(mig, "device_attributes/shared/multiprocessor_count"), backend=NAME)
        devices.append(
            MigDevice(
                index=integer(_text(mig, "index"), backend=NAME) or 0,
                uuid=_text(mig, "uuid"),  # absent before DTD v13
                profile=infer_profile(gpu_name, gpu_total, memory, sms),
                memory_mb=memory,
                gpu_instance_id=integer(_text(mig, "gpu_instance_id"), backend=NAME),
                multiprocessors=sms,
            )
        )
    return devices


def _xml_processes(node: ET.Element, gi_to_mig: dict[int | None, MigDevice]) -> list[GpuProcess]:
    processes = []
    for proc in node.findall("processes/process_info"):
        pid = integer(_text(proc, "pid"), backend=NAME, what="pid")
        if pid is None:
            continue
        gi = integer(_text(proc, "gpu_instance_id"), backend=NAME)
        mig = gi_to_mig.get(gi) if gi is not None else None
        processes.append(
            GpuProcess(
                pid=pid,
                memory_mb=integer(_text(proc, "used_memory"), backend=NAME),
                name=_text(proc, "process_name") or "",
                mig_uuid=mig.uuid if mig else None,
            )
        )
    return processes


def _csv_rows(text: str, what: str) -> list[dict[str, str]]:
    """``--format=csv`` rows keyed by field name (the header's ``" [MiB]"`` units dropped)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ParseError(NAME, f"{what} printed nothing")
    reader = csv.reader(io.StringIO("\n".join(lines)), skipinitialspace=True)
    header = [re.sub(r"\s*\[.*\]$", "", h.strip()) for h in next(reader)]
    rows = []
    for row in reader:
        if len(row) != len(header):
            raise ParseError(NAME, f"{what}: row has {len(row)} fields, header has {len(header)}")
        rows.append({k: v.strip() for k, v in zip(header, row, strict=True)})
    return rows


def parse_csv(query_gpu: str, compute_apps: str = "", listing: str = "") -> list[Gpu]:
    """Parse ``--query-gpu`` CSV (plus optional ``--query-compute-apps`` CSV and ``-L``)."""
    migs = parse_list(listing) if listing else {}
    procs: dict[str, list[GpuProcess]] = {}
    if compute_apps.strip():
        for row in _csv_rows(compute_apps, "--query-compute-apps"):
            pid = integer(row.get("pid"), backend=NAME, what="pid")
            if pid is not None:
                memory = integer(row.get("used_gpu_memory"), backend=NAME, what="used_gpu_memory")
                procs.setdefault(row.get("gpu_uuid", ""), []).append(
                    GpuProcess(pid=pid, memory_mb=memory, name=row.get("process_name", ""))
                )
    gpus = []
    for row in _csv_rows(query_gpu, "--query-gpu"):
        missing = [f for f in ("index", "name", "memory.total") if f not in row]
        if missing:
            raise ParseError(NAME, f"--query-gpu output lacks {', '.join(missing)}")
        uuid = row.get("uuid") or None
        name = row["name"]
        mig_enabled = row.get("mig.mode.current", "").lower() == "enabled"
        cc = number(row.get("compute_cap"), backend=NAME, what="compute_cap")
        gpus.append(
            Gpu(
                vendor="nvidia",
                index=integer(row["index"], backend=NAME, what="index") or 0,
                uuid=uuid,
                name=name,
                memory_total=integer(row["memory.total"], backend=NAME, what="memory.total"),
                memory_used=integer(row.get("memory.used"), backend=NAME),
                memory_free=integer(row.get("memory.free"), backend=NAME),
                utilization=number(row.get("utilization.gpu"), backend=NAME),
                temperature=number(row.get("temperature.gpu"), backend=NAME),
                power_draw=number(row.get("power.draw"), backend=NAME),
                power_limit=number(row.get("power.limit"), backend=NAME),
                compute_capability=cc if cc is not None else compute_capability_for(name),
                mig_enabled=mig_enabled,
                mig_devices=tuple(migs.get(uuid or "", ())) if mig_enabled else (),
                processes=tuple(procs.get(uuid or "", ())),
                pci_bus_id=row.get("pci.bus_id"),
                driver_version=row.get("driver_version"),
                backend=f"{NAME} (csv)",
            )
        )
    return gpus


_GPU_LINE = re.compile(r"^GPU (\d+): (.+?) \(UUID: ([^)]+)\)\s*$")
_MIG_LINE = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: ([^)]+)\)\s*$")


def parse_list(text: str) -> dict[str, list[MigDevice]]:
    """Parse ``nvidia-smi -L``: the MIG devices (profile, UUID) under each GPU UUID."""
    from ._catalog import mig_table_for

    result: dict[str, list[MigDevice]] = {}
    current: list[MigDevice] | None = None
    table = None
    for line in text.splitlines():
        if match := _GPU_LINE.match(line):
            current = result.setdefault(match.group(3), [])
            found = mig_table_for(match.group(2), None)
            table = found[1] if found else None
        elif (match := _MIG_LINE.match(line)) and current is not None:
            profile = match.group(1)
            known = table.get(profile) if table else None
            size = re.search(r"\.(\d+)gb", profile)
            memory = known.memory_mb if known else (int(size.group(1)) * 1024 if size else None)
            current.append(MigDevice(int(match.group(2)), match.group(3), profile, memory))
    return result


class NvidiaSmiBackend:
    """``nvidia-smi`` through :class:`Tool`; remembers which format answered last."""

    name = NAME
    vendor = "nvidia"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S, executable: str = "nvidia-smi") -> None:
        self.tool = Tool(NAME, executable, timeout)
        self.notes: list[str] = []

    def discover(self) -> list[Gpu]:
        self.notes = []
        self.tool.path()  # ToolMissing before anything else
        try:
            return parse_xml(self.tool.run(["-q", "-x"]))
        except (ToolFailed, ParseError) as exc:
            self.notes.append(f"xml: {exc.message}; fell back to csv")
        return self._discover_csv()

    def _discover_csv(self) -> list[Gpu]:
        fields = QUERY_FIELDS
        try:
            query = self.tool.run([f"--query-gpu={fields}", "--format=csv"])
        except ToolFailed as exc:
            if "compute_cap" not in exc.message:
                raise
            fields = fields.replace(",compute_cap", "")  # drivers before 510 lack the field
            query = self.tool.run([f"--query-gpu={fields}", "--format=csv"])
        try:
            apps = self.tool.run([f"--query-compute-apps={APPS_FIELDS}", "--format=csv"])
        except BackendError as exc:
            self.notes.append(f"processes: {exc.message}")
            apps = ""
        listing = ""
        if "enabled" in query.lower():  # only MIG GPUs need -L
            listing = self.tool.run(["-L"])
        return parse_csv(query, apps, listing)

    def close(self) -> None:
        """Nothing to release: each call is its own process."""
