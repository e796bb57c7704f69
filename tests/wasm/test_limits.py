"""Resource limits, gas, timeouts and traps: the guest is stopped, the host survives."""

from __future__ import annotations

import pytest

from constellation.wasm import (
    WasmHost,
    WasmModule,
    WasmStateError,
    WasmTrap,
    WasmValidationError,
)


def test_gas_exhaustion_traps_with_out_of_gas(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, gas_limit=10_000)
    with pytest.raises(WasmTrap) as info:
        inst.call("spin")
    assert info.value.code == "out_of_gas"
    assert "gas limit of 10000 used up" in str(info.value)
    assert inst.gas_used == 10_000


def test_gas_is_counted_across_calls(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    inst.set_gas_limit(1_000_000)
    inst.call("count", [10])
    after_10 = inst.gas_used
    inst.call("count", [1000])
    assert inst.gas_used > after_10 * 10  # the loop body is metered per iteration


def test_max_instructions_caps_each_call(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, limits={"max_instructions": 500})
    inst.call("count", [10])
    inst.call("count", [10])  # each call gets its own 500
    with pytest.raises(WasmTrap, match="max_instructions of 500 per call") as info:
        inst.call("count", [10_000])
    assert info.value.code == "out_of_gas"


def test_timeout_stops_an_infinite_loop(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, metering=False)
    host.set_resource_limits(inst, {"timeout_ms": 20})
    with pytest.raises(WasmTrap) as info:
        inst.call("spin")
    assert info.value.code == "timeout"


def test_timeout_leaves_other_instances_alone(host: WasmHost, core: WasmModule) -> None:
    timed = host.create_instance(core.id, limits={"timeout_ms": 10})
    untimed = host.create_instance(core.id)
    with pytest.raises(WasmTrap):
        timed.call("spin")
    # The epoch moved on for the whole engine; the untimed store's deadline is far away.
    assert untimed.call("count", [100_000])[0].value == (100_000 * 100_001 // 2) % 2**32


def test_memory_bomb_is_stopped_by_max_memory(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, limits={"max_memory": 4 * 65536})
    assert inst.call("bomb")[0].value == 4  # memory.grow returned -1 at the limit
    assert inst.memory_size == 4 * 65536
    assert inst.call("grow", [1])[0].value == -1


def test_without_a_limit_the_module_maximum_applies(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    assert inst.call("bomb")[0].value == 100


def test_max_memory_below_the_modules_minimum_fails_instantiation(
    host: WasmHost, core: WasmModule
) -> None:
    with pytest.raises(WasmValidationError, match=r"max_memory: 1000 is out of range"):
        host.create_instance(core.id, limits={"max_memory": 1000})  # below one page
    big = host.load_module("(module (memory 4))")
    with pytest.raises(WasmValidationError, match=r"max_memory: .* too small"):
        host.create_instance(big.id, limits={"max_memory": 3 * 65536})
    assert host.list_instances() == []


def test_max_memory_below_current_memory_is_refused_and_changes_nothing(
    host: WasmHost, core: WasmModule
) -> None:
    inst = host.create_instance(core.id, limits={"max_memory": 8 * 65536})
    inst.call("grow", [3])
    with pytest.raises(WasmValidationError, match="below the instance's current memory"):
        host.set_resource_limits(inst, {"max_memory": 65536})
    assert inst.limits.max_memory == 8 * 65536


def test_table_elements_limit(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, limits={"max_table_elements": 6})
    assert inst.call("table_grow", [2])[0].value == 4
    assert inst.call("table_grow", [1])[0].value == -1


@pytest.mark.parametrize(
    ("name", "code"),
    [("oob", "out_of_bounds"), ("boom", "unreachable"), ("deep", "stack_overflow")],
)
def test_traps_carry_their_code(host: WasmHost, core: WasmModule, name: str, code: str) -> None:
    inst = host.create_instance(core.id)
    with pytest.raises(WasmTrap) as info:
        inst.call(name)
    assert info.value.code == code
    assert info.value.instance_id == inst.id


def test_division_by_zero_traps(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    with pytest.raises(WasmTrap) as info:
        inst.call("div", [1, 0])
    assert info.value.code == "division_by_zero"


def test_a_trapped_instance_refuses_calls_until_restored(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    host.snapshot_create(inst, "clean")
    with pytest.raises(WasmTrap):
        inst.call("boom")
    with pytest.raises(WasmStateError, match="trapped \\(unreachable\\)"):
        inst.call("add", [1, 2])
    host.snapshot_restore(inst, "clean")
    assert inst.call("add", [1, 2])[0].value == 3
    # ...or re-created
    fresh = host.create_instance(core.id)
    assert fresh.call("add", [2, 2])[0].value == 4


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_memory": -1}, "max_memory: -1 is out of range"),
        ({"max_memory": 2**40}, "max_memory: .* out of range"),
        ({"max_instructions": 0}, "max_instructions: 0 is out of range"),
        ({"max_instructions": 1.5}, "max_instructions: 1.5 is not an integer"),
        ({"max_table_elements": -5}, "max_table_elements: -5 is out of range"),
        ({"timeout_ms": -1}, "timeout_ms: -1 is out of range"),
        ({"timeout_ms": "soon"}, "timeout_ms: 'soon' is not a number"),
        ({"max_cpu": 1}, "limits: 'max_cpu' is not allowed; expected one of 'max_memory'"),
        ([1, 2], "limits: \\[1, 2\\] is not a mapping"),
    ],
)
def test_bad_limits_are_refused_and_change_nothing(
    host: WasmHost, core: WasmModule, limits: object, message: str
) -> None:
    inst = host.create_instance(core.id, limits={"max_memory": 1 << 20})
    before = inst.limits
    assert before.max_memory == 1 << 20
    with pytest.raises(WasmValidationError, match=message):
        host.set_resource_limits(inst, limits)
    assert inst.limits == before


@pytest.mark.parametrize("gas", [-1, 0, 1.5, True, 2**70])
def test_bad_gas_limits_are_refused(host: WasmHost, core: WasmModule, gas: object) -> None:
    inst = host.create_instance(core.id, gas_limit=100)
    with pytest.raises(WasmValidationError, match="gas: "):
        inst.set_gas_limit(gas)  # type: ignore[arg-type]
    assert inst.gas_limit == 100


def test_without_metering_gas_calls_are_refused(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, metering=False)
    assert inst.call("add", [1, 2])[0].value == 3
    with pytest.raises(WasmStateError, match="without metering"):
        inst.set_gas_limit(10)
    with pytest.raises(WasmStateError, match="without metering"):
        _ = inst.gas_used


def test_limits_can_be_removed(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, limits={"max_instructions": 100, "timeout_ms": 1000})
    host.set_resource_limits(inst, {"max_instructions": None, "timeout_ms": None})
    assert inst.call("count", [10_000])[0].value == 50_005_000


def test_uninterruptible_instances_refuse_timeouts(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, metering=False, interruptible=False)
    assert inst.call("count", [100])[0].value == 5050
    with pytest.raises(WasmValidationError, match="timeout_ms: the instance runs without interr"):
        host.set_resource_limits(inst, {"timeout_ms": 10})
    with pytest.raises(WasmValidationError, match="max_instructions: the instance runs without"):
        host.create_instance(core.id, metering=False, limits={"max_instructions": 10})
    with pytest.raises(WasmValidationError, match="interruptible: 'yes' is not a bool"):
        host.create_instance(core.id, interruptible="yes")  # type: ignore[arg-type]
    assert len(host.list_instances()) == 1


def test_a_trap_at_the_memory_limit_says_out_of_memory(host: WasmHost) -> None:
    # What C does: malloc gets NULL when memory.grow fails, then abort() -> unreachable.
    m = host.load_module(
        '(module (memory 1) (func (export "alloc") (loop'
        " (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable)) (br 0))))"
    )
    inst = host.create_instance(m.id, limits={"max_memory": 3 * 65536})
    with pytest.raises(WasmTrap, match="max_memory=196608: a grow was refused") as info:
        inst.call("alloc")
    assert info.value.code == "out_of_memory"
