"""Runtimes: the list, wasmer's error, native's AOT-only path and the cache, wasm3."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.errors import UnavailableError
from constellation.wasm import (
    RUNTIMES,
    RuntimeUnavailableError,
    WasmHost,
    WasmModule,
    WasmStateError,
    WasmTrap,
    WasmValidationError,
    get_runtimes,
)


def test_get_runtimes_lists_every_runtime_with_its_state() -> None:
    infos = {i.name: i for i in get_runtimes()}
    assert tuple(infos) == RUNTIMES
    assert infos["wasmtime"].available and infos["wasmtime"].version
    assert infos["native"].available
    assert infos["wasm3"].available
    assert not infos["wasmer"].available
    assert "no wheel for Python >= 3.11" in infos["wasmer"].reason


def test_wasmer_gives_the_clear_error(host: WasmHost, core: WasmModule) -> None:
    with pytest.raises(RuntimeUnavailableError, match=r"no wheel for Python >= 3\.11") as info:
        host.create_instance(core.id, "wasmer")
    assert isinstance(info.value, UnavailableError)
    assert "use runtime='wasmtime'" in str(info.value)


def test_an_unknown_runtime_lists_the_known_ones(host: WasmHost, core: WasmModule) -> None:
    with pytest.raises(
        WasmValidationError, match="runtime: 'rads' is not allowed; expected one of"
    ):
        host.create_instance(core.id, "rads")


def test_native_runs_only_precompiled_code(host: WasmHost, core_wat: str) -> None:
    m = host.load_module(core_wat, precompile=False)
    with pytest.raises(WasmStateError, match=r"no precompiled code .* run wasm\.precompile"):
        host.create_instance(m.id, "native")
    path = host.precompile(m.id)
    assert path is not None and path.is_file()
    inst = host.create_instance(m.id, "native")
    assert inst.runtime == "native"
    assert inst.call("add", [42, 10])[0].value == 52


def test_a_second_host_reuses_the_cached_compilation(tmp_path: Path, core_wat: str) -> None:
    cache = tmp_path / "cache"
    with WasmHost(cache) as first:
        first.load_module(core_wat)
        assert first.engine().compiles == 1
    with WasmHost(cache) as second:
        m = second.load_module(core_wat)
        handle = second.engine()
        assert (handle.compiles, handle.cache_hits) == (0, 1)
        # The native runtime accepts it: the code is on disk.
        assert second.create_instance(m.id, "native").call("add", [1, 2])[0].value == 3


def test_the_cache_key_separates_engine_settings(host: WasmHost, core: WasmModule) -> None:
    metered = host.precompile(core.id, metering=True)
    plain = host.precompile(core.id, metering=False)
    assert metered != plain
    assert metered is not None and plain is not None
    assert metered.is_file() and plain.is_file()


def test_a_corrupt_cache_file_is_recompiled(tmp_path: Path, core_wat: str) -> None:
    cache = tmp_path / "cache"
    with WasmHost(cache) as first:
        first.load_module(core_wat)
    for f in cache.iterdir():
        f.write_bytes(b"garbage")
    with WasmHost(cache) as second:
        m = second.load_module(core_wat)
        assert second.engine().compiles == 1
        assert second.create_instance(m.id).call("add", [1, 2])[0].value == 3


def test_wasm3_runs_the_seed_example_with_its_own_gas_counter(
    host: WasmHost, core: WasmModule
) -> None:
    inst = host.create_instance(core.id, "wasm3")
    inst.set_gas_limit(1_000_000)
    assert inst.call("add", [{"type": "i32", "value": 42}, 10])[0].value == 52
    assert inst.gas_used > 0
    assert inst.call("add64", [-1, 0])[0].value == -1
    assert inst.call("divmod", [17, 5])[0].value == 3


def test_wasm3_gas_exhaustion_and_traps(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, "wasm3", gas_limit=5_000)
    with pytest.raises(WasmTrap) as info:
        inst.call("spin")
    assert info.value.code == "out_of_gas"
    other = host.create_instance(core.id, "wasm3")
    with pytest.raises(WasmTrap) as info:
        other.call("oob")
    assert info.value.code == "out_of_bounds"


def test_wasm3_memory_limit_is_written_into_the_module(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, "wasm3", limits={"max_memory": 3 * 65536})
    assert inst.call("bomb")[0].value == 3


def test_wasm3_takes_max_memory_after_creation_in_the_seeds_order(
    host: WasmHost, core: WasmModule
) -> None:
    inst = host.create_instance(core.id, "wasm3")
    host.set_resource_limits(inst, {"max_memory": 4 * 65536, "max_instructions": 1_000_000})
    assert inst.call("grow", [3])[0].value == 1  # 1 -> 4 pages: at the cap
    assert inst.call("grow", [1])[0].value == -1  # past it: refused as memory.grow refuses
    host.set_resource_limits(inst, {"max_memory": 6 * 65536})  # raised later: honoured
    assert inst.call("grow", [2])[0].value == 4
    with pytest.raises(WasmValidationError, match=r"max_memory: .* cannot shrink"):
        host.set_resource_limits(inst, {"max_memory": 2 * 65536})
    assert inst.limits.max_memory == 6 * 65536  # the refused change changed nothing
    host.set_resource_limits(inst, {"max_memory": None})
    assert inst.call("grow", [10])[0].value == 6


def test_wasm3_refuses_what_it_cannot_do(
    host: WasmHost, core: WasmModule, probe: WasmModule
) -> None:
    with pytest.raises(WasmValidationError, match="timeout_ms: wasm3 cannot interrupt"):
        host.create_instance(core.id, "wasm3", limits={"timeout_ms": 10})
    with pytest.raises(RuntimeUnavailableError, match="without WASI"):
        host.create_instance(probe.id, "wasm3")
    inst = host.create_instance(core.id, "wasm3")
    with pytest.raises(WasmStateError, match="snapshots need a wasmtime instance"):
        host.snapshot_create(inst, "x")
    with pytest.raises(WasmValidationError, match="bad"):
        host.set_resource_limits(inst, {"max_table_elements": -1, "bad": 1})
    with pytest.raises(WasmValidationError, match="timeout_ms: wasm3 cannot interrupt"):
        host.set_resource_limits(inst, {"timeout_ms": 10})  # after creation too
    with pytest.raises(WasmValidationError, match="max_table_elements: wasm3 has no table"):
        host.set_resource_limits(inst, {"max_table_elements": 10})


def test_an_unwritable_cache_only_costs_caching(tmp_path: Path, core_wat: str) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with WasmHost(blocker / "cache") as host:
        m = host.load_module(core_wat)
        assert host.create_instance(m.id).call("add", [1, 2])[0].value == 3
