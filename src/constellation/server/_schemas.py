"""The management API's request bodies and query strings as pydantic models.

They state the shapes, types and ranges that the platform enforces, with the limits
imported from where the platform keeps them, so that ``/openapi.json`` (made from these
models) says what the code requires. The service's own checks stay the source of truth
for what a schema cannot say (a cron expression, a zip's contents, min <= max).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from ..gpu import limits as gpu_limits
from ..serverless import limits as check
from ._trigger_specs import Strict, TriggerSpec, absent_or_null, optional

__all__ = [
    "BillingQuery",
    "FunctionChanges",
    "InvokeQuery",
    "LimitQuery",
    "NewFunction",
]

NAME_PATTERN = check.NAME_PATTERN
ENV_NAME = Annotated[str, StringConstraints(pattern=check.ENV_NAME_PATTERN)]
# base64 as base64.b64decode(validate=True) takes it: the alphabet, padded to whole quads.
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class ScalingPolicy(Strict):
    """How many instances a function may have; ``min_instances`` <= ``max_instances``."""

    min_instances: int = Field(0, ge=0, le=10000)
    max_instances: int = Field(100, ge=1, le=10000)
    target_concurrency: float = Field(
        100.0, gt=0, le=100, description="utilisation target, percent of one instance"
    )
    enable_predictive_scaling: bool = False
    idle_timeout_s: float = Field(300.0, ge=0)


class Resources(Strict):
    """What each instance asks a Ray cluster for (the local backend does not use it).
    ``num_gpus`` above 1 must be a whole number; custom names may not be CPU, GPU,
    memory or object_store_memory."""

    num_cpus: float | None = Field(
        None, ge=0, le=1024, description="null: memory_mb / 1769 (Lambda's ratio)"
    )
    num_gpus: float = Field(0.0, ge=0, le=64)
    custom: dict[Annotated[str, StringConstraints(min_length=1)], Annotated[float, Field(gt=0)]] = (
        Field(default_factory=dict)
    )


def _given(field: str) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def _is(field: str, *values: Any) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"enum": list(values)}}}


def _implies(condition: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"not": condition}, then]}


_NVIDIA = [
    None,
    *(alias for alias, vendor in gpu_limits.VENDOR_ALIASES.items() if vendor == "nvidia"),
]
# GpuRequest's rules between fields, as JSON Schema (the request itself checks them).
_GPU_RULES = [
    _implies(
        _is("exclusive", True),
        {
            "allOf": [
                {"properties": {"sharing": {"enum": [None, "exclusive"]}}},
                absent_or_null("compute_share"),
            ]
        },
    ),
    _implies(_given("compute_share"), {"properties": {"sharing": {"enum": [None, "mps"]}}}),
    _implies(
        {"anyOf": [_is("sharing", "shared", "mps"), _given("compute_share")]},
        {"anyOf": [_given("memory_mb"), _given("mig_profile")]},
    ),
    _implies(
        _given("mig_profile"),
        {
            "allOf": [
                {
                    "properties": {
                        "gpu_count": {"const": 1},
                        "vendor": {"enum": _NVIDIA},
                        "sharing": {"enum": [None, "exclusive", "shared"]},
                    }
                },
                absent_or_null("compute_share"),
            ]
        },
    ),
]


def _gpu_rules(schema: dict[str, Any]) -> None:
    schema["allOf"] = _GPU_RULES


class GpuRequest(Strict):
    """A GPU request per instance (see constellation.gpu). Packed sharing ('shared',
    'mps', or a compute_share) needs memory_mb; exclusive excludes the others;
    a MIG slice is one NVIDIA GPU, not shared by MPS."""

    model_config = ConfigDict(json_schema_extra=_gpu_rules)

    gpu_count: int = Field(1, ge=1, le=1024)
    memory_mb: int | None = Field(None, ge=1, le=10_000_000)
    exclusive: bool = False
    min_compute_capability: float | None = Field(None, gt=0, lt=100)
    vendor: Literal[tuple(gpu_limits.VENDOR_ALIASES)] | None = None  # type: ignore[valid-type]
    compute_share: int | None = Field(None, ge=1, le=100)
    mig_profile: Literal[gpu_limits.MIG_PROFILE_NAMES] | None = None  # type: ignore[valid-type]
    sharing: Literal[gpu_limits.SHARING_MODES] | None = None  # type: ignore[valid-type]
    replicas: int = Field(4, ge=2, le=64)
    cluster: str | None = Field(
        None, min_length=1, description="a cluster whose reserved GPUs it takes first"
    )
    scheduling_policy: Literal[gpu_limits.PLACEMENTS] | None = Field(  # type: ignore[valid-type]
        None, description="null: the cluster's or the platform's placement"
    )


_SETTING = "default: the platform's setting"


class NewFunction(Strict):
    """A function to create: its code as source text (``code``) or a base64 zip
    (``code_zip``), exactly one of them."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["code"]}, {"required": ["code_zip"]}]}
    )

    name: str = Field(pattern=NAME_PATTERN, examples=["hello"])
    runtime: Literal[check.RUNTIMES] = "python"  # type: ignore[valid-type]
    handler: str = Field("handler", min_length=1, description="'function' or 'module.function'")
    code: str = optional(description="Python source text")
    code_zip: str = optional(pattern=BASE64, description="a base64-encoded zip")
    memory_mb: int = optional(
        ge=check.MEMORY_RANGE[0], le=check.MEMORY_RANGE[1], description=_SETTING
    )
    timeout_s: int = optional(
        ge=check.TIMEOUT_RANGE[0], le=check.TIMEOUT_RANGE[1], description=_SETTING
    )
    concurrency: int = optional(
        ge=check.CONCURRENCY_RANGE[0], le=check.CONCURRENCY_RANGE[1], description=_SETTING
    )
    env: dict[ENV_NAME, str] = Field(default_factory=dict)
    triggers: list[TriggerSpec] = Field(default_factory=list)
    scaling_policy: ScalingPolicy = optional(description="idle_timeout_s: " + _SETTING)
    cold_start_optimization: bool = False
    deploy: bool = False
    resources: Resources = optional()
    gpu: GpuRequest | None = Field(None, description="null: no GPU")
    network: bool = Field(True, description="false: its sandbox has no network")


