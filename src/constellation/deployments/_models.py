"""What the manager hands out: immutable snapshots, safe to print and to serialise.

Environment values are secrets: a :class:`Deployment` only ever carries them masked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["INSTANCE_STATUSES", "Cluster", "Deployment", "InstanceInfo"]

# starting: alive, younger than the start grace; running: alive and past it;
# backoff: exited, waiting to be restarted; stopped: exited and not restarted (exit 0 under
# "on-failure"/"never"); failed: exited with an error and not restarted ("never").
INSTANCE_STATUSES = ("starting", "running", "backoff", "stopped", "failed")


@dataclasses.dataclass(frozen=True)
class Deployment:
    """A deployment's spec (``env`` masked) and a count of its live instances."""

    name: str
    script: str
    instances: int
    args: tuple[str, ...]
    env: dict[str, str]  # names -> "****"
    cluster: str | None
    gpu: str | None
    gpu_memory: int | None
    restart_policy: str
    working_dir: str
    created_at: float
    updated_at: float
    running: int  # instances alive now (starting or running)
    resources: dict[str, Any] = dataclasses.field(default_factory=dict)  # for the Ray backend
    # the predictive scaling spec (metric, bounds, cooldowns), or None: a fixed count
    autoscale: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["args"] = list(self.args)
        return data


@dataclasses.dataclass(frozen=True)
class InstanceInfo:
    """One instance (a process) of a deployment, as seen at the time of the call."""

    id: str
    deployment: str
    index: int
    status: str  # one of INSTANCE_STATUSES
    pid: int | None  # None unless alive
    started_at: float | None  # clock time of the current (or last) start
    uptime_s: float  # 0.0 unless alive
    restarts: int
    last_exit_code: int | None  # negative: killed by that signal
    last_error: str | None
    next_restart_in_s: float | None  # only in "backoff"
    log_path: str
    node: str | None = None  # where it runs while alive: "local", or the Ray node's id

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A named group of deployments."""

    name: str
    gpu_enabled: bool
    predictive_scaling: bool
    description: str
    created_at: float
    deployments: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["deployments"] = list(self.deployments)
        return data
