"""Which runtimes exist, which this machine can run, and the errors for the others."""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

from ._errors import RuntimeUnavailableError, WasmValidationError

__all__ = ["RUNTIMES", "RuntimeInfo", "check_runtime", "get_runtimes"]

RUNTIMES = ("wasmtime", "native", "wasm3", "wasmer")

# Re-checked 2026-12-04 (pip index versions wasmer; pip download wasmer): 1.1.0 (January
# 2022) is still the latest release, and its only wheel for CPython 3.11+ is the
# py3-none-any fallback whose __init__ raises ImportError("Wasmer is not available on this
# system"); native wheels stop at CPython 3.10.
WASMER_REASON = (
    "the 'wasmer' Python package has no wheel for Python >= 3.11 (its latest release, "
    "1.1.0 of 2022, installs a stub that raises ImportError; re-checked 2026-12-04); use "
    "runtime='wasmtime' (JIT + cached AOT), 'native' (precompiled code only) or 'wasm3' "
    "(interpreter)"
)


@dataclass(frozen=True)
class RuntimeInfo:
    name: str
    available: bool
    description: str
    reason: str = ""  # why it is not available
    version: str = ""

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def get_runtimes() -> list[RuntimeInfo]:
    """Every runtime name, with whether it is available here and why not."""
    return list(_runtimes())


@functools.lru_cache(maxsize=1)  # installed packages do not change under a running process
def _runtimes() -> tuple[RuntimeInfo, ...]:
    has_wasmtime = importlib.util.find_spec("wasmtime") is not None
    has_wasm3 = importlib.util.find_spec("wasm3") is not None
    wt_version = _version("wasmtime")
    missing = "the 'wasmtime' package is not installed (pip install wasmtime)"
    return (
        RuntimeInfo(
            "wasmtime",
            has_wasmtime,
            "Cranelift JIT; modules compiled once and cached on disk; gas, limits, "
            "timeouts, WASI, snapshots",
            "" if has_wasmtime else missing,
            wt_version,
        ),
        RuntimeInfo(
            "native",
            has_wasmtime,
            "ahead-of-time only: runs precompiled native code from the cache, never compiles",
            "" if has_wasmtime else missing,
            wt_version,
        ),
        RuntimeInfo(
            "wasm3",
            has_wasm3,
            "interpreter (pywasm3): gas through its own counter, memory limit at creation; "
            "no WASI, no timeouts, no snapshots",
            "" if has_wasm3 else "the 'pywasm3' package is not installed (pip install pywasm3)",
            _version("pywasm3"),
        ),
        RuntimeInfo("wasmer", False, "not supported", WASMER_REASON),
    )


def check_runtime(name: object) -> str:
    """Return ``name`` if it can run here; else a clear error."""
    if name not in RUNTIMES:
        raise WasmValidationError.choice("runtime", name, RUNTIMES)
    for info in _runtimes():
        if info.name == name and not info.available:
            raise RuntimeUnavailableError(f"runtime {name!r} is not available: {info.reason}")
    return str(name)
