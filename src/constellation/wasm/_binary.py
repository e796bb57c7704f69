"""Just enough of the WebAssembly binary format for snapshots.

A snapshot must read every *mutable* global and the linear memory, but an embedder can
only reach what a module exports, and compilers keep ``__stack_pointer`` private. So,
as Wizer does, the module that runs is the original with extra exports added for its
private mutable globals (``__cst_global_<index>``) and its memory (``__cst_memory``).
Nothing else changes: no code is touched, so behaviour and speed are the original's.

It also computes the module's initial memory image (active data segments with constant
offsets) so that a snapshot stores only the pages that differ from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "HIDDEN_PREFIX",
    "FormatError",
    "ModuleLayout",
    "format_signature",
    "instrument",
    "parse_layout",
]

HIDDEN_PREFIX = "__cst_"
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64"}
_OTHER_TYPES = {0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}
_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_SECTION_EXPORT = 7
# Sections that must come after the export section (start, element, datacount, code, data).
_AFTER_EXPORT = {8, 9, 12, 10, 11}


class FormatError(ValueError):
    """The parser met something it does not handle (the module itself may be valid)."""


@dataclass
class ModuleLayout:
    """What the rest of the package needs to know about a module, read from its bytes.

    Function signatures come from here, not from wasmtime's C type API, which aborts the
    process on some value types (v128): inspecting a module must never crash the host.
    """

    types: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    functions: list[int] = field(default_factory=list)  # type index per function index
    imports: list[tuple[str, str, str, str]] = field(default_factory=list)  # mod, name, kind, ty
    exports: list[tuple[str, str, int]] = field(default_factory=list)  # name, kind, index
    globals: list[tuple[int, str, bool]] = field(default_factory=list)  # (index, type, mutable)
    exported_globals: dict[int, str] = field(default_factory=dict)  # index -> export name
    memory_export: str | None = None  # export name of memory 0, if exported
    has_memory: bool = False  # memory 0 defined (not imported) by the module
    memory_imported: bool = False  # memory 0 belongs to the host: not snapshot-able here
    initial_pages: int = 0
    max_pages: int | None = None
    tables: list[tuple[int, int | None]] = field(default_factory=list)  # (min, max)
    # Active data segments with constant offsets into memory 0: (offset, bytes).
    data: list[tuple[int, bytes]] = field(default_factory=list)
    data_exact: bool = True  # False when some offset was not a constant
    has_start: bool = False  # a start function runs at instantiation (may write memory)

    def signature(self, func_index: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.types[self.functions[func_index]]


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise FormatError("unexpected end of section")
        self.pos += 1
        return self.data[self.pos - 1]

    def u32(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def s64(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result - (1 << shift) if b & 0x40 else result

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise FormatError("unexpected end of section")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def name(self) -> str:
        return self.take(self.u32()).decode("utf-8", "replace")

    def limits(self) -> tuple[int, int | None]:
        flags = self.byte()
        minimum = self.u32()
        return minimum, (self.u32() if flags & 1 else None)

    def valtype(self) -> str:
        b = self.byte()
        if b in _VALTYPES:
            return _VALTYPES[b]
        if b in (0x63, 0x64):  # (ref null? ht): skip the heap type
            self.s64()
            return "ref"
        return _OTHER_TYPES.get(b, "ref")

    def const_expr(self) -> int | None:
        """Skip a constant expression; return its value when it is a plain i32/i64.const."""
        value: int | None = None
        count = 0
        while True:
            op = self.byte()
            if op == 0x0B:
                return value if count == 1 else None
            count += 1
            if op in (0x41, 0x42):
                value = self.s64()
            elif op == 0x43:
                self.take(4)
            elif op == 0x44:
                self.take(8)
            elif op in (0x23, 0xD2):
                self.u32()
            elif op == 0xD0:
                self.byte()
            elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended-const arithmetic
                pass
            elif op == 0xFD and self.u32() == 12:  # v128.const
                self.take(16)
            else:
                raise FormatError(f"opcode 0x{op:02x} in a constant expression")


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _sections(wasm: bytes) -> list[tuple[int, int, int, int]]:
    """(id, header start, payload start, payload end) for every section."""
    if wasm[:4] != b"\0asm":
        raise FormatError("not a wasm binary")
    r = _Reader(wasm, 8)
    out = []
    while r.pos < len(wasm):
        header = r.pos
        sid = r.byte()
        size = r.u32()
        out.append((sid, header, r.pos, r.pos + size))
        r.pos += size
    return out


def parse_layout(wasm: bytes) -> ModuleLayout:
    lay = ModuleLayout()
    for sid, _header, start, end in _sections(wasm):
        r = _Reader(wasm, start, end)
        if sid == 1:
            _read_types(r, lay)
        elif sid == 2:
            _read_imports(r, lay)
        elif sid == 3:
            lay.functions.extend(r.u32() for _ in range(r.u32()))
        elif sid == 4:
            for _ in range(r.u32()):
                r.valtype()
                lay.tables.append(r.limits())
        elif sid == 5 and r.u32() and not lay.memory_imported:
            lay.has_memory = True
            lay.initial_pages, lay.max_pages = r.limits()
        elif sid == 6:
            first = len(lay.globals)
            for i in range(r.u32()):
                vtype = r.valtype()
                mutable = bool(r.byte())
                r.const_expr()
                lay.globals.append((first + i, vtype, mutable))
        elif sid == _SECTION_EXPORT:
            for _ in range(r.u32()):
                name = r.name()
                kind = r.byte()
                lay.exports.append((name, _KINDS.get(kind, "other"), r.u32()))
        elif sid == 8:
            lay.has_start = True
        elif sid == 11:
            _read_data(r, lay)
    for ename, ekind, eindex in lay.exports:
        if ekind == "global":
            lay.exported_globals.setdefault(eindex, ename)
        elif ekind == "memory" and eindex == 0:
            lay.memory_export = lay.memory_export or ename
    return lay


def _read_types(r: _Reader, lay: ModuleLayout) -> None:
    for _ in range(r.u32()):
        form = r.byte()
        if form != 0x60:  # GC proposal rec/sub types: not supported here
            raise FormatError(f"type form 0x{form:02x}")
        params = tuple(r.valtype() for _ in range(r.u32()))
        results = tuple(r.valtype() for _ in range(r.u32()))
        lay.types.append((params, results))


def _read_imports(r: _Reader, lay: ModuleLayout) -> None:
    for _ in range(r.u32()):
        module, name = r.name(), r.name()
        kind = r.byte()
        desc = ""
        if kind in (0, 4):
            if kind == 4:
                r.byte()
            index = r.u32()
            if kind == 0:
                lay.functions.append(index)
                desc = format_signature(*lay.types[index])
        elif kind == 1:
            desc = r.valtype()
            r.limits()
        elif kind == 2:
            low, high = r.limits()
            desc = f"pages {low}..{'' if high is None else high}"
            lay.memory_imported = True
        elif kind == 3:
            vtype = r.valtype()
            mutable = bool(r.byte())
            lay.globals.append((len(lay.globals), vtype, mutable))
            desc = f"{'mut ' if mutable else ''}{vtype}"
        else:
            raise FormatError(f"import kind {kind}")
        lay.imports.append((module, name, _KINDS[kind], desc))


def _read_data(r: _Reader, lay: ModuleLayout) -> None:
    for _ in range(r.u32()):
        flags = r.u32()
        if flags == 1:  # passive
            r.take(r.u32())
            continue
        memidx = r.u32() if flags == 2 else 0
        offset = r.const_expr()
        payload = r.take(r.u32())
        if memidx != 0:
            continue
        if offset is None:
            lay.data_exact = False
        else:
            lay.data.append((offset & 0xFFFFFFFF, payload))


def format_signature(params: tuple[str, ...], results: tuple[str, ...]) -> str:
    return f"({', '.join(params)}) -> ({', '.join(results)})"


def instrument(wasm: bytes, layout: ModuleLayout) -> bytes:
    """Return ``wasm`` with exports added for private mutable globals and memory 0."""
    extra: list[tuple[str, int, int]] = []
    for index, vtype, mutable in layout.globals:
        if mutable and vtype in _VALTYPES.values() and index not in layout.exported_globals:
            extra.append((f"{HIDDEN_PREFIX}global_{index}", 3, index))
    if layout.has_memory and layout.memory_export is None:
        extra.append((f"{HIDDEN_PREFIX}memory", 2, 0))
    if not extra:
        return wasm
    encoded = b"".join(
        _leb(len(n.encode())) + n.encode() + bytes([k]) + _leb(i) for n, k, i in extra
    )
    sections = _sections(wasm)
    out = bytearray(wasm[:8])
    inserted = False
    for sid, header_start, start, end in sections:
        if sid == _SECTION_EXPORT:
            r = _Reader(wasm, start, end)
            count = r.u32()
            body = _leb(count + len(extra)) + wasm[r.pos : end] + encoded
            out += bytes([sid]) + _leb(len(body)) + body
            inserted = True
            continue
        if not inserted and sid in _AFTER_EXPORT:
            body = _leb(len(extra)) + encoded
            out += bytes([_SECTION_EXPORT]) + _leb(len(body)) + body
            inserted = True
        out += wasm[header_start:end]
    if not inserted:
        body = _leb(len(extra)) + encoded
        out += bytes([_SECTION_EXPORT]) + _leb(len(body)) + body
    return bytes(out)
