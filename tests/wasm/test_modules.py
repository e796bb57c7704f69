"""Loading modules: sources, validation with reasons, descriptions, ids, unload."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import wasmtime

from constellation.errors import NotFoundError, ValidationError
from constellation.wasm import (
    InvalidModuleError,
    WasmHost,
    WasmModule,
    WasmNotFoundError,
    WasmValidationError,
)

ADD_WAT = (
    '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'
)


def test_the_id_is_the_sha256_of_the_binary_whatever_the_source(
    host: WasmHost, tmp_path: Path
) -> None:
    binary = bytes(wasmtime.wat2wasm(ADD_WAT))
    (tmp_path / "add.wasm").write_bytes(binary)
    (tmp_path / "add.wat").write_text(ADD_WAT)
    ids = {
        host.load_module(binary).id,
        host.load_module(ADD_WAT).id,
        host.load_module(tmp_path / "add.wasm").id,
        host.load_module(str(tmp_path / "add.wat")).id,
        host.load_module(ADD_WAT.encode()).id,
    }
    assert ids == {hashlib.sha256(binary).hexdigest()}
    assert len(host.list_modules()) == 1


def test_exports_list_names_kinds_and_signatures(core: WasmModule) -> None:
    m = core
    by_name = {e.name: e for e in m.exports}
    assert by_name["add"].kind == "func"
    assert by_name["add"].signature == "(i32, i32) -> (i32)"
    assert by_name["divmod"].results == ("i32", "i32")
    assert by_name["mulf"].params == ("f32", "f64")
    assert by_name["memory"].kind == "memory"
    assert by_name["memory"].signature == "pages 1..100"
    assert by_name["ratio"].signature == "mut f64"
    # The exports added for snapshots stay hidden.
    assert not [e for e in m.exports if e.name.startswith("__cst_")]


def test_imports_are_listed_with_signatures(host: WasmHost) -> None:
    m = host.load_module(
        '(module (import "env" "log" (func (param i64 f32) (result i32)))'
        ' (import "env" "mem" (memory 2)) (import "env" "g" (global (mut i32))))'
    )
    assert [(i.module, i.name, i.kind, i.signature) for i in m.imports] == [
        ("env", "log", "func", "(i64, f32) -> (i32)"),
        ("env", "mem", "memory", "pages 2.."),
        ("env", "g", "global", "mut i32"),
    ]


def test_v128_signatures_are_described_without_touching_wasmtime_types(host: WasmHost) -> None:
    # wasmtime's C type API aborts the process on v128; our own parser describes it.
    m = host.load_module(
        '(module (func (export "h") (param v128 externref) (result v128) local.get 0))'
    )
    assert m.exports[0].signature == "(v128, externref) -> (v128)"
    inst = host.create_instance(m.id)
    with pytest.raises(WasmValidationError, match="only i32, i64, f32, f64"):
        inst.call("h", [0, None])


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (b"\0asm\x01\0\0\0\x01\x02", "unexpected end"),
        (b"\0asm\x02\0\0\0", "unknown binary version"),
        (b"ELF\x7f", "neither a wasm binary"),
        ("(module (func (result i32)))", "type mismatch"),
        ('(module (func (export "f") i32.add2))', "invalid WAT"),
    ],
)
def test_malformed_modules_give_the_reason(host: WasmHost, source: object, reason: str) -> None:
    with pytest.raises(InvalidModuleError, match=reason) as info:
        host.load_module(source)
    assert isinstance(info.value, ValidationError)
    assert host.list_modules() == []


def test_bad_sources_name_the_field(host: WasmHost, tmp_path: Path) -> None:
    with pytest.raises(WasmValidationError, match=r"path: .* is not a file"):
        host.load_module(tmp_path / "missing.wasm")
    with pytest.raises(WasmValidationError, match="module: int is not a path"):
        host.load_module(42)
    (tmp_path / "junk.wasm").write_bytes(b"junk")
    with pytest.raises(InvalidModuleError, match="no \\\\0asm magic"):
        host.load_module(tmp_path / "junk.wasm")


def test_reserved_export_names_are_refused(host: WasmHost) -> None:
    with pytest.raises(InvalidModuleError, match="reserved"):
        host.load_module('(module (func (export "__cst_x")))')


def test_unload_forgets_the_module_but_live_instances_keep_running(host: WasmHost) -> None:
    m = host.load_module(ADD_WAT)
    inst = host.create_instance(m.id)
    host.unload_module(m.id)
    with pytest.raises(WasmNotFoundError) as info:
        host.create_instance(m.id)
    assert isinstance(info.value, NotFoundError)
    assert inst.call("add", [1, 2])[0].value == 3
    with pytest.raises(WasmNotFoundError):
        host.unload_module(m.id)


def test_modules_are_compiled_ahead_of_time_into_the_cache(host: WasmHost) -> None:
    m = host.load_module(ADD_WAT)
    assert host.cache_dir is not None
    files = list(host.cache_dir.glob(f"{m.id}-*.cwasm"))
    assert len(files) == 1
    assert host.engine().compiles == 1
