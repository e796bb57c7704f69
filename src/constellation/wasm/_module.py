"""Modules: reading a source (path, bytes or WAT text), validating it, describing it.

A module's id is the SHA-256 of its binary, so loading the same bytes twice gives the
same module and the on-disk compile cache is shared by every copy.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from ._binary import (
    HIDDEN_PREFIX,
    FormatError,
    ModuleLayout,
    format_signature,
    instrument,
    parse_layout,
)
from ._errors import InvalidModuleError, WasmValidationError

__all__ = ["ExportInfo", "ImportInfo", "WasmModule", "build_module", "read_source"]

WASM_MAGIC = b"\0asm"
MAX_MODULE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ExportInfo:
    """One export: ``kind`` is func, memory, global, table or tag.

    For functions ``params``/``results`` hold the value types and ``signature`` reads
    ``(i32, i32) -> (i32)``; for memories it reads ``pages 1..16``.
    """

    name: str
    kind: str
    signature: str
    params: tuple[str, ...] = ()
    results: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportInfo:
    module: str
    name: str
    kind: str
    signature: str


@dataclass(frozen=True)
class WasmModule:
    """A loaded, validated module. ``id`` is the hex SHA-256 of its binary."""

    id: str
    size: int
    exports: tuple[ExportInfo, ...]
    imports: tuple[ImportInfo, ...]
    source: str
    # Internals: the binary that runs (original + snapshot exports) and its layout.
    wasm: bytes = field(repr=False, compare=False)
    layout: ModuleLayout = field(repr=False, compare=False)

    @property
    def uses_wasi(self) -> bool:
        return any(i.module.startswith("wasi_") for i in self.imports)

    def export(self, name: str) -> ExportInfo | None:
        for e in self.exports:
            if e.name == name:
                return e
        return None

    def function(self, name: str) -> ExportInfo:
        """The exported function ``name``, or a WasmValidationError listing the functions."""
        e = self.export(name)
        if e is None or e.kind != "func":
            funcs = ", ".join(x.name for x in self.exports if x.kind == "func") or "none"
            raise WasmValidationError(
                "function", f"{name!r} is not an exported function; exported functions: {funcs}"
            )
        return e

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "size": self.size,
            "source": self.source,
            "exports": [e.__dict__ for e in self.exports],
            "imports": [i.__dict__ for i in self.imports],
        }


def read_source(source: object) -> tuple[bytes, str]:
    """Binary wasm and a description of where it came from.

    ``source`` is a path (str or PathLike) to a .wasm or .wat file, the binary as bytes,
    or WAT text (a str starting with ``(``).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if data[:4] == WASM_MAGIC:
            return data, "<bytes>"
        if _looks_like_wat(data):
            return _wat(data.decode("utf-8", "replace")), "<wat>"
        raise InvalidModuleError(
            "module", "the bytes are neither a wasm binary (no \\0asm magic) nor WAT text"
        )
    if isinstance(source, str) and _looks_like_wat(source.encode()):
        return _wat(source), "<wat>"
    if not isinstance(source, str | os.PathLike):
        raise WasmValidationError(
            "module", f"{type(source).__name__} is not a path, wasm bytes or WAT text"
        )
    path = Path(source)
    if not path.is_file():
        raise WasmValidationError("path", f"{str(path)!r} is not a file")
    if path.stat().st_size > MAX_MODULE_BYTES:
        raise WasmValidationError("path", f"{path} is larger than {MAX_MODULE_BYTES} bytes")
    data = path.read_bytes()
    if data[:4] != WASM_MAGIC:
        if path.suffix == ".wat" or _looks_like_wat(data):
            return _wat(data.decode("utf-8", "replace")), str(path)
        raise InvalidModuleError("module", f"{path} is not a wasm binary (no \\0asm magic)")
    return data, str(path)


def _looks_like_wat(data: bytes) -> bool:
    head = data.lstrip()[:2]
    return head[:1] == b"(" or head == b";;"


def _wat(text: str) -> bytes:
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        raise InvalidModuleError("module", f"invalid WAT: {_first_lines(exc)}") from None


def _first_lines(exc: Exception) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:500]


def build_module(wasm: bytes, source: str, engine: wasmtime.Engine) -> WasmModule:
    """Validate ``wasm`` and describe it; raises InvalidModuleError with the reason."""
    try:
        wasmtime.Module.validate(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        raise InvalidModuleError("module", f"invalid wasm: {_first_lines(exc)}") from None
    try:
        layout = parse_layout(wasm)
    except (FormatError, IndexError) as exc:
        raise InvalidModuleError("module", f"unsupported module layout: {exc}") from None
    digest = hashlib.sha256(wasm).hexdigest()
    exports = tuple(_describe_export(layout, n, k, i) for n, k, i in layout.exports)
    if any(e.name.startswith(HIDDEN_PREFIX) for e in exports):
        raise InvalidModuleError("module", f"export names starting {HIDDEN_PREFIX!r} are reserved")
    imports = tuple(ImportInfo(m, n, k, s) for m, n, k, s in layout.imports)
    return WasmModule(
        id=digest,
        size=len(wasm),
        exports=exports,
        imports=imports,
        source=source,
        wasm=instrument(wasm, layout),
        layout=layout,
    )


def _describe_export(layout: ModuleLayout, name: str, kind: str, index: int) -> ExportInfo:
    if kind == "func":
        params, results = layout.signature(index)
        return ExportInfo(name, kind, format_signature(params, results), params, results)
    if kind == "memory":
        high = "" if layout.max_pages is None else str(layout.max_pages)
        return ExportInfo(name, kind, f"pages {layout.initial_pages}..{high}")
    if kind == "global":
        _, vtype, mutable = layout.globals[index]
        return ExportInfo(name, kind, f"{'mut ' if mutable else ''}{vtype}")
    if kind == "table" and index < len(layout.tables):
        tmin, tmax = layout.tables[index]
        return ExportInfo(name, kind, f"elements {tmin}..{'' if tmax is None else tmax}")
    return ExportInfo(name, kind, kind)
