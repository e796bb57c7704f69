"""Deployment and cluster specs: parsed and validated before anything changes.

A spec is accepted as a dict, as keyword arguments, or both (keywords win). Every field
is checked here with an exact message naming it and what is allowed; the manager only
sees a :class:`DeploymentSpec` or :class:`ClusterSpec` that is known to be good. Two
checks need the platform's state (does the cluster exist, is it GPU-enabled) and are
made by the manager with the same error class.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._resources import Resources
from ..errors import ValidationError
from ._errors import DeploymentValidationError

__all__ = [
    "DEPLOYMENT_OPTIONS",
    "MAX_INSTANCES",
    "RESTART_POLICIES",
    "ClusterSpec",
    "DeploymentSpec",
    "check_count",
    "check_manager_options",
    "check_name",
    "gpu_env",
    "merge_options",
    "parse_cluster",
    "parse_deployment",
]

RESTART_POLICIES = ("always", "on-failure", "never")
DEPLOYMENT_OPTIONS = (
    "script",
    "instances",
    "args",
    "env",
    "cluster",
    "gpu",
    "gpu_memory",
    "restart_policy",
    "working_dir",
    "resources",
    "autoscale",
)
CLUSTER_OPTIONS = ("name", "gpu_enabled", "predictive_scaling", "description")
MAX_INSTANCES = 1024  # a guard against a typo starting 10,000 processes
MAX_DESCRIPTION = 1000
MASK = "****"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GPU_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:,/-]{0,127}$")
# Variables a gpu option sets; env may set them only when gpu is not given.
GPU_ENV = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ZE_AFFINITY_MASK",
)
# Set by the platform for every instance; a spec may not override them.
RESERVED_ENV = (
    "CONSTELLATION_DEPLOYMENT",
    "CONSTELLATION_INSTANCE_ID",
    "CONSTELLATION_INSTANCE_INDEX",
    "CONSTELLATION_LIFELINE_FD",
)


def _invalid(field: str, message: str) -> DeploymentValidationError:
    return DeploymentValidationError(field, message)


def check_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not _DNS_LABEL.match(name):
        raise _invalid(
            field,
            f"{name!r} is not a DNS label; expected 1-63 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit",
        )
    return name


def merge_options(
    spec: Mapping[str, Any] | None, options: Mapping[str, Any], allowed: tuple[str, ...]
) -> dict[str, Any]:
    """The spec dict updated by keyword options; unknown keys are refused."""
    if spec is not None and not isinstance(spec, Mapping):
        raise _invalid("spec", f"{type(spec).__name__} is not a mapping; expected a dict")
    merged = {**(spec or {}), **options}
    for key in merged:
        if key not in allowed:
            raise _invalid(str(key), f"unknown option; allowed: {', '.join(allowed)}")
    return merged


@dataclasses.dataclass(frozen=True)
class DeploymentSpec:
    """A validated deployment spec. ``env`` holds the real values: never log this object's
    fields one by one; its ``repr`` masks them."""

    script: str
    instances: int = 1
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cluster: str | None = None
    gpu: str | None = None
    gpu_memory: int | None = None
    restart_policy: str = "always"
    working_dir: str = ""
    script_sha256: str = ""
    # What each instance asks a Ray cluster for ({} = one CPU); see constellation._resources.
    resources: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Predictive scaling in a predictive_scaling cluster (see _autoscale): the metric that
    # drives the instance count, its bounds and cooldowns; None: the count is fixed.
    autoscale: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        fields = [
            f"{f.name}={self.masked_env() if f.name == 'env' else getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
        ]
        return f"DeploymentSpec({', '.join(fields)})"

    def masked_env(self) -> dict[str, str]:
        return {key: MASK for key in self.env}

    def same_processes(self, other: DeploymentSpec) -> bool:
        """True when ``other`` runs the same processes (it may differ in instance count
        and in how that count is scaled)."""
        same = dataclasses.replace(self, instances=other.instances, autoscale=other.autoscale)
        return same == other

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["env"] = dict(self.env)
        data["args"] = list(self.args)
        data["resources"] = dict(self.resources)
        data["autoscale"] = None if self.autoscale is None else dict(self.autoscale)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeploymentSpec:
        data = json.loads(text)
        data["args"] = tuple(data["args"])
        return cls(**data)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _int(field: str, value: object, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"{value!r} is not an integer; expected {low}-{high} {unit}".rstrip())
    if not low <= value <= high:
        raise DeploymentValidationError.range(field, value, low, high, unit)
    return value


def _working_dir(value: object) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise _invalid("working_dir", f"{value!r} is not a path; expected an existing directory")
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise _invalid("working_dir", f"{str(value)!r} is not an existing directory")
    return path


def _script(value: object, base: Path | None) -> Path:
    if value is None:
        raise _invalid("script", "is required; expected the path of a .py file")
    if not isinstance(value, str | Path) or str(value) == "":
        raise _invalid("script", f"{value!r} is not a path; expected the path of a .py file")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    path = path.resolve()
    if path.suffix != ".py":
        raise _invalid("script", f"{str(value)!r} is not a .py file")
    if not path.is_file():
        raise _invalid("script", f"{str(value)!r} does not exist (looked for {path})")
    return path


def _args(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _invalid("args", f"{value!r} is not a list; expected a list of strings")
    for i, arg in enumerate(value):
        if not isinstance(arg, str):
            raise _invalid(f"args[{i}]", f"{arg!r} is not a string")
    return tuple(value)


def _env(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid("env", f"{type(value).__name__} is not a mapping; expected a dict")
    env: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not _IDENTIFIER.match(key):
            raise _invalid(
                "env",
                f"{key!r} is not a valid variable name; expected letters, digits and '_', "
                "not starting with a digit",
            )
        if key in RESERVED_ENV:
            raise _invalid(f"env.{key}", "is set by the platform for each instance")
        if not isinstance(val, str):  # the value is a secret: name its type, never itself
            raise _invalid(f"env.{key}", f"value is a {type(val).__name__}; expected a string")
        env[key] = val
    return env


def gpu_env(gpu: str) -> dict[str, str]:
    """The environment that shows an instance its GPU, from the id's form: ``nvidia:0``,
    ``amd:1``, ``intel:0`` (the GPU package's ids), else an index list or a GPU/MIG UUID
    for CUDA. The platform may supply the allocation's own environment instead."""
    vendor, _, device = gpu.partition(":")
    if device and vendor == "nvidia":
        return {"CUDA_VISIBLE_DEVICES": device, "NVIDIA_VISIBLE_DEVICES": device}
    if device and vendor == "amd":
        return {"ROCR_VISIBLE_DEVICES": device, "HIP_VISIBLE_DEVICES": "0"}
    if device and vendor == "intel":
        return {"ZE_AFFINITY_MASK": device}
    return {"CUDA_VISIBLE_DEVICES": gpu}


def _gpu(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _GPU_ID.match(value):
        return value
    raise _invalid(
        "gpu", f"{value!r} is not a GPU id; expected an index like '0' or a UUID like 'GPU-...'"
    )


def _resources(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        resources = Resources.from_mapping(value)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _invalid(exc.field, exc.message) from None
    return resources.to_dict()


def parse_deployment(spec: Mapping[str, Any] | None, options: Mapping[str, Any]) -> DeploymentSpec:
    """Validate a deployment spec (dict and/or keywords) into a :class:`DeploymentSpec`."""
    raw = merge_options(spec, options, DEPLOYMENT_OPTIONS)
    working_dir = _working_dir(raw.get("working_dir"))
    script = _script(raw.get("script"), working_dir)
    instances = _int("instances", raw.get("instances", 1), 0, MAX_INSTANCES)
    policy = raw.get("restart_policy", "always")
    if policy not in RESTART_POLICIES:
        raise DeploymentValidationError.choice("restart_policy", policy, RESTART_POLICIES)
    cluster = raw.get("cluster")
    if cluster is not None:
        check_name(cluster, "cluster")
    env = _env(raw.get("env"))
    gpu = _gpu(raw.get("gpu"))
    if gpu is not None:
        for key in GPU_ENV:
            if key in env:
                raise _invalid(f"env.{key}", "conflicts with the gpu option; give one of them")
    gpu_memory = raw.get("gpu_memory")
    if gpu_memory is not None:
        gpu_memory = _int("gpu_memory", gpu_memory, 1, 10_000_000, "MB")
        if gpu is None:
            raise _invalid("gpu_memory", "needs a gpu; set the gpu option too")
    from ._autoscale import parse_autoscale  # it uses this module's bounds

    autoscale = parse_autoscale(raw.get("autoscale"))
    if autoscale is not None and cluster is None:
        raise _invalid("autoscale", "needs a cluster created with predictive_scaling=True")
    return DeploymentSpec(
        autoscale=None if autoscale is None else autoscale.to_dict(),
        resources=_resources(raw.get("resources")),
        script=str(script),
        instances=instances,
        args=_args(raw.get("args")),
        env=env,
        cluster=cluster,
        gpu=gpu,
        gpu_memory=gpu_memory,
        restart_policy=policy,
        working_dir=str(working_dir or script.parent),
        script_sha256=_file_sha256(script),
    )


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    name: str
    gpu_enabled: bool = False
    predictive_scaling: bool = False
    description: str = ""


def parse_cluster(spec: Mapping[str, Any] | None, options: Mapping[str, Any]) -> ClusterSpec:
    raw = merge_options(spec, options, CLUSTER_OPTIONS)
    if "name" not in raw:
        raise _invalid("name", "is required; expected a DNS label like 'ml-training'")
    name = check_name(raw["name"])
    flags = {}
    for field in ("gpu_enabled", "predictive_scaling"):
        value = raw.get(field, False)
        if not isinstance(value, bool):
            raise _invalid(field, f"{value!r} is not a bool; expected True or False")
        flags[field] = value
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise _invalid("description", f"expected a string of at most {MAX_DESCRIPTION} characters")
    return ClusterSpec(name=name, description=description, **flags)


def check_count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeploymentValidationError(field, f"{value!r} is not an integer; expected >= 0")
    if not 0 <= value <= MAX_INSTANCES:
        raise DeploymentValidationError.range(field, value, 0, MAX_INSTANCES)
    return value


def check_manager_options(**options: float) -> None:
    """The manager's own tuning knobs: numbers, positive where zero makes no sense."""
    for field, value in options.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DeploymentValidationError(field, f"{value!r} is not a number")
        positive = field in ("poll_interval_s", "log_max_bytes")
        if value < 0 or (positive and value == 0):
            raise DeploymentValidationError(
                field, f"{value!r} must be {'> 0' if positive else '>= 0'}"
            )
