"""The seed's WASM checks (init, is available, API structure, shutdown) and its example."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation import wasm


@pytest.fixture
def fresh(tmp_home: Path) -> Iterator[Path]:
    wasm.shutdown()
    yield tmp_home
    wasm.shutdown()


def test_wasm_init(fresh: Path) -> None:
    assert not wasm.is_running()
    host = wasm.init()
    assert wasm.is_running()
    assert wasm.init() is host  # idempotent
    assert host.cache_dir == fresh / "wasm-cache"


def test_wasm_is_available() -> None:
    assert wasm.is_available() is True


def test_wasm_api_structure() -> None:
    for name in ("load_module", "create_instance", "set_resource_limits", "set_gas_limit",
                 "call_function", "get_gas_used", "snapshot_create", "snapshot_restore",
                 "init", "is_running", "is_available", "shutdown"):  # fmt: skip
        assert callable(getattr(wasm, name))


def test_wasm_shutdown_closes_instances(fresh: Path, core_wat: str) -> None:
    m = wasm.load_module(core_wat)
    inst = wasm.create_instance(module_id=m.id, runtime="wasmtime")
    wasm.shutdown()
    assert not wasm.is_running()
    assert inst.closed
    wasm.shutdown()  # idempotent
    # first use starts a fresh host
    assert wasm.load_module(core_wat).id == m.id
    assert wasm.is_running()


def test_the_seeds_example(fresh: Path, core_wat: str, tmp_path: Path) -> None:
    app = tmp_path / "app.wat"
    app.write_text(core_wat)
    module = wasm.load_module(str(app))
    assert module.id and len(module.exports) > 0
    instance = wasm.create_instance(module_id=module.id, runtime="wasmtime")
    wasm.set_resource_limits(
        instance, {"max_memory": 64 * 1024 * 1024, "max_instructions": 1_000_000}
    )
    wasm.set_gas_limit(instance, 1_000_000)
    params = [{"type": "i32", "value": 42}, {"type": "i32", "value": 10}]
    results = wasm.call_function(instance, "add", params)
    assert results[0].value == 52
    assert wasm.get_gas_used(instance) > 0
    wasm.snapshot_create(instance, "checkpoint-1")
    wasm.call_function(instance, "bump")
    wasm.snapshot_restore(instance, "checkpoint-1")
    assert wasm.call_function(instance.id, "bump")[0].value == 1025
    saved = wasm.snapshot_save("checkpoint-1", tmp_path / "cp.snap")
    assert wasm.snapshot_load(saved).name == "checkpoint-1"
    wasm.destroy_instance(instance)
    with pytest.raises(wasm.WasmNotFoundError):
        wasm.call_function(instance.id, "add", [1, 2])
    wasm.unload_module(module.id)
