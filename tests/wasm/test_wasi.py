"""WASI: argv, env, stdio capture, exit codes, and a guest that tries to leave its preopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.wasm import WasiOptions, WasmHost, WasmModule, WasmValidationError

SECRET = "TOP SECRET host file"


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """<tmp>/box/inner is the preopen; <tmp>/box/secret.txt sits just outside it."""
    inner = tmp_path / "box" / "inner"
    inner.mkdir(parents=True)
    (inner / "data.txt").write_text("inside data\n")
    (tmp_path / "box" / "secret.txt").write_text(SECRET)
    (inner / "link.txt").symlink_to(tmp_path / "box" / "secret.txt")
    return inner


def test_argv_env_stdin_stdout_stderr_and_exit_code(host: WasmHost, probe: WasmModule) -> None:
    result = host.run_wasi(
        probe.id, argv=["probe", "two words"], env={"GREETING": "hi"}, stdin=b"from stdin"
    )
    assert result.exit_code == 3
    assert result.stdout == b"probe\0two words\0GREETING=hi\0from stdin"
    assert result.stderr == b"data.txt"
    assert result.gas_used is not None and result.gas_used > 0


def test_the_guest_sees_no_host_environment(host: WasmHost, probe: WasmModule) -> None:
    result = host.run_wasi(probe.id, argv=["p"])
    assert result.stdout == b"p\0"


def test_reading_inside_the_preopen_works(host: WasmHost, probe: WasmModule, box: Path) -> None:
    result = host.run_wasi(probe.id, preopens={"/data": box}, entry="read_inside")
    assert (result.exit_code, result.stdout) == (0, b"inside data\n")


@pytest.mark.parametrize("entry", ["read_dotdot", "read_absolute", "read_link"])
def test_nothing_outside_the_preopen_is_reachable(
    host: WasmHost, probe: WasmModule, box: Path, entry: str
) -> None:
    result = host.run_wasi(probe.id, preopens={"/data": box}, entry=entry)
    assert result.exit_code != 0  # the WASI errno the open failed with
    assert SECRET.encode() not in result.stdout
    assert result.stdout == b""


def test_preopens_are_read_only_unless_asked(host: WasmHost, probe: WasmModule, box: Path) -> None:
    denied = host.run_wasi(probe.id, preopens={"/data": box}, entry="write_inside")
    assert denied.exit_code != 0
    assert not (box / "out.txt").exists()
    allowed = host.run_wasi(probe.id, preopens={"/data": (box, "rw")}, entry="write_inside")
    assert allowed.exit_code == 0
    assert (box / "out.txt").read_text() == "written"


def test_without_a_preopen_there_is_no_file_system(host: WasmHost, probe: WasmModule) -> None:
    assert host.run_wasi(probe.id, entry="read_inside").exit_code != 0


def test_captured_output_is_capped(host: WasmHost, probe: WasmModule) -> None:
    wasi = WasiOptions(argv=("p",), stdin=b"x" * 10_000, capture_bytes=100)
    inst = host.create_instance(probe.id, wasi=wasi)
    result = inst.run_command()  # type: ignore[attr-defined]
    assert result.exit_code == 3
    assert len(result.stdout) == 100
    assert result.stdout_truncated


def test_wasi_runs_under_the_gas_limit(host: WasmHost, probe: WasmModule) -> None:
    from constellation.wasm import WasmTrap

    with pytest.raises(WasmTrap) as info:
        host.run_wasi(probe.id, stdin=b"y" * 100_000, gas_limit=50)
    assert info.value.code == "out_of_gas"
    assert host.list_instances() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"argv": "prog"}, "argv: 'prog' is not a list"),
        ({"argv": ["a\0b"]}, "argv: every argument must be a string"),
        ({"env": {"A": 1}}, "env: "),
        ({"env": {"A=B": "x"}}, "env: "),
        ({"preopens": {"/d": "/definitely/not/here"}}, "preopens\\['/d'\\]: .* not a directory"),
        ({"preopens": {"/d": ("/tmp", "rwx")}}, "preopens\\['/d'\\].mode: 'rwx' is not allowed"),
        ({"stdin": "text"}, "stdin: expected bytes"),
        ({"capture_bytes": -1}, "capture_bytes: -1 is out of range"),
        ({"colour": True}, "wasi: 'colour' is not allowed"),
    ],
)
def test_bad_wasi_options_name_the_field(
    host: WasmHost, probe: WasmModule, options: dict[str, object], message: str
) -> None:
    with pytest.raises(WasmValidationError, match=message):
        host.create_instance(probe.id, wasi=options)
    assert host.list_instances() == []


def test_imports_the_host_does_not_provide_are_named(host: WasmHost) -> None:
    m = host.load_module('(module (import "env" "magic" (func)))')
    with pytest.raises(WasmValidationError, match="env::magic"):
        host.create_instance(m.id)
