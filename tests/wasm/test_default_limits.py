"""Default limits: a default instance has a timeout, a memory cap and gas, so a runaway
guest ends on its own; each default is configurable and can be turned off."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation import wasm
from constellation.wasm import (
    DEFAULT_LIMITS,
    ResourceLimits,
    WasmHost,
    WasmModule,
    WasmTrap,
    WasmValidationError,
)
from constellation.wasm._limits import default_limits

from .conftest import CORE_WAT


def test_the_defaults_bound_time_memory_and_gas() -> None:
    assert DEFAULT_LIMITS.timeout_ms is not None
    assert DEFAULT_LIMITS.max_memory is not None
    assert DEFAULT_LIMITS.max_instructions is not None


def test_a_default_instance_carries_the_defaults(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    assert inst.limits == host.default_limits


def test_an_infinite_loop_in_a_default_instance_ends_with_a_timeout(tmp_path: Path) -> None:
    # Only the default's size is shrunk; the instance is created with no limits at all.
    with WasmHost(tmp_path / "c", default_limits={"timeout_ms": 50}) as h:
        inst = h.create_instance(h.load_module(CORE_WAT).id)
        with pytest.raises(WasmTrap) as info:
            inst.call("spin")
    assert info.value.code == "timeout"
    assert "timeout_ms of 50" in str(info.value)


def test_default_gas_ends_a_loop_on_an_uninterruptible_instance(tmp_path: Path) -> None:
    with WasmHost(tmp_path / "c", default_limits={"max_instructions": 100_000}) as h:
        inst = h.create_instance(h.load_module(CORE_WAT).id, interruptible=False)
        assert inst.limits.timeout_ms is None  # an instance that cannot be interrupted
        with pytest.raises(WasmTrap) as info:
            inst.call("spin")
    assert info.value.code == "out_of_gas"


def test_default_memory_cap_refuses_a_grow_past_it(tmp_path: Path) -> None:
    with WasmHost(tmp_path / "c", default_limits={"max_memory": 4 * 65536}) as h:
        inst = h.create_instance(h.load_module(CORE_WAT).id)
        assert inst.call("grow", [3])[0].value == 1
        assert inst.call("grow", [1])[0].value == -1


def test_given_limits_lie_over_the_defaults(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, limits={"timeout_ms": 5, "max_instructions": None})
    assert inst.limits.timeout_ms == 5
    assert inst.limits.max_instructions is None
    assert inst.limits.max_memory == host.default_limits.max_memory


def test_switched_off_features_drop_their_defaults(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, metering=False, interruptible=False)
    assert inst.limits == ResourceLimits(max_memory=host.default_limits.max_memory)


def test_environment_replaces_or_removes_defaults() -> None:
    env = {"CONSTELLATION_WASM_TIMEOUT_MS": "250", "CONSTELLATION_WASM_MAX_MEMORY": "64MiB",
           "CONSTELLATION_WASM_MAX_INSTRUCTIONS": "none"}  # fmt: skip
    got = default_limits(env)
    assert got == ResourceLimits(max_memory=64 * 1024**2, timeout_ms=250.0)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("CONSTELLATION_WASM_TIMEOUT_MS", "soon"),
        ("CONSTELLATION_WASM_MAX_INSTRUCTIONS", "-4"),
        ("CONSTELLATION_WASM_MAX_MEMORY", "lots"),
    ],
)
def test_bad_environment_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(WasmValidationError) as info:
        default_limits({var: value})
    assert info.value.field == var


def test_bad_default_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WasmValidationError) as info:
        WasmHost(tmp_path / "c", default_limits={"timeout_ms": -1})
    assert info.value.field == "timeout_ms"


def test_init_sets_the_default_hosts_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONSTELLATION_HOME", str(tmp_path))
    wasm.shutdown()
    try:
        host = wasm.init(default_limits={"timeout_ms": 123})
        assert host.default_limits.timeout_ms == 123
        m = wasm.load_module(CORE_WAT)
        assert wasm.create_instance(m.id).limits.timeout_ms == 123
    finally:
        wasm.shutdown()
