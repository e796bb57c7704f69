"""WASM as a serverless runtime: pooled, limited, metered and billed like Python functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.errors import ValidationError
from constellation.serverless import ServerlessService

CORE_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "spin") (param i32) (result i32)
    (loop $forever (br $forever))
    (local.get 0))
  (func (export "grow") (param i32) (result i32)
    (memory.grow (local.get 0))))
"""

# A WASI command that echoes the event (stdin) back as its result (stdout).
ECHO_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 4000))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


@pytest.fixture
def core_wat(tmp_path: Path) -> str:
    path = tmp_path / "calc.wat"
    path.write_text(CORE_WAT)
    return str(path)


def test_core_module_function_is_invoked_warm_and_billed(
    sls: ServerlessService, core_wat: str
) -> None:
    f = sls.create_function("calc", "wasm", "add", core_wat, gas_limit=10_000)
    first = sls.invoke_sync(f.id, {"args": [42, 10]})
    assert (first.status, first.output, first.cold_start) == ("success", 52, True)
    second = sls.invoke_sync(f.id, [1, 2])
    assert (second.output, second.cold_start) == (3, False)
    assert second.instance_id == first.instance_id
    metrics = sls.get_function_metrics(f.id)
    assert (metrics.total_invocations, metrics.successful_invocations, metrics.cold_starts) == (
        2,
        2,
        1,
    )
    assert sls.get_billing(f.id).invocation_count == 2


def test_gas_budget_stops_an_endless_loop_and_the_instance_is_replaced(
    sls: ServerlessService, core_wat: str
) -> None:
    f = sls.create_function("spinner", "wasm", "spin", core_wat, gas_limit=100_000)
    result = sls.invoke_sync(f.id, [1])
    assert result.status == "error" and result.error_type == "WasmTrap"
    assert "gas" in str(result.error)
    assert sls.invoke_sync(f.id, [1]).status == "error"  # the same fate, the platform unharmed


def test_timeout_stops_an_unmetered_endless_loop(sls: ServerlessService, core_wat: str) -> None:
    f = sls.create_function("forever", "wasm", "spin", core_wat, timeout_s=1)
    result = sls.invoke_sync(f.id, [1])
    assert result.status == "timeout" and result.error == "timed out after 1000 ms"
    calc = sls.create_function("calc-after", "wasm", "add", core_wat)
    assert sls.invoke_sync(calc.id, [2, 2]).output == 4


def test_memory_limit_holds(sls: ServerlessService, core_wat: str) -> None:
    f = sls.create_function("grower", "wasm", "grow", core_wat, memory_mb=128)
    assert sls.invoke_sync(f.id, [10]).output == 1  # 10 more 64 KiB pages: fine
    refused = sls.invoke_sync(f.id, [4000])  # 250 MiB more: over 128 MB
    assert refused.ok and refused.output == -1  # memory.grow is refused by the store limit


def test_wasi_command_gets_the_event_on_stdin_and_answers_on_stdout(
    sls: ServerlessService, tmp_path: Path
) -> None:
    path = tmp_path / "echo.wat"
    path.write_text(ECHO_WAT)
    f = sls.create_function("echo-wasm", "wasm", "_start", str(path))
    result = sls.invoke_sync(f.id, {"order_id": 12345, "amount": 99.99})
    assert result.ok and result.output == {"order_id": 12345, "amount": 99.99}


def test_bad_wasm_functions_are_refused_and_change_nothing(
    sls: ServerlessService, tmp_path: Path, core_wat: str
) -> None:
    broken = tmp_path / "broken.wasm"
    broken.write_bytes(b"\x00asm\x01\x00\x00\x00\xff\xff")
    with pytest.raises(ValidationError) as info:
        sls.create_function("broken", "wasm", "add", str(broken))
    assert info.value.field == "code"
    with pytest.raises(ValidationError) as info:
        sls.create_function("missing", "wasm", "subtract", core_wat)
    assert info.value.field == "handler" and "subtract" in str(info.value)
    with pytest.raises(ValidationError, match="needs Python code"):
        sls.create_function("mixed", "python", "add", core_wat)
    with pytest.raises(ValidationError, match="gas_limit"):
        sls.create_function("no-gas", "wasm", "add", core_wat, gas_limit=0)
    assert sls.list_functions() == []


