"""The seed's "WASM Instances" example (RADS ``main()``), in Python, on a module built from WAT.

Run: ``.venv/bin/python examples/iguana/wasm_instances.py``. The module (``app.wasm`` in
the seed) is written here in WAT: an ``add`` function and a counter in linear memory, so
the snapshot round trip has state to restore.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from constellation import wasm

APP_WAT = """
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "add") (param i32 i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 0) (global.get $calls))
    (i32.add (local.get 0) (local.get 1)))
  (func (export "calls") (result i32) (i32.load (i32.const 0))))
"""


def main() -> None:
    app = Path(tempfile.mkdtemp()) / "app.wat"
    app.write_text(APP_WAT)
    wasm.init()

    module = wasm.load_module(str(app))
    print("Module loaded: " + module.id)
    print(f"Exports: {len(module.exports)}")

    instance = wasm.create_instance(module_id=module.id, runtime="wasmtime")
    wasm.set_resource_limits(instance, {"max_memory": 64 * 1024 * 1024,  # 64MB
                                        "max_instructions": 1_000_000})  # fmt: skip
    wasm.set_gas_limit(instance, 1_000_000)

    params = [{"type": "i32", "value": 42}, {"type": "i32", "value": 10}]
    results = wasm.call_function(instance, "add", params)
    print(f"Result: {results[0].value}")
    print(f"Gas used: {wasm.get_gas_used(instance)}")

    wasm.snapshot_create(instance, "checkpoint-1")  # after one call
    wasm.call_function(instance, "add", [1, 2])
    print(f"Calls before restore: {wasm.call_function(instance, 'calls', [])[0].value}")
    wasm.snapshot_restore(instance, "checkpoint-1")
    print(f"Calls after restore: {wasm.call_function(instance, 'calls', [])[0].value}")
    wasm.shutdown()


if __name__ == "__main__":
    main()
