"""Fixtures for the GPU tests: fake vendor tools first on PATH, a fake pynvml, captures.

The fakes replay real captured output (tests/fixtures/gpu, see its SOURCES.md), so
every test runs the production path: PATH lookup, a real subprocess, the real parser.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.gpu import Discovery, GpuManager
from constellation.gpu._amd import AmdSmiBackend, RocmSmiBackend
from constellation.gpu._intel import XpuSmiBackend
from constellation.gpu._nvidia_smi import NvidiaSmiBackend
from constellation.gpu._nvml import NvmlBackend
from constellation.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"
FAKES = Path(__file__).resolve().parent / "fakes"
TOOLS = ("nvidia-smi", "rocm-smi", "amd-smi", "xpu-smi")

XML = FIXTURES / "nvidia-smi-xml"
CSV = FIXTURES / "nvidia-smi-csv"
H100_MIG = CSV / "linux-x86_64__nvidia-h100-mig__590.48.01.txt"
H200_MIG = CSV / "linux-x86_64__nvidia-h200-mig__610.43.02.txt"
L40S = CSV / "linux-x86_64__nvidia-l40s__595.80.txt"
ROCM = FIXTURES / "rocm-smi-json"
AMD_SMI_GPU_DATA = FIXTURES / "amd-smi" / "r9700-gpu-data"
AMD_SMI_LIST = FIXTURES / "amd-smi" / "r9700-list"
XPU = FIXTURES / "xpu-smi" / "flex-doc"


class Fakes:
    """Points each fake tool (and the fake pynvml) at a capture."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.mp = monkeypatch

    def serve(self, tool: str, capture: Path) -> None:
        self.mp.setenv(f"FAKE_{tool.upper().replace('-', '_')}_CAPTURE", str(capture))

    def mode(self, tool: str, mode: str) -> None:
        self.mp.setenv(f"FAKE_{tool.upper().replace('-', '_')}_MODE", mode)

    def state(self, state: str) -> None:
        self.mp.setenv("FAKE_GPU_STATE", state)

    def nvml(self, capture: Path) -> None:
        self.mp.setenv("FAKE_PYNVML_CAPTURE", str(capture))


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    """Fake nvidia-smi/rocm-smi/amd-smi/xpu-smi first on PATH and a fake pynvml importable.

    With nothing served, every fake fails like a machine without GPUs, so a real GPU on
    the test machine cannot change what the tests see.
    """
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        exe = bin_dir / tool
        exe.write_text(
            f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {str(FAKES)!r})\n"
            f"from fake_smi import main\nmain({tool!r})\n"
        )
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    for key in list(__import__("os").environ):
        if key.startswith("FAKE_"):
            monkeypatch.delenv(key)
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    yield Fakes(monkeypatch)
    sys.modules.pop("pynvml", None)


def backends(timeout: float = 10.0) -> list:
    return [
        NvmlBackend(),
        NvidiaSmiBackend(timeout),
        AmdSmiBackend(timeout),
        RocmSmiBackend(timeout),
        XpuSmiBackend(timeout),
    ]


@pytest.fixture
def discovery(fakes: Fakes) -> Iterator[Discovery]:
    d = Discovery(backends())
    yield d
    d.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "gpu.db")
    yield s
    s.close()


@pytest.fixture
def manager_for(fakes: Fakes, store: Store) -> Iterator[object]:
    """``manager_for(tool, capture)``: a GpuManager over the fakes serving ``capture``."""
    made: list[GpuManager] = []

    def make(tool: str, capture: Path, placement: str = "binpack") -> GpuManager:
        fakes.serve(tool, capture)
        manager = GpuManager(store, Discovery(backends()), placement=placement)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()
