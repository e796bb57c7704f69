"""What a backend needs to start a function's instances: :class:`FunctionSpec`.

The serverless core keeps the whole function record (its status, scaling policy,
triggers...); a backend sees only this: the code to load and the limits to run it under.
:func:`worker_spec` turns it into the JSON message a worker process starts from, on this
machine or on a Ray node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._resources import Resources
from ..config import Settings
from ..errors import ValidationError

__all__ = ["FunctionSpec", "raise_for_check", "worker_spec"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function as a backend starts it (the fields keep the function record's names)."""

    id: str
    name: str
    runtime: str  # "python" or "wasm"
    entry: str  # "module:attr" (python) or "file.wasm:export" (wasm)
    code_hash: str  # the code store's directory, code/<hash>/
    version: int
    memory_mb: int
    timeout_s: int
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # secrets
    gpu: Mapping[str, Any] | None = None  # a GPU request, allocated per instance
    gas_limit: int | None = None  # a WASM function's gas budget per invocation
    cold_start_optimization: bool = False  # a per-function zygote
    resources: Resources = field(default_factory=Resources)
    network: bool = True  # False: the sandbox gets an empty network namespace


def worker_spec(
    settings: Settings, info: FunctionSpec, instance_id: str, check_only: bool = False
) -> dict[str, Any]:
    """What a worker process needs to load and serve the function (JSON-able)."""
    module, attr = info.entry.split(":")
    return {
        "function": info.name,
        "version": info.version,
        "memory_mb": info.memory_mb,
        # CUDA cannot start under an address-space limit (see _runtime.worker._limit_memory)
        "memory_limit": "address_space" if info.gpu is None else "data",
        "instance_id": instance_id,
        "code_root": str(settings.code_dir / info.code_hash),
        "module": module,
        "attr": attr,
        "env": dict(info.env),
        "log_bytes": settings.log_capture_bytes,
        "spin_s": settings.worker_spin_us / 1e6,
        "check_only": check_only,
    }


def raise_for_check(ready: Mapping[str, Any]) -> None:
    """ValidationError naming ``code`` or ``handler`` when a check worker could not load it."""
    if not ready.get("ready"):
        message = str(ready.get("error", "the code could not be loaded"))
        field_name, _, detail = message.partition(": ")
        if field_name in ("code", "handler") and detail:
            raise ValidationError(field_name, detail)
        raise ValidationError("code", message)
