"""Snapshots: linear memory, mutable globals and gas state of an instance.

Memory is stored as the 4 KiB pages that differ from the module's initial image (its
active data segments laid over zeroed memory), so a module that touched 1 MiB of a 64 MiB
memory keeps 1 MiB. Restoring writes only the pages that differ from the snapshot's state.
Memory cannot shrink: restoring a snapshot smaller than the instance's current memory is
refused; create a new instance ``from_snapshot`` instead. Tables and imported state are not
captured (see docs/wasm.md).

On disk a snapshot is one file: ``CSTSNAP1``, an 8-byte header length, a JSON header, then
the page bytes in the header's order.
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._errors import WasmStateError, WasmValidationError
from ._module import WasmModule

__all__ = [
    "PAGE",
    "Snapshot",
    "baked_module",
    "capture",
    "initial_image",
    "restore",
    "start_from",
]

PAGE = 4096
_MAGIC = b"CSTSNAP1"
_WORDS = PAGE // 8
_FLOAT_FMT = {"f32": "<f", "f64": "<d"}
_BITS_FMT = {"f32": "<I", "f64": "<Q"}


@dataclass
class Snapshot:
    """A captured state. ``page_index[k]`` is the 4 KiB page whose bytes are ``page_data[k]``."""

    name: str
    module_id: str
    memory_size: int
    page_index: np.ndarray = field(repr=False)  # int64, sorted
    page_data: np.ndarray = field(repr=False)  # uint8, shape (pages, PAGE)
    globals: dict[int, tuple[str, int | float]]
    gas_used: int
    gas_limit: int | None
    created_at: float
    # The module with this snapshot baked in (see _rewrite.bake), made on first use: (sha256, bytes).
    baked: tuple[str, bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def stored_bytes(self) -> int:
        return int(self.page_data.size)

    @property
    def pages(self) -> dict[int, bytes]:
        """The stored pages as {page number: bytes} (a copy; for inspection)."""
        return {int(p): self.page_data[k].tobytes() for k, p in enumerate(self.page_index)}

    def save(self, path: str | os.PathLike[str]) -> Path:
        order = [int(p) for p in self.page_index]
        header = {
            "name": self.name,
            "module_id": self.module_id,
            "memory_size": self.memory_size,
            "page_size": PAGE,
            "pages": order,
            "globals": {str(i): [t, _encode(t, v)] for i, (t, v) in self.globals.items()},
            "gas_used": self.gas_used,
            "gas_limit": self.gas_limit,
            "created_at": self.created_at,
        }
        raw = json.dumps(header).encode()
        out = Path(path)
        if not out.parent.is_dir():
            raise WasmValidationError("path", f"{str(out.parent)!r} is not a directory")
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(_MAGIC + struct.pack("<Q", len(raw)) + raw)
            f.write(np.ascontiguousarray(self.page_data).tobytes())
        os.replace(tmp, out)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Snapshot:
        data = Path(path).read_bytes() if Path(path).is_file() else None
        if data is None or data[:8] != _MAGIC:
            raise WasmValidationError("path", f"{str(path)!r} is not a snapshot file")
        (size,) = struct.unpack("<Q", data[8:16])
        try:
            h = json.loads(data[16 : 16 + size])
            order = h["pages"]
            body = memoryview(data)[16 + size :]
            if h["page_size"] != PAGE or len(body) != len(order) * PAGE:
                raise ValueError("page data does not match the header")
            index = np.array(order, dtype=np.int64)
            pages = np.frombuffer(body, dtype=np.uint8).reshape(len(order), PAGE).copy()
            glob = {int(i): (t, _decode(t, v)) for i, (t, v) in h["globals"].items()}
            return cls(h["name"], h["module_id"], h["memory_size"], index, pages, glob,
                       h["gas_used"], h["gas_limit"], h["created_at"])  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise WasmValidationError("path", f"{path}: corrupt snapshot ({exc})") from None


def _encode(vtype: str, value: int | float) -> int | float:
    if vtype in _FLOAT_FMT:  # bit pattern: exact, NaN and -0.0 included
        return int(struct.unpack(_BITS_FMT[vtype], struct.pack(_FLOAT_FMT[vtype], value))[0])
    return value


def _decode(vtype: str, value: int | float) -> int | float:
    if vtype in _FLOAT_FMT:
        return float(struct.unpack(_FLOAT_FMT[vtype], struct.pack(_BITS_FMT[vtype], value))[0])
    return value


_IMAGES: dict[str, np.ndarray] = {}


def initial_image(module: WasmModule) -> np.ndarray:
    """The module's memory as instantiation leaves it (data segments), as uint8, cached."""
    image = _IMAGES.get(module.id)
    if image is None:
        lay = module.layout
        size = lay.initial_pages * 65536
        image = np.zeros(size, dtype=np.uint8)
        if lay.data_exact:
            for offset, payload in lay.data:
                end = min(offset + len(payload), size)
                if offset < end:
                    image[offset:end] = np.frombuffer(payload, dtype=np.uint8)[: end - offset]
        image.setflags(write=False)
        _IMAGES[module.id] = image
    return image


