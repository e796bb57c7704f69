"""A stand-in for ``nvidia-smi``, ``rocm-smi``, ``amd-smi`` and ``xpu-smi`` that replays captures.

Installed by the tests as executables of those names first on ``PATH``; each one runs
``main(<tool>)``. It answers a command only when the capture holds that command's real
output, and otherwise fails the way the real tool does for an unknown query (exit code
2 and a message), so the production code cannot lean on anything a capture lacks.

Environment:
  FAKE_<TOOL>_CAPTURE   the capture for that tool (TOOL like NVIDIA_SMI): a file, an
                        amd-smi/xpu-smi folder, or a folder saved by gpu_check.py
  FAKE_GPU_STATE        ``idle`` (default) or ``load``: which section of an exporter capture
  FAKE_<TOOL>_MODE      ``hang`` (sleep, to test timeouts), ``garbage`` (print junk, exit 0),
                        ``fail`` (exit 9)
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import time
from pathlib import Path


def _fail(tool: str, args: list[str]) -> None:
    sys.stderr.write(f"{tool}: the capture holds no output for: {' '.join(args)}\n")
    sys.exit(2)


def _sections(text: str, state: str) -> dict[str, str]:
    """Command -> body, for the capabilities sections and those of ``state``."""
    lines = text.split("\n")
    found: dict[str, str] = {}
    marks = [
        i
        for i in range(len(lines) - 3)
        if lines[i].startswith("####") and lines[i + 2].startswith("# $ ")
    ]
    for n, i in enumerate(marks):
        section_state = lines[i + 1][2:].split(" :: ")[0].strip()
        end = marks[n + 1] if n + 1 < len(marks) else len(lines)
        if section_state in (state, "capabilities"):
            command = lines[i + 2][4:].strip()
            found.setdefault(command, "\n".join(lines[i + 4 : end]).strip("\n") + "\n")
    return found


# A folder saved by benchmarks/gpu_check.py: each file is the output of one command.
REAL_FILES = {
    "nvidia-smi -q -x": "nvidia-smi-q-x.xml",
    "nvidia-smi --query-gpu=": "query-gpu.csv",
    "nvidia-smi --query-compute-apps=": "query-compute-apps.csv",
    "nvidia-smi -L": "nvidia-smi-L.txt",
}


def capture_sections(capture: Path, state: str) -> dict[str, str]:
    """Command -> output, from an exporter capture (file) or a gpu_check folder."""
    if capture.is_dir():
        return {
            command: (capture / name).read_text()
            for command, name in REAL_FILES.items()
            if (capture / name).is_file()
        }
    return _sections(capture.read_text(encoding="utf-8", errors="replace"), state)


def _project(body: str, fields: list[str]) -> str:
    """The capture's CSV restricted to ``fields``, as nvidia-smi prints such a query."""
    rows = list(csv.reader(io.StringIO(body), skipinitialspace=True))
    header = [re.sub(r"\s*\[.*\]$", "", h.strip()) for h in rows[0]]
    missing = [f for f in fields if f not in header]
    if missing:
        sys.stderr.write(f'Field "{missing[0]}" is not a valid field to query.\n')
        sys.exit(2)
    where = [header.index(f) for f in fields]
    out = [", ".join(rows[0][i].strip() for i in where)]
    out += [", ".join(row[i].strip() for i in where) for row in rows[1:] if row]
    return "\n".join(out) + "\n"


def nvidia_smi(capture: Path, args: list[str]) -> str:
    if capture.suffix == ".xml":
        if args == ["-q", "-x"]:
            return capture.read_text(encoding="utf-8", errors="replace")
        _fail("nvidia-smi", args)
    sections = capture_sections(capture, os.environ.get("FAKE_GPU_STATE", "idle"))
    for prefix in ("--query-gpu=", "--query-compute-apps="):
        if args and args[0].startswith(prefix) and "--format=csv" in args:
            wanted = args[0][len(prefix) :].split(",")
            body = next(
                (b for c, b in sections.items() if c.startswith(f"nvidia-smi {prefix}")), None
            )
            if body is None:
                _fail("nvidia-smi", args)
            return _project(body, wanted)
    command = " ".join(["nvidia-smi", *args])
    if command in sections:
        return sections[command]
    _fail("nvidia-smi", args)
    return ""


def folder_tool(tool: str, capture: Path, args: list[str]) -> str:
    """amd-smi (``<command> --json`` -> ``<command>.json``) and xpu-smi (see the table)."""
    if tool == "amd-smi" and len(args) >= 2 and args[-1] == "--json":
        file = capture / f"{args[0]}.json"
    elif tool == "xpu-smi" and args == ["discovery", "-j"]:
        file = capture / "discovery.json"
    elif tool == "xpu-smi" and args[:2] == ["discovery", "-d"] and len(args) == 3:
        file = capture / f"discovery-d-{args[2]}.txt"
    elif tool == "xpu-smi" and args[:1] == ["dump"] and "-n" in args:
        file = capture / "dump.csv"
    else:
        file = capture / "none"
    if not file.is_file():
        _fail(tool, args)
    return file.read_text()


def main(tool: str) -> None:
    args = sys.argv[1:]
    key = tool.upper().replace("-", "_")
    mode = os.environ.get(f"FAKE_{key}_MODE", "")
    if mode == "hang":
        time.sleep(60)
    if mode == "garbage":
        sys.stdout.write("Segmentation fault? \x00\x01 <not what you expected\n")
        return
    if mode == "fail":
        sys.stderr.write(f"{tool}: Failed to initialize: driver/library version mismatch\n")
        sys.exit(9)
    raw = os.environ.get(f"FAKE_{key}_CAPTURE")
    if not raw:
        sys.stderr.write(f"{tool}: no devices were found\n")
        sys.exit(6)
    capture = Path(raw)
    if tool == "nvidia-smi":
        out = nvidia_smi(capture, args)
    elif tool == "rocm-smi":
        if "--json" not in args:
            _fail(tool, args)
        out = capture.read_text()
    else:
        out = folder_tool(tool, capture, args)
    sys.stdout.write(out)
