"""The management API's answers as pydantic models: used only to document them.

The handlers write the platform's own ``to_dict()`` output; these models say what it
holds, and the schemathesis test checks every answer against them. Objects may grow
new fields (no ``additionalProperties: false``), so a client must ignore what it does
not know.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .. import serverless
from ._schemas import GpuRequest, Resources, ScalingPolicy

__all__ = [
    "AnomalyList",
    "DeadLetterList",
    "DecisionList",
    "Error",
    "Function",
    "FunctionList",
    "InstanceList",
    "Invocation",
    "InvocationResult",
    "LogList",
    "Queued",
    "Trigger",
    "TriggerList",
]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(Answer):
    type: str = Field(examples=["ValidationError"])
    message: str
    field: str | None = Field(None, description="the bad input's name (400 only)")
    request_id: str | None = None


class Error(Answer):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorDetail


class Trigger(Answer):
    id: str
    function_id: str
    function_name: str | None
    type: str
    spec: dict[str, Any] = Field(description="the normalised spec, every default filled in")
    created_at: float


class TriggerList(Answer):
    triggers: list[Trigger]


class Function(Answer):
    """A function as stored; ``env`` values are masked."""

    id: str
    name: str
    runtime: str
    handler: str
    memory_mb: int
    timeout_s: int
    concurrency: int
    env: dict[str, str]
    scaling_policy: ScalingPolicy
    cold_start_optimization: bool
    prewarm_instances: int
    version: int
    status: str = Field(description="'created' or 'deployed'")
    created_at: float
    updated_at: float
    deployed_at: float | None
    gas_limit: int | None
    resources: Resources
    gpu: GpuRequest | None
    network: bool
    triggers: list[Trigger]


class FunctionList(Answer):
    functions: list[Function]


# What one invocation did: the serverless package's own dataclasses are the schemas, so
# the document cannot drift from what the handlers write (their ``to_dict()``).
InvocationResult = serverless.InvocationResult


Invocation = serverless.Invocation  # an asynchronous invocation's record, likewise


class Queued(Answer):
    request_id: str
    status_url: str = Field(examples=["/api/v1/invocations/<request_id>"])


class DeadLetterList(Answer):
    dead_letters: list[dict[str, Any]]


class LogList(Answer):
    logs: list[Any]


class InstanceList(Answer):
    instances: list[dict[str, Any]]


class DecisionList(Answer):
    decisions: list[dict[str, Any]] = Field(description="oldest first, with their inputs")


class AnomalyList(Answer):
    anomalies: list[dict[str, Any]]


class FunctionMetrics(Answer):
    success_rate: float


Object = dict[str, Any]  # stats, billing, a resolved anomaly: documented by their keys' names
