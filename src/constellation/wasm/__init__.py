"""WASM instances: sandboxed WebAssembly (see issue "WASM instances"). Not built yet."""

__all__: list[str] = []
