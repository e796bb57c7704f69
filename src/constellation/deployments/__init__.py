"""Deployments: long-running Python scripts run as supervised, scalable sets of processes.

The core of the seed's ``constellation.deploy`` / ``scale_up`` / ``restart_instance`` /
``create_cluster``. Contract:

* ``DeploymentManager(store, settings, *, clock=time.time, supervise=True, ...,
  telemetry=None, gpu_env=None, on_instance_start=None)`` owns every instance process it
  starts (the platform makes one: ``Constellation.deployments``).
  ``deploy(name, spec, **options)`` runs ``spec["script"]`` (a ``.py`` file) as
  ``instances`` OS processes of ``sys.executable``, each with the platform's environment
  plus ``env`` (secrets: shown only as ``"****"``), ``CONSTELLATION_DEPLOYMENT``,
  ``CONSTELLATION_INSTANCE_ID``, ``CONSTELLATION_INSTANCE_INDEX`` and, with ``gpu``, the
  vendor's device variables (``CUDA_VISIBLE_DEVICES`` for ``"0"`` or ``"nvidia:0"``; the
  ``gpu_env`` hook may supply the GPU allocation's own). It returns once the processes
  are started. Re-deploying a name with a different spec replaces its instances one at
  a time; the same spec again restarts only stopped or failed ones.
* A process that exits is restarted per ``restart_policy`` (``"always"``,
  ``"on-failure"``, ``"never"``) after an exponential backoff from
  ``settings.restart_backoff_initial_s`` to ``restart_backoff_max_s``, reset after a run
  of ``stable_after_s`` (60 s). Instance ids (``"dep-<name>-<hex>"``) stay the same
  across restarts and across platform restarts; the pid changes.
* ``scale``/``scale_up``/``scale_down`` change the count (0-1024); ``restart_instance``
  stops (SIGTERM, SIGKILL after ``stop_timeout_s``) and starts one instance;
  ``restart_deployment`` replaces all of them, rolling;
  ``list_instances`` reports status, pid, uptime, restarts and the last exit.
* Deployments, instance ids and clusters persist in the platform's SQLite store;
  ``recover()`` on a new manager starts them again. ``close()`` stops every process and
  keeps the records. Instances also stop when the platform's process dies.
* Output of each instance goes to ``<home>/logs/deployments/<name>/<id>.log``, rotated
  at ``log_max_bytes`` (1 MiB) with one older file kept.
* On the Ray backend (``settings.backend == "ray"``) each instance's script runs in an
  actor on a node; supervision stays in this process.
* Predictive scaling: a deployment in a cluster created with ``predictive_scaling=True``
  may carry ``autoscale={"metric": ..., "target_per_instance": ..., "min_instances",
  "max_instances", "lead_time_s", "scale_up_cooldown_s", "scale_down_cooldown_s"}``;
  :class:`DeploymentScaler` (the platform runs one with its forecaster) sizes it by
  :func:`decide_replicas` each tick (see ``_autoscale``).
* Bad input raises :class:`DeploymentValidationError` (a
  :class:`constellation.errors.ValidationError`) naming the field; nothing changes.

Errors: see :mod:`constellation.deployments._errors` for the hierarchy. Imports: the base
layer and, for scripts on Ray, :mod:`constellation.backends.ray`'s public helpers.
"""

from ._autoscale import (
    AUTOSCALE_OPTIONS,
    AutoscaleSpec,
    DeploymentScaler,
    ReplicaContext,
    ReplicaDecision,
    decide_replicas,
    parse_autoscale,
)
from ._errors import (
    DeploymentClosedError,
    DeploymentConflictError,
    DeploymentError,
    DeploymentNotFoundError,
    DeploymentValidationError,
)
from ._manager import DeploymentManager
from ._models import INSTANCE_STATUSES, Cluster, Deployment, InstanceInfo
from ._spec import DEPLOYMENT_OPTIONS, MAX_INSTANCES, RESTART_POLICIES

__all__ = [
    "AUTOSCALE_OPTIONS",
    "DEPLOYMENT_OPTIONS",
    "INSTANCE_STATUSES",
    "MAX_INSTANCES",
    "RESTART_POLICIES",
    "AutoscaleSpec",
    "Cluster",
    "Deployment",
    "DeploymentClosedError",
    "DeploymentConflictError",
    "DeploymentError",
    "DeploymentManager",
    "DeploymentNotFoundError",
    "DeploymentScaler",
    "DeploymentValidationError",
    "InstanceInfo",
    "ReplicaContext",
    "ReplicaDecision",
    "decide_replicas",
    "parse_autoscale",
]
