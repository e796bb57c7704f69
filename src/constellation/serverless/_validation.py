"""Checks for user input; each raises ValidationError naming the field and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError

__all__ = [
    "RUNTIMES",
    "check_concurrency",
    "check_env_name",
    "check_gas_limit",
    "check_memory",
    "check_name",
    "check_runtime",
    "check_timeout",
]

RUNTIMES = ("python", "wasm")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # used with fullmatch
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # used with fullmatch
MEMORY_RANGE = (128, 10240)
TIMEOUT_RANGE = (1, 900)
CONCURRENCY_RANGE = (1, 10000)
PREWARM_RANGE = (0, 10000)


def check_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not _DNS_LABEL.fullmatch(name):
        raise ValidationError(
            field,
            f"{name!r} is not a DNS label: use 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    return name


def check_runtime(runtime: Any) -> str:
    if runtime == "rads":
        raise ValidationError(
            "runtime",
            "'rads' is not supported: the RADS language is out of scope; use 'python' or 'wasm'",
        )
    if runtime not in RUNTIMES:
        raise ValidationError.choice("runtime", runtime, RUNTIMES)
    return str(runtime)


def _check_int(field: str, value: Any, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            field, f"{value!r} is not an integer; expected {low}-{high} {unit}".rstrip()
        )
    if not low <= value <= high:
        raise ValidationError.range(field, value, low, high, unit)
    return value


def check_memory(value: Any) -> int:
    return _check_int("memory_mb", value, *MEMORY_RANGE, "MB")


def check_timeout(value: Any) -> int:
    return _check_int("timeout_s", value, *TIMEOUT_RANGE, "s")


def check_concurrency(value: Any) -> int:
    return _check_int("concurrency", value, *CONCURRENCY_RANGE)


def check_prewarm(value: Any, field: str = "prewarm_instances") -> int:
    low, high = PREWARM_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, f"{value!r} must be an integer {low}-{high}")
    return value


def check_gas_limit(value: Any, runtime: str) -> int | None:
    if value is None:
        return None
    if runtime != "wasm":
        raise ValidationError("gas_limit", "applies to runtime 'wasm' only")
    return _check_int("gas_limit", value, 1, 2**63 - 1)


def check_gpu(value: Any, runtime: str) -> dict[str, Any] | None:
    """A GPU request for each instance (the fields of constellation.gpu's requests)."""
    if value is None:
        return None
    if runtime != "python":
        raise ValidationError("gpu", f"applies to runtime 'python' only, not {runtime!r}")
    if not isinstance(value, Mapping):
        raise ValidationError(
            "gpu", f"expected a request such as {{'gpu_count': 1}}, got {value!r}"
        )
    from ..gpu import GpuRequest  # the GPU package loads only for functions that ask

    try:
        request = GpuRequest.from_value(dict(value))
    except ValidationError as exc:
        raise ValidationError(f"gpu.{exc.field}", exc.message) from None
    return request.as_dict()


def check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"{value!r} must be true or false")
    return value


def check_env_name(name: Any) -> str:
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        raise ValidationError(
            "env",
            f"{name!r} is not a valid variable name: letters, digits and '_', not starting with a digit",
        )
    return name


def check_env(env: Any) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise ValidationError(
            "env", f"expected a mapping of names to strings, got {type(env).__name__}"
        )
    out: dict[str, str] = {}
    for key, value in env.items():
        check_env_name(key)
        if not isinstance(value, str):
            raise ValidationError(
                "env", f"the value of {key!r} must be a string, got {type(value).__name__}"
            )
        out[key] = value
    return out
