"""Fixtures for the wasm tests: a host with its own compile cache, and test modules in WAT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.wasm import WasmHost, WasmModule

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wasm"

CORE_WAT = (FIXTURES / "core.wat").read_text()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[WasmHost]:
    with WasmHost(cache_dir=tmp_path / "wasm-cache") as h:
        yield h


@pytest.fixture
def core_wat() -> str:
    return CORE_WAT


@pytest.fixture
def core(host: WasmHost) -> WasmModule:
    return host.load_module(CORE_WAT)


@pytest.fixture
def probe(host: WasmHost) -> WasmModule:
    return host.load_module(FIXTURES / "wasi_probe.wat")
