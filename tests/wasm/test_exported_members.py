"""The public surface of constellation.wasm is frozen here; change it on purpose only."""

import constellation.wasm as wasm


def test_all_is_the_public_set() -> None:
    assert wasm.__all__ == [
        "DEFAULT_LIMITS",
        "RUNTIMES",
        "TRAP_CODES",
        "EngineSettings",
        "ExportInfo",
        "ImportInfo",
        "InvalidModuleError",
        "InvocationResult",
        "ResourceLimits",
        "RuntimeInfo",
        "RuntimeUnavailableError",
        "Snapshot",
        "WasiOptions",
        "WasiResult",
        "WasmClosedError",
        "WasmError",
        "WasmHandler",
        "WasmHost",
        "WasmInstance",
        "WasmModule",
        "WasmNotFoundError",
        "WasmStateError",
        "WasmTrap",
        "WasmValidationError",
        "WasmValue",
        "call_function",
        "create_instance",
        "default_host",
        "destroy_instance",
        "get_gas_used",
        "get_runtimes",
        "init",
        "is_available",
        "is_running",
        "load_module",
        "precompile",
        "run_wasi",
        "set_gas_limit",
        "set_resource_limits",
        "shutdown",
        "snapshot_create",
        "snapshot_load",
        "snapshot_restore",
        "snapshot_save",
        "unload_module",
    ]


def test_every_public_name_comes_from_the_package() -> None:
    for name in wasm.__all__:
        obj = getattr(wasm, name)
        assert obj is not None
        if callable(obj):
            assert obj.__module__.startswith("constellation.wasm")
