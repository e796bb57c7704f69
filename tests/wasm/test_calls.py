"""Calling exported functions: typed params and results, and every bad argument."""

from __future__ import annotations

import math

import pytest

from constellation.errors import ValidationError
from constellation.wasm import WasmHost, WasmModule, WasmValidationError, WasmValue


def test_the_seeds_add_returns_52_and_uses_gas(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, "wasmtime")
    host.set_resource_limits(inst, {"max_memory": 64 * 1024 * 1024, "max_instructions": 1_000_000})
    inst.set_gas_limit(1_000_000)
    params = [{"type": "i32", "value": 42}, {"type": "i32", "value": 10}]
    results = host.call_function(inst, "add", params)
    assert results[0].type == "i32"
    assert results[0].value == 52
    assert inst.gas_used > 0


def test_plain_numbers_take_the_declared_types(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    assert inst.call("add64", [2**40, -1]) == [WasmValue("i64", 2**40 - 1)]
    assert inst.call("mulf", [1.5, 2]) == [WasmValue("f64", 3.0)]
    assert inst.call("divmod", [17, 5]) == [WasmValue("i32", 3), WasmValue("i32", 2)]
    assert inst.call("pages") == [WasmValue("i32", 1)]
    assert inst.call("add", [WasmValue("i32", 1), 2])[0].value == 3


def test_i32_accepts_the_unsigned_range_and_wraps_like_the_hardware(
    host: WasmHost, core: WasmModule
) -> None:
    inst = host.create_instance(core.id)
    assert inst.call("add", [2**32 - 1, 0])[0].value == -1
    assert inst.call("add", [2**31 - 1, 1])[0].value == -(2**31)


def test_float_results_keep_their_values(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    value = inst.call("mulf", [float("inf"), -1.0])[0].value
    assert math.isinf(value) and value < 0


@pytest.mark.parametrize(
    ("name", "params", "field", "message"),
    [
        ("add", [1], "params", "add takes 2 parameter\\(s\\) \\(i32, i32\\); 1 given"),
        ("add", [1, 2, 3], "params", "3 given"),
        ("add", [2**32, 0], "params[0]", "out of i32 range"),
        ("add", [-(2**31) - 1, 0], "params[0]", "out of i32 range"),
        ("add64", [2**64, 0], "params[0]", "out of i64 range"),
        ("add", [1.5, 2], "params[0]", "not an integer"),
        ("add", [True, 2], "params[0]", "not a number"),
        ("add", ["1", 2], "params[0]", "not a number"),
        ("add", [{"type": "f64", "value": 1.0}, 2], "params[0]", "does not match"),
        ("add", [{"type": "i128", "value": 1}, 2], "params[0].type", "not allowed"),
        ("add", [{"value": 1, "extra": 2}, 2], "params[0]", "not a typed value"),
        ("add", "12", "params", "not a list"),
        ("mulf", [1e300, 1.0], "params[0]", "out of f32 range"),
        ("nope", [], "function", "'nope' is not an exported function; exported functions: add"),
        ("memory", [], "function", "'memory' is not an exported function"),
    ],
)
def test_bad_arguments_name_the_field_and_change_nothing(
    host: WasmHost, core: WasmModule, name: str, params: object, field: str, message: str
) -> None:
    inst = host.create_instance(core.id)
    inst.call("bump")
    used = inst.gas_used
    with pytest.raises(WasmValidationError, match=message) as info:
        host.call_function(inst, name, params)  # type: ignore[arg-type]
    assert isinstance(info.value, ValidationError)
    assert info.value.field == field
    # Nothing ran: no gas charged, no trap, state unchanged.
    assert inst.gas_used == used
    assert not inst.trapped
    assert inst.call("bump")[0].value == 1026


def test_a_function_name_must_be_a_string(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    with pytest.raises(WasmValidationError, match="function: 3 is not a function name"):
        host.call_function(inst, 3, [])  # type: ignore[arg-type]


def test_call_raw_is_the_plain_number_fast_path(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    assert inst.call_raw("add", 40, 2) == [42]  # type: ignore[attr-defined]
    with pytest.raises(WasmValidationError):
        inst.call_raw("add", 40)  # type: ignore[attr-defined]


def test_closed_instances_refuse_calls_and_close_is_idempotent(
    host: WasmHost, core: WasmModule
) -> None:
    from constellation.wasm import WasmClosedError

    with host.create_instance(core.id) as inst:
        assert inst.call("add", [1, 1])[0].value == 2
    assert inst.closed
    inst.close()
    with pytest.raises(WasmClosedError):
        inst.call("add", [1, 1])


def test_concurrent_calls_on_one_instance_are_serialised(host: WasmHost, core: WasmModule) -> None:
    import threading

    inst = host.create_instance(core.id)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                inst.call("bump")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert inst.call("bump")[0].value == 1024 + 800 + 1
