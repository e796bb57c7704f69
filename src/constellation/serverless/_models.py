"""The serverless package's value objects: functions, policies, results, metrics, bills."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._resources import Resources
from ..backends import FunctionSpec
from ..errors import ValidationError

__all__ = [
    "Billing",
    "FunctionInfo",
    "FunctionInstance",
    "FunctionMetrics",
    "Invocation",
    "InvocationResult",
    "Resources",
    "ScalingPolicy",
    "ServerlessStats",
    "mask_env",
]

MASK = "****"


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment values are secrets: every listing shows them masked."""
    return {key: MASK for key in env}


@dataclass(frozen=True)
class ScalingPolicy:
    """How many instances a function may have, and when idle ones go away."""

    min_instances: int = 0
    max_instances: int = 100
    target_concurrency: float = 100.0  # utilisation target, percent of one instance's capacity
    enable_predictive_scaling: bool = False
    idle_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("min_instances", "max_instances"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10000:
                raise ValidationError(
                    f"scaling_policy.{name}", f"{value!r} must be an integer 0-10000"
                )
        if self.max_instances < 1:
            raise ValidationError("scaling_policy.max_instances", "must be at least 1")
        if self.min_instances > self.max_instances:
            raise ValidationError(
                "scaling_policy.min_instances",
                f"{self.min_instances} is above max_instances ({self.max_instances})",
            )
        tc = self.target_concurrency
        if isinstance(tc, bool) or not isinstance(tc, int | float) or not 0 < tc <= 100:
            raise ValidationError(
                "scaling_policy.target_concurrency",
                f"{tc!r} must be a utilisation target in percent, in (0, 100]",
            )
        if not isinstance(self.enable_predictive_scaling, bool):
            raise ValidationError(
                "scaling_policy.enable_predictive_scaling", "must be true or false"
            )
        idle = self.idle_timeout_s
        if isinstance(idle, bool) or not isinstance(idle, int | float) or idle < 0:
            raise ValidationError(
                "scaling_policy.idle_timeout_s", f"{idle!r} must be a number of seconds >= 0"
            )

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any] | None, base: ScalingPolicy | None = None
    ) -> ScalingPolicy:
        if data is None:
            return base or cls()
        if not isinstance(data, Mapping):
            raise ValidationError(
                "scaling_policy", f"expected a mapping, got {type(data).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                "scaling_policy",
                f"unknown option {unknown[0]!r}; allowed: {', '.join(sorted(known))}",
            )
        return dataclasses.replace(base or cls(), **dict(data))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FunctionInfo:
    """A registered function, as stored. ``env`` values are masked in its repr and dict."""

    id: str
    name: str
    runtime: str
    handler: str
    source: str
    code_hash: str
    entry: str  # "module:attribute" to import in the worker
    memory_mb: int
    timeout_s: int
    concurrency: int
    env: dict[str, str] = field(repr=False)
    scaling_policy: ScalingPolicy
    cold_start_optimization: bool
    prewarm_instances: int
    version: int
    status: str  # "created" | "deployed"
    created_at: float
    updated_at: float
    deployed_at: float | None = None
    gas_limit: int | None = None  # WASM functions: a gas budget per invocation
    resources: Resources = field(default_factory=Resources)
    gpu: dict[str, Any] | None = None  # a GPU request (constellation.gpu), per instance
    network: bool = True  # False: its sandbox has no network (docs/security.md)

    def __repr__(self) -> str:
        return (
            f"FunctionInfo(id={self.id!r}, name={self.name!r}, runtime={self.runtime!r}, "
            f"handler={self.handler!r}, memory_mb={self.memory_mb}, timeout_s={self.timeout_s}, "
            f"concurrency={self.concurrency}, env={mask_env(self.env)!r}, version={self.version}, "
            f"status={self.status!r}, resources={self.resources!r})"
        )

    def launch_spec(self) -> FunctionSpec:
        """What a backend needs to start this function's instances."""
        return FunctionSpec(
            id=self.id,
            name=self.name,
            runtime=self.runtime,
            entry=self.entry,
            code_hash=self.code_hash,
            version=self.version,
            memory_mb=self.memory_mb,
            timeout_s=self.timeout_s,
            env=self.env,
            gpu=self.gpu,
            gas_limit=self.gas_limit,
            cold_start_optimization=self.cold_start_optimization,
            resources=self.resources,
            network=self.network,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["env"] = mask_env(self.env)
        data["scaling_policy"] = self.scaling_policy.to_dict()
        data["resources"] = self.resources.to_dict()
        return data


@dataclass(slots=True)
class InvocationResult:
    """What one invocation did. ``status`` is one of: success, error, timeout,
    memory_limit, crashed, throttled."""

    request_id: str
    function_id: str
    function_name: str
    status: str
    output: Any
    error: str | None
    error_type: str | None
    duration_ms: float
    billed_duration_ms: int
    memory_used_mb: float
    memory_limit_mb: int
    cold_start: bool
    init_duration_ms: float
    started_at: float
    instance_id: str | None = None
    logs: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class Invocation:
    """An asynchronous invocation's record: queued, running, succeeded, failed or dead."""

    request_id: str
    function_id: str
    function_name: str
    state: str
    attempts: int
    max_attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float | None
    result: InvocationResult | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["result"] = self.result.to_dict() if self.result else None
        return data


@dataclass(frozen=True)
class FunctionInstance:
    """A worker instance of a function, for listings."""

    id: str
    function_id: str
    function_name: str
    status: str  # "idle" | "busy"
    pid: int
    started_at: float
    uptime_s: float
    invocations: int
    version: int
    node: str = "local"  # where it runs: "local", or the Ray node's id

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FunctionMetrics:
    function_id: str
    function_name: str
    total_invocations: int
    successful_invocations: int
    failed_invocations: int
    timeouts: int
    throttles: int
    average_duration_ms: float
    p50_duration_ms: float
    p95_duration_ms: float
    p99_duration_ms: float
    cold_starts: int
    average_cold_start_ms: float
    instances: int
    idle_instances: int
    busy_instances: int

    @property
    def success_rate(self) -> float:
        return (
            self.successful_invocations / self.total_invocations if self.total_invocations else 0.0
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Billing:
    function_id: str
    function_name: str
    start: float
    end: float
    invocation_count: int
    compute_time_ms: int
    memory_gb_seconds: float
    request_cost_usd: float
    compute_cost_usd: float
    estimated_cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ServerlessStats:
    running: bool
    functions: int
    deployed_functions: int
    total_invocations: int
    successful_invocations: int
    failed_invocations: int
    instances: int
    idle_instances: int
    busy_instances: int
    async_queued: int
    dead_letters: int
    compute_time_ms: int
    estimated_cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
