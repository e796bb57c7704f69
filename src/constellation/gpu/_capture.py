"""Reading saved tool output ("captures") so discovery can run without the hardware.

Used by ``--simulate FILE`` (the CLI and the example) and by the test fakes. A capture is:

* an ``nvidia-smi -q -x`` XML file;
* a ``rocm-smi --json`` file (an object keyed ``card0``...) or an ``amd-smi metric
  --json`` file (a list, or ``{"gpu_data": [...]}``);
* an nvidia_gpu_exporter capture (``internal/captures/*.txt``): plain text with one
  section per command, each headed by ``# <state> :: <label>`` and ``# $ <command>``
  between ``#`` rulers;
* a folder holding ``discovery.json`` etc. for ``xpu-smi`` or ``metric.json`` etc. for
  ``amd-smi`` (the layout of ``tests/fixtures/gpu``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ._amd import parse_amd_smi, parse_rocm_smi
from ._intel import build_gpus, parse_xpu_detail, parse_xpu_discovery, parse_xpu_dump
from ._model import Gpu, ParseError
from ._nvidia_smi import parse_csv, parse_xml

__all__ = ["Section", "load_capture", "query_section", "read_sections"]


@dataclass(frozen=True, slots=True)
class Section:
    state: str  # "idle", "load", "capabilities"
    label: str
    command: str
    body: str


def read_sections(text: str) -> list[Section]:
    """Split an nvidia_gpu_exporter capture into its command sections."""
    lines = text.split("\n")
    starts = []
    for i in range(len(lines) - 3):
        if (
            lines[i].startswith("#####")
            and lines[i + 1].startswith("# ")
            and lines[i + 2].startswith("# $ ")
            and lines[i + 3].startswith("#####")
        ):
            starts.append(i)
    sections = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        heading = lines[start + 1][2:]
        state, _, label = heading.partition(" :: ")
        body = "\n".join(lines[start + 4 : end]).strip("\n")
        sections.append(Section(state.strip(), label.strip(), lines[start + 2][4:].strip(), body))
    return sections


def query_section(sections: list[Section], state: str, prefix: str) -> Section | None:
    """The first section of ``state`` (or ``capabilities``) whose command starts with ``prefix``."""
    for section in sections:
        if section.state in (state, "capabilities") and section.command.startswith(prefix):
            return section
    return None


def load_capture(path: str | Path, state: str = "idle") -> list[Gpu]:
    """Parse a saved capture with the production parsers (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("<?xml") or stripped.startswith("<nvidia_smi_log"):
        return parse_xml(text)
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError("capture", f"{path.name} is not JSON: {exc}") from None
        if isinstance(data, dict) and any(k.startswith("card") for k in data):
            return parse_rocm_smi(text)
        return parse_amd_smi(text)
    sections = read_sections(text)
    query = query_section(sections, state, "nvidia-smi --query-gpu=")
    if query is None:
        raise ParseError("capture", f"{path.name}: no nvidia-smi --query-gpu section for {state!r}")
    apps = query_section(sections, state, "nvidia-smi --query-compute-apps=")
    listing = query_section(sections, state, "nvidia-smi -L")
    return parse_csv(query.body, apps.body if apps else "", listing.body if listing else "")


def _load_folder(path: Path) -> list[Gpu]:
    def read(name: str) -> str:
        file = path / name
        return file.read_text() if file.is_file() else ""

    if (path / "metric.json").is_file():
        return parse_amd_smi(
            read("metric.json"), read("static.json"), read("list.json"), read("process.json")
        )
    if (path / "discovery.json").is_file():
        readings = parse_xpu_dump(read("dump.csv")) if read("dump.csv") else {}
        devices = parse_xpu_discovery(read("discovery.json"))
        return build_gpus(
            devices, readings, lambda i: parse_xpu_detail(read(f"discovery-d-{i}.txt"))
        )
    raise ParseError("capture", f"{path}: no metric.json (amd-smi) or discovery.json (xpu-smi)")
