"""WasmHandler (JSON in/out invocations) and the `constellation wasm` CLI group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from constellation.wasm import WasmHandler, WasmHost, WasmModule, WasmValidationError
from constellation.wasm._cli import cli

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


def test_a_core_module_handler_takes_and_returns_numbers(host: WasmHost, core: WasmModule) -> None:
    with WasmHandler(host, core.id, "add", gas_limit=10_000) as handler:
        handler.prewarm()
        first = handler({"args": [42, 10]})
        assert (first.status, first.output) == ("ok", 52)
        assert first.gas_used and first.gas_used > 0
        assert handler([1, 2]).output == 3
        assert handler({"args": [7, 5]}).output == 12


def test_a_trap_is_a_failed_invocation_and_the_next_one_gets_a_fresh_instance(
    host: WasmHost, core: WasmModule
) -> None:
    with WasmHandler(host, core.id, "count", gas_limit=1_000) as handler:
        failed = handler([1_000_000])
        assert (failed.status, failed.trap_code) == ("error", "out_of_gas")
        assert handler([3]).output == 6


def test_a_wasi_command_gets_the_event_on_stdin_and_answers_on_stdout(host: WasmHost) -> None:
    m = host.load_module(ECHO_WAT)
    with WasmHandler(host, m.id) as handler:
        result = handler({"order_id": 12345, "amount": 99.99})
        assert result.status == "ok"
        assert result.output == {"order_id": 12345, "amount": 99.99}
    assert host.list_instances() == []


def test_a_non_zero_exit_is_a_failed_invocation(host: WasmHost, probe: WasmModule) -> None:
    with WasmHandler(host, probe.id) as handler:  # _start exits 3
        result = handler({})
    assert (result.status, result.exit_code) == ("error", 3)


def test_bad_handler_arguments(host: WasmHost, core: WasmModule) -> None:
    with pytest.raises(WasmValidationError, match="handler: the module has no _start"):
        WasmHandler(host, core.id)
    with pytest.raises(WasmValidationError, match="'nope' is not an exported function"):
        WasmHandler(host, core.id, "nope")
    with WasmHandler(host, core.id, "add") as handler, pytest.raises(WasmValidationError):
        handler("not a list")


def test_cli_runtimes_lists_all_four() -> None:
    result = CliRunner().invoke(cli, ["runtimes", "--json"])
    assert result.exit_code == 0
    names = {r["name"]: r["available"] for r in json.loads(result.output)}
    assert names == {"wasmtime": True, "native": True, "wasm3": True, "wasmer": False}
    table = CliRunner().invoke(cli, ["runtimes"]).output
    assert "no wheel for Python >= 3.11" in table


def test_cli_run_and_inspect(tmp_home: Path, core_wat: str, tmp_path: Path) -> None:
    app = tmp_path / "app.wat"
    app.write_text(core_wat)
    runner = CliRunner()
    args = ["run", str(app), "--invoke", "add", "1", "2", "--gas", "1000000",
            "--max-memory", "64MiB"]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "3"
    spun = runner.invoke(cli, ["run", str(app), "--invoke", "spin", "--gas", "1000"])
    assert spun.exit_code != 0 and "out_of_gas" in spun.output
    inspected = runner.invoke(cli, ["inspect", str(app)])
    exports = {e["name"]: e["signature"] for e in json.loads(inspected.output)["exports"]}
    assert exports["add"] == "(i32, i32) -> (i32)"
