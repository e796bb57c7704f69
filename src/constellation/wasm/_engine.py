"""Wasmtime engines, the on-disk cache of precompiled modules, and the timeout watchdog.

One :class:`EngineHandle` per distinct :class:`EngineSettings`. Modules compiled for an
engine are cached on disk as ``<cache_dir>/<sha256>-<settings key>.cwasm`` (the key covers
the wasmtime version and every setting that changes generated code) and loaded back with
``Module.deserialize_file``, which maps the file instead of compiling again.

Gas and timeouts are compiled into the module (:mod:`._metering`) when ``metering`` or
``interruptible`` is on, instead of wasmtime's fuel and epoch interruption, which cost
30-60 % on tight loops; the engine's :class:`Watchdog` stops calls past their timeout.
Every module also gets :mod:`._peephole`'s strength reduction (multiplies by 3, 5, 9).

The Config is wasmtime's default apart from the optimisation level and the stack: linear
memory is reserved whole (4 GiB plus guard pages on 64-bit hosts), so Cranelift elides
bounds checks on every access; the memory cap (``max_memory``) is the store's limiter,
not a smaller reservation, which would turn explicit bounds checks on. Fuel, epoch
interruption and NaN canonicalisation stay off (the compiled-in counter replaces the
first two).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import wasmtime

from ._binary import FormatError
from ._errors import InvalidModuleError, WasmValidationError
from ._metering import METER_VERSION, meter_module
from ._peephole import reduce_module
from ._watchdog import Watchdog

__all__ = ["EngineHandle", "EngineSettings", "wasmtime_version"]

_OPT_LEVELS = ("none", "speed", "speed_and_size")


@functools.lru_cache(maxsize=1)
def wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


@dataclass(frozen=True)
class EngineSettings:
    """Settings that change generated code; instances of one engine share compiled code.

    ``metering`` turns gas on (gas limits and ``get_gas_used``); without it, gas calls
    are refused. ``interruptible`` turns timeouts on (``timeout_ms``). Either compiles the
    gas counter into the module (one subtract and branch per loop iteration); code that
    only needs speed may turn both off. Memory isolation is the same in every combination.
    """

    metering: bool = True
    interruptible: bool = True
    opt_level: str = "speed"
    max_wasm_stack: int = 512 * 1024

    def __post_init__(self) -> None:
        for name in ("metering", "interruptible"):
            if not isinstance(getattr(self, name), bool):
                raise WasmValidationError(name, f"{getattr(self, name)!r} is not a bool")
        if self.opt_level not in _OPT_LEVELS:
            raise WasmValidationError.choice("opt_level", self.opt_level, _OPT_LEVELS)
        if isinstance(self.max_wasm_stack, bool) or not isinstance(self.max_wasm_stack, int):
            raise WasmValidationError("max_wasm_stack", "expected an integer number of bytes")
        if not 64 * 1024 <= self.max_wasm_stack <= 64 * 1024 * 1024:
            raise WasmValidationError.range(
                "max_wasm_stack", self.max_wasm_stack, 64 * 1024, 64 * 1024 * 1024, "bytes"
            )

    @functools.cached_property
    def _key(self) -> str:
        text = repr(sorted(asdict(self).items())) + wasmtime_version() + METER_VERSION
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def key(self) -> str:
        """Hash of the settings and the wasmtime version: part of every cache file name."""
        return self._key


class EngineHandle:
    """A wasmtime Engine for one set of settings, with its compile cache and ticker."""

    def __init__(self, settings: EngineSettings, cache_dir: Path | None) -> None:
        config = wasmtime.Config()
        config.cranelift_opt_level = settings.opt_level
        config.max_wasm_stack = settings.max_wasm_stack
        self.settings = settings
        self.engine = wasmtime.Engine(config)
        self.cache_dir = cache_dir
        self.instrumented = settings.metering or settings.interruptible
        self.watchdog = Watchdog()
        # One linker per engine: WASI imports resolve against each store's own WASI context.
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()
        self._compiled: dict[str, wasmtime.Module] = {}
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.compiles = 0

    def cache_path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{digest}-{self.settings.key()}.cwasm"

    def has_precompiled(self, digest: str) -> bool:
        path = self.cache_path(digest)
        return digest in self._compiled or (path is not None and path.is_file())

    def module(self, digest: str, wasm: bytes, *, aot_only: bool = False) -> wasmtime.Module:
        """The compiled module: from memory, else from the disk cache, else compiled now.

        With ``aot_only`` it never compiles; the caller checks :meth:`has_precompiled`.
        """
        with self._lock:
            cached = self._compiled.get(digest)
            if cached is not None:
                return cached
            path = self.cache_path(digest)
            module = None
            if path is not None and path.is_file():
                try:
                    module = wasmtime.Module.deserialize_file(self.engine, str(path))
                    self.cache_hits += 1
                except wasmtime.WasmtimeError:
                    module = None  # stale or foreign artefact: compile again below
            if module is None:
                if aot_only:
                    raise LookupError(digest)
                module = self._compile(wasm)
                self.compiles += 1
                if path is not None:
                    try:
                        _write_atomic(path, bytes(module.serialize()))
                    except OSError:
                        pass  # a read-only or full cache costs a recompile later, nothing else
            self._compiled[digest] = module
            return module

    def _compile(self, wasm: bytes) -> wasmtime.Module:
        prepared = self._prepare(wasm)
        try:
            return wasmtime.Module(self.engine, prepared)
        except wasmtime.WasmtimeError:
            if self.instrumented or prepared is wasm:
                raise
            return wasmtime.Module(self.engine, wasm)  # never worse than the original

    def _prepare(self, wasm: bytes) -> bytes:
        if not self.instrumented:
            return reduce_module(wasm)  # the same strength reduction the meter makes
        try:
            return meter_module(wasm)
        except FormatError as exc:
            raise InvalidModuleError(
                "module",
                f"cannot be metered ({exc}); create its instances with metering=False and "
                "interruptible=False",
            ) from None

    def forget(self, digest: str) -> None:
        with self._lock:
            self._compiled.pop(digest, None)

    def close(self) -> None:
        self.watchdog.close()
        with self._lock:
            self._compiled.clear()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