# A WASI command printing its environ as one JSON string, "K=V,K2=V2," (NULs as commas).
ENV_WAT = """
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $size i32) (local $i i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (local.set $size (i32.load (i32.const 4)))
    (drop (call $get (i32.const 16) (i32.const 1024)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
      (if (i32.eqz (i32.load8_u (i32.add (i32.const 1024) (local.get $i))))
        (then (i32.store8 (i32.add (i32.const 1024) (local.get $i)) (i32.const 44))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store8 (i32.const 1023) (i32.const 34))
    (i32.store8 (i32.add (i32.const 1024) (local.get $size)) (i32.const 34))
    (i32.store (i32.const 8) (i32.const 1023))
    (i32.store (i32.const 12) (i32.add (local.get $size) (i32.const 2)))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 0)))))
"""

# A core module whose initializer (Wizer's export name) leaves 42 in memory.
INIT_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "wizer.initialize") (i32.store (i32.const 0) (i32.const 42)))
  (func (export "get") (result i32) (i32.load (i32.const 0))))
"""


def test_wasm_functions_see_their_env_vars(sls: ServerlessService, tmp_path: Path) -> None:
    path = tmp_path / "env.wat"
    path.write_text(ENV_WAT)
    f = sls.create_function("env-wasm", "wasm", "_start", str(path), env={"A": "1", "B": "two"})
    result = sls.invoke_sync(f.id, {})
    assert result.ok, result.error
    assert sorted(result.output.rstrip(",").split(",")) == ["A=1", "B=two"]
    sls.set_env_var(f.id, "C", "3")
    assert "C=3" in sls.invoke_sync(f.id, {}).output.split(",")


def test_cold_start_optimization_starts_wasm_instances_from_the_init_snapshot(
    sls: ServerlessService, tmp_path: Path
) -> None:
    path = tmp_path / "init.wat"
    path.write_text(INIT_WAT)
    plain = sls.create_function("init-plain", "wasm", "get", str(path))
    assert sls.invoke_sync(plain.id, []).output == 0  # nobody ran the initializer
    fast = sls.create_function("init-fast", "wasm", "get", str(path), cold_start_optimization=True)
    assert sls.invoke_sync(fast.id, []).output == 42  # started from the snapshot taken after it
    later = sls.create_function("init-later", "wasm", "get", str(path))
    sls.enable_cold_start_optimization(later.id)  # the seed's call, before the first start
    assert sls.invoke_sync(later.id, []).output == 42
    echo = tmp_path / "echo.wat"
    echo.write_text(ECHO_WAT)  # a WASI command: a fresh instance per call, from the snapshot
    cmd = sls.create_function("echo-fast", "wasm", "_start", str(echo),
                              cold_start_optimization=True, env={"K": "v"})  # fmt: skip
    assert sls.invoke_sync(cmd.id, {"n": 1}).output == {"n": 1}
    assert sls.invoke_sync(cmd.id, {"n": 2}).output == {"n": 2}


def test_the_seeds_form_takes_the_wasm_handler_as_the_code(
    sls: ServerlessService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wasmtime

    (tmp_path / "process_image.wasm").write_bytes(wasmtime.wat2wasm(ECHO_WAT))
    monkeypatch.chdir(tmp_path)
    api = sls.create_function(name="image-processor", runtime="wasm", handler="process_image.wasm")
    assert sls.invoke_sync(api.id, {"w": 3}).output == {"w": 3}
    (tmp_path / "calc.wat").write_text(CORE_WAT)
    calc = sls.create_function("calc-seed", runtime="wasm", handler="calc.wat:add")
    assert sls.invoke_sync(calc.id, [2, 5]).output == 7
    with pytest.raises(ValidationError) as info:
        sls.create_function("no-code", runtime="wasm", handler="add")
    assert info.value.field == "code"
