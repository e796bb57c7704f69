"""Snapshots: memory and globals restored exactly, compact storage, disk, from_snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.wasm import (
    Snapshot,
    WasmHost,
    WasmModule,
    WasmNotFoundError,
    WasmStateError,
    WasmValidationError,
)


def _touch(host: WasmHost, inst: object) -> None:
    host.call_function(inst, "bump")
    host.call_function(inst, "store", [100, 0x01020304])  # inside the data segment
    host.call_function(inst, "store", [70_000, 77])  # second wasm page, zero initially
    host.call_function(inst, "set_ratio", [0.1])


def test_round_trip_restores_memory_and_globals_exactly(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id, gas_limit=1_000_000)
    inst.call("grow", [1])
    _touch(host, inst)
    state = inst.call("state")
    memory = inst.memory_array().copy()  # type: ignore[attr-defined]
    gas = inst.gas_used
    host.snapshot_create(inst, "cp")
    # Change everything the snapshot holds.
    for _ in range(3):
        inst.call("bump")
    inst.call("store", [100, 5])
    inst.call("store", [4096 * 3, 9])
    inst.call("store", [70_000, 0])
    inst.call("set_ratio", [2.5])
    host.snapshot_restore(inst, "cp")
    assert inst.gas_used == gas
    assert inst.gas_limit == 1_000_000
    assert (inst.memory_array() == memory).all()  # type: ignore[attr-defined]
    assert inst.call("state") == state
    assert inst.call("load", [70_000])[0].value == 77


def test_float_globals_are_exact(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    inst.call("set_ratio", [0.1 + 0.2])
    inst.call("bump")  # f32 global becomes 1.75
    host.snapshot_create(inst, "f")
    snap = host.snapshot_save("f", Path(host.cache_dir or ".") / "f.snap")
    loaded = Snapshot.load(snap)
    values = sorted(v for t, v in loaded.globals.values() if t.startswith("f"))
    assert values == [0.1 + 0.2, 1.75]


def test_only_pages_that_differ_from_the_initial_image_are_stored(
    host: WasmHost, core: WasmModule
) -> None:
    inst = host.create_instance(core.id)
    assert host.snapshot_create(inst, "clean").pages == {}
    inst.call("grow", [15])  # 1 MiB of memory
    _touch(host, inst)
    snap = host.snapshot_create(inst, "dirty")
    assert sorted(snap.pages) == [0, 17]  # 4 KiB pages holding offsets 100 and 70_000
    assert snap.stored_bytes == 2 * 4096
    assert snap.memory_size == 16 * 65536


def test_restore_cannot_shrink_memory(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    host.snapshot_create(inst, "small")
    inst.call("grow", [2])
    with pytest.raises(WasmStateError, match="memory cannot shrink; create a new instance"):
        host.snapshot_restore(inst, "small")
    fresh = host.create_instance(core.id, from_snapshot="small")
    assert fresh.memory_size == 65536


def test_restore_grows_memory_when_the_snapshot_is_larger(host: WasmHost, core: WasmModule) -> None:
    big = host.create_instance(core.id)
    big.call("grow", [3])
    big.call("store", [3 * 65536, 42])
    host.snapshot_create(big, "big")
    small = host.create_instance(core.id)
    host.snapshot_restore(small, "big")
    assert small.memory_size == 4 * 65536
    assert small.call("load", [3 * 65536])[0].value == 42


def test_create_instance_from_snapshot_starts_pre_initialised(
    host: WasmHost, core: WasmModule
) -> None:
    warm = host.create_instance(core.id)
    warm.call("grow", [1])
    _touch(host, warm)
    host.snapshot_create(warm, "init")
    clone = host.create_instance(core.id, from_snapshot="init")
    assert clone.call("state") == warm.call("state")
    assert clone.call("load", [70_000])[0].value == 77
    assert clone.call("bump")[0].value == 1026


def test_snapshots_survive_a_trip_to_disk_and_another_host(
    host: WasmHost, core: WasmModule, core_wat: str, tmp_path: Path
) -> None:
    inst = host.create_instance(core.id)
    inst.call("grow", [1])
    _touch(host, inst)
    host.snapshot_create(inst, "disk")
    path = host.snapshot_save("disk", tmp_path / "disk.snap")
    with WasmHost(cache_dir=None) as other:
        m = other.load_module(core_wat)
        snap = other.snapshot_load(path)
        assert snap.name == "disk"
        clone = other.create_instance(m.id, from_snapshot="disk")
        assert clone.call("state") == inst.call("state")
        assert clone.call("load", [100])[0].value == 0x01020304


def test_bad_snapshot_files_are_refused(host: WasmHost, tmp_path: Path) -> None:
    (tmp_path / "bad.snap").write_bytes(b"not a snapshot")
    with pytest.raises(WasmValidationError, match="not a snapshot file"):
        host.snapshot_load(tmp_path / "bad.snap")
    (tmp_path / "cut.snap").write_bytes(b"CSTSNAP1" + (5).to_bytes(8, "little") + b"{}")
    with pytest.raises(WasmValidationError, match="corrupt snapshot"):
        host.snapshot_load(tmp_path / "cut.snap")


def test_a_snapshot_belongs_to_its_module(host: WasmHost, core: WasmModule) -> None:
    other = host.load_module('(module (memory 1) (func (export "f")))')
    inst = host.create_instance(core.id)
    host.snapshot_create(inst, "core")
    with pytest.raises(WasmStateError, match="snapshot 'core' is of module"):
        host.snapshot_restore(host.create_instance(other.id), "core")
    with pytest.raises(WasmValidationError, match="from_snapshot"):
        host.create_instance(other.id, from_snapshot="core")


def test_unknown_snapshot_names_and_bad_names(host: WasmHost, core: WasmModule) -> None:
    inst = host.create_instance(core.id)
    with pytest.raises(WasmNotFoundError):
        host.snapshot_restore(inst, "nope")
    with pytest.raises(WasmValidationError, match="name: '' is not a snapshot name"):
        host.snapshot_create(inst, "")


def test_a_module_without_memory_snapshots_its_globals(host: WasmHost) -> None:
    m = host.load_module(
        "(module (global $g (mut i64) (i64.const 1))"
        ' (func (export "inc") (result i64) (global.set $g (i64.add (global.get $g) (i64.const 1)))'
        " global.get $g))"
    )
    inst = host.create_instance(m.id)
    host.snapshot_create(inst, "g")
    inst.call("inc")
    host.snapshot_restore(inst, "g")
    assert inst.call("inc")[0].value == 2


def test_from_snapshot_does_not_run_the_start_function_again(host: WasmHost) -> None:
    m = host.load_module(
        "(module (memory 1) (global $runs (mut i32) (i32.const 0)) (start $init)"
        " (func $init (global.set $runs (i32.add (global.get $runs) (i32.const 1)))"
        " (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1))))"
        ' (func (export "runs") (result i32 i32) global.get $runs i32.const 8 i32.load))'
    )
    first = host.create_instance(m.id)
    assert [v.value for v in first.call("runs")] == [1, 1]
    host.snapshot_create(first, "after-start")
    clone = host.create_instance(m.id, from_snapshot="after-start")
    assert [v.value for v in clone.call("runs")] == [1, 1]


def test_native_instances_start_from_a_snapshot_by_restoring(
    host: WasmHost, core: WasmModule
) -> None:
    warm = host.create_instance(core.id)
    warm.call("bump")
    host.snapshot_create(warm, "n")
    clone = host.create_instance(core.id, "native", from_snapshot="n")
    assert clone.call("bump")[0].value == 1026


def test_a_snapshot_start_respects_max_memory(host: WasmHost, core: WasmModule) -> None:
    warm = host.create_instance(core.id)
    warm.call("grow", [7])
    host.snapshot_create(warm, "big")
    with pytest.raises(WasmValidationError, match="max_memory"):
        host.create_instance(core.id, from_snapshot="big", limits={"max_memory": 2 * 65536})
    assert len(host.list_instances()) == 1


def test_saving_into_a_missing_directory_is_refused(
    host: WasmHost, core: WasmModule, tmp_path: Path
) -> None:
    host.snapshot_create(host.create_instance(core.id), "s")
    with pytest.raises(WasmValidationError, match="is not a directory"):
        host.snapshot_save("s", tmp_path / "missing" / "s.snap")
    with pytest.raises(WasmNotFoundError):
        host.snapshot_save("nope", tmp_path / "s.snap")