def _differing_pages(memory: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Indices of the 4 KiB pages where ``memory`` differs from ``base`` (zero beyond it)."""
    pages = memory.view(np.uint64).reshape(-1, _WORDS)
    n = min(len(base) // PAGE, len(pages))
    head = np.any(pages[:n] != base[: n * PAGE].view(np.uint64).reshape(-1, _WORDS), axis=1)
    tail = np.any(pages[n:] != 0, axis=1)
    return np.flatnonzero(np.concatenate([head, tail]))


def capture(instance: object, name: str, now: float | None = None) -> Snapshot:
    from ._instance import WasmtimeInstance

    if not isinstance(instance, WasmtimeInstance):
        raise WasmStateError(f"snapshots need a wasmtime instance, not {instance!r}")
    module = instance.module
    if module.layout.memory_imported:
        raise WasmStateError("the module imports its memory: its state is not its own to capture")
    index = np.zeros(0, dtype=np.int64)
    data = np.zeros((0, PAGE), dtype=np.uint8)
    size = instance.memory_size
    if size:
        if size % PAGE:
            raise WasmStateError(f"memory size {size} is not a multiple of {PAGE}")
        mem = instance.memory_array().reshape(-1, PAGE)
        index = _differing_pages(instance.memory_array(), initial_image(module)).astype(np.int64)
        data = mem[index]  # fancy indexing copies
    used, limit = instance.gas_state()
    return Snapshot(name, module.id, size, index, data, instance.global_values(), used, limit,
                    time.time() if now is None else now)  # fmt: skip


def baked_module(snap: Snapshot, module: WasmModule) -> tuple[str, bytes]:
    """The module with ``snap`` baked in (cached on the snapshot)."""
    if snap.baked is None:
        import hashlib

        from ._rewrite import bake

        wasm = bake(module.wasm, snap.memory_size, snap.page_index, snap.page_data)
        snap.baked = (hashlib.sha256(wasm).hexdigest(), wasm)
    return snap.baked


def start_from(instance: object, snap: Snapshot) -> None:
    """Finish an instance made from the baked module: globals, gas, flags."""
    from ._instance import WasmtimeInstance

    assert isinstance(instance, WasmtimeInstance)
    instance.set_global_values(snap.globals)
    instance.set_gas_state(snap.gas_used, snap.gas_limit)
    instance.clear_trap()


def restore(instance: object, snap: Snapshot) -> None:
    """Put ``snap``'s state into ``instance`` (same module; memory may only grow)."""
    from ._instance import WasmtimeInstance

    if not isinstance(instance, WasmtimeInstance):
        raise WasmStateError(f"snapshots need a wasmtime instance, not {instance!r}")
    if instance.module.id != snap.module_id:
        raise WasmStateError(
            f"snapshot {snap.name!r} is of module {snap.module_id[:12]}, "
            f"the instance runs {instance.module.id[:12]}"
        )
    current = instance.memory_size
    if current > snap.memory_size:
        raise WasmStateError(
            f"instance memory is {current} bytes, snapshot {snap.name!r} has {snap.memory_size}: "
            "memory cannot shrink; create a new instance with from_snapshot instead"
        )
    if current < snap.memory_size:
        instance.grow_memory_to(snap.memory_size)
        if instance.memory_size != snap.memory_size:
            raise WasmStateError(f"cannot grow memory to {snap.memory_size} bytes (max_memory?)")
    if snap.memory_size:
        mem = instance.memory_array()
        base = initial_image(instance.module)
        lay = instance.module.layout
        if not (instance.pristine and lay.data_exact and not lay.has_start):
            # Pages changed since instantiation and not in the snapshot go back to the image.
            stale = np.setdiff1d(_differing_pages(mem, base), snap.page_index)
            rows = mem.reshape(-1, PAGE)
            in_base = stale[stale < len(base) // PAGE]
            rows[in_base] = base.reshape(-1, PAGE)[in_base]
            rows[stale[stale >= len(base) // PAGE]] = 0
        # (A pristine instance of a module without a start function holds the image already.)
        mem.reshape(-1, PAGE)[snap.page_index] = snap.page_data
    instance.set_global_values(snap.globals)
    instance.set_gas_state(snap.gas_used, snap.gas_limit)
    instance.clear_trap()