class FunctionChanges(Strict):
    """Settings to change; what is left out stays as it is."""

    memory_mb: int = optional(ge=check.MEMORY_RANGE[0], le=check.MEMORY_RANGE[1])
    timeout_s: int = optional(ge=check.TIMEOUT_RANGE[0], le=check.TIMEOUT_RANGE[1])
    concurrency: int = optional(ge=check.CONCURRENCY_RANGE[0], le=check.CONCURRENCY_RANGE[1])
    env: dict[ENV_NAME, str | None] = optional(
        description="merged into the current variables; null unsets a variable that is set"
    )
    scaling_policy: ScalingPolicy = optional(description="merged into the current policy")
    cold_start_optimization: bool = optional()
    prewarm_instances: int = optional(ge=0, le=10000)
    resources: Resources = optional(description="merged into the current resources")
    gpu: GpuRequest | None = Field(None, description="null: no GPU")
    network: bool = optional(description="false: its sandbox has no network")


_ASCII_INTEGER = re.compile(r"-?[0-9]+")


class Query(BaseModel):
    """Query strings are text: numbers and booleans are parsed from it."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _ascii_integers(cls, value: Any, info: ValidationInfo) -> Any:
        """An integer is ASCII digits in full: not '²', '٣' or '1\\n' (which int() or
        pydantic's lax mode would take or choke on)."""
        field = cls.model_fields[info.field_name or ""]
        wants_int = field.annotation in (int, int | None)
        if wants_int and isinstance(value, str) and not _ASCII_INTEGER.fullmatch(value):
            raise ValueError("input should be an integer written with the ASCII digits 0-9")
        return value


class InvokeQuery(Query):
    async_: bool = Field(False, alias="async", description="queue it; answer 202")
    timeout_ms: int | None = Field(None, ge=1, le=check.TIMEOUT_RANGE[1] * 1000)


class BillingQuery(Query):
    start: float | None = Field(None, description="unix seconds")
    end: float | None = Field(None, description="unix seconds")


class LimitQuery(Query):
    limit: int = Field(20, ge=1, le=1000)


class ScalingQuery(Query):
    limit: int = Field(50, ge=1, le=1000)


class FunctionQuery(Query):
    function: str | None = Field(None, description="only this function's")


class AllQuery(Query):
    all: bool = Field(False, description="the history too, newest first")
