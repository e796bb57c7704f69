"""DeploymentManager: long-running scripts as supervised, scalable sets of processes.

The manager holds the desired state (persisted) and reconciles the processes towards
it. API calls validate first, then change state under one lock and start processes at
once, so ``deploy()`` returns with live pids. Stopping a process (SIGTERM, a grace
period, SIGKILL) happens outside the lock. One supervisor thread, started lazily,
polls the processes: it restarts those that exited (per the restart policy, after an
exponential backoff), carries rolling replacements forward and rotates log files. With
``supervise=False`` there is no thread and the owner calls :meth:`poll` itself (tests
do, with a fake clock).

Two hooks connect the platform's other parts without importing them: ``gpu_env(name,
gpu_id)`` returns the variables that show an instance its GPU (the GPU allocation's
``env``), and ``on_instance_start(name, instance_id, pid)`` runs after every start. With
``telemetry``, each supervision pass records, when they change, the series
``deployment_instances_running`` and ``deployment_restarts_total`` (label ``deployment``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from constellation.config import Settings
from constellation.store import Store
from constellation.telemetry import Telemetry

from ._clusters import ClusterRegistry
from ._errors import (
    DeploymentClosedError,
    DeploymentConflictError,
    DeploymentNotFoundError,
    DeploymentValidationError,
)
from ._models import Cluster, Deployment, InstanceInfo
from ._persist import DeploymentTables
from ._runtime import DeploymentState, GpuEnvHook, Runtime, StartHook
from ._spec import (
    MAX_INSTANCES,
    DeploymentSpec,
    check_count,
    check_manager_options,
    check_name,
    parse_deployment,
)

__all__ = ["DeploymentManager"]

logger = logging.getLogger("constellation.deployments")


class DeploymentManager:
    """Deploy, scale, restart and list long-running Python scripts; group them in clusters."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        supervise: bool = True,
        poll_interval_s: float = 0.1,
        stop_timeout_s: float = 5.0,
        start_grace_s: float = 1.0,
        stable_after_s: float = 60.0,
        log_max_bytes: int = 1 << 20,
        gpu_env: GpuEnvHook | None = None,
        on_instance_start: StartHook | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        check_manager_options(
            poll_interval_s=poll_interval_s,
            stop_timeout_s=stop_timeout_s,
            start_grace_s=start_grace_s,
            stable_after_s=stable_after_s,
            log_max_bytes=log_max_bytes,
        )
        self._clock = clock
        self._supervise = supervise
        self._poll_interval_s = poll_interval_s
        self._tables = DeploymentTables(store)
        self._clusters = ClusterRegistry(self._tables, clock)
        self._rt = Runtime(
            self._tables,
            settings,
            clock,
            stop_timeout_s=stop_timeout_s,
            start_grace_s=start_grace_s,
            stable_after_s=stable_after_s,
            log_max_bytes=log_max_bytes,
            gpu_env=gpu_env,
            on_instance_start=on_instance_start,
        )
        self._ray_scripts: Any = None
        if settings.backend == "ray":  # instances run as Ray actors on the cluster's nodes
            from ._ray_scripts import RayScripts

            self._ray_scripts = RayScripts(settings)
            self._rt.start_process = self._ray_scripts.start
        self._lock = self._rt.lock
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._recovered = False
        self._telemetry = telemetry
        self._published: dict[str, tuple[int, int]] = {}
        self._load()

    # -- persistence -------------------------------------------------------------------

    def _load(self) -> None:
        """Read the persisted deployments; nothing starts until :meth:`recover`."""
        for row in self._tables.deployments():
            state = DeploymentState(
                name=row["name"],
                spec=DeploymentSpec.from_json(row["spec"]),
                generation=row["generation"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
            )
            for irow in self._tables.instances(state.name):
                inst = self._rt.make_instance(
                    state.name, irow["id"], irow["idx"], irow["generation"], irow["created_at"]
                )
                inst.restarts = irow["restarts"]
                if irow["pid"]:
                    inst.orphan = (irow["pid"], irow["pid_identity"])
                state.instances.append(inst)
                self._rt.by_id[inst.id] = inst
            self._rt.states[state.name] = state

    # -- supervision -------------------------------------------------------------------

    def poll(self) -> None:
        """One supervision pass (the supervisor thread's work; call it with supervise=False)."""
        with self._lock:
            if self._closed:
                return
            self._rt.poll()
            now = self._clock()
            counts = {
                name: (sum(i.alive for i in s.instances), sum(i.restarts for i in s.instances))
                for name, s in self._rt.states.items()
            }
        self._publish(counts, now)

    def _publish(self, counts: dict[str, tuple[int, int]], now: float) -> None:
        """Changed counts to telemetry, outside the lock: a subscriber (anomaly
        remediation) may call back into this manager."""
        if self._telemetry is None:
            return
        for name, (running, restarts) in counts.items():
            if self._published.get(name) != (running, restarts):
                self._published[name] = (running, restarts)
                labels = {"deployment": name}
                self._telemetry.record("deployment_instances_running", running, now, labels)
                self._telemetry.record("deployment_restarts_total", restarts, now, labels)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._poll_interval_s)
            self._wake.clear()
            try:
                self.poll()
            except Exception:  # the supervisor must outlive one bad pass
                logger.exception("deployment supervisor pass failed")

    def _ensure_supervisor(self) -> None:
        if self._supervise and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="constellation-deployments", daemon=True
            )
            self._thread.start()

    def _check_open(self) -> None:
        if self._closed:
            raise DeploymentClosedError("the deployment manager is closed")

    def _state(self, name: str) -> DeploymentState:
        state = self._rt.states.get(name) if isinstance(name, str) else None
        if state is None:
            raise DeploymentNotFoundError("deployment", name)
        return state

    # -- deployments -------------------------------------------------------------------

    def deploy(
        self, name: str, spec: Mapping[str, Any] | None = None, /, **options: Any
    ) -> Deployment:
        """Create or update a deployment and start its instances; returns its snapshot."""
        check_name(name)
        parsed = parse_deployment(spec, options)
        with self._lock:
            self._check_open()
            self._clusters.check(parsed)
            now = self._clock()
            state = self._rt.states.get(name)
            if state is None:
                state = DeploymentState(name, parsed, 1, now, now)
                self._rt.states[name] = state
            elif parsed == state.spec:
                # Deploying the same thing again restarts what has stopped or failed.
                for inst in state.instances:
                    if inst.state in ("stopped", "failed") and not inst.busy:
                        inst.backoff.reset()
                        self._rt.start(state, inst, now)
            else:
                if not parsed.same_processes(state.spec):
                    state.generation += 1
                state.spec = parsed
                state.updated_at = now
            self._tables.save_deployment(
                name, parsed, state.generation, state.created_at, state.updated_at
            )
            logger.info("deploy %s: %r (generation %d)", name, parsed, state.generation)
            retired = self._rt.reconcile(state, now)
            self._ensure_supervisor()
        self._rt.await_stopped(retired)
        return self.get_deployment(name)

    def scale(self, name: str, instances: int) -> Deployment:
        """Set the number of instances (0-1024); extra ones are stopped, highest index first."""
        count = check_count("instances", instances)
        return self._rescale(name, lambda _current: count)

    def scale_up(self, name: str, instances: int = 1) -> Deployment:
        """Add ``instances`` instances."""
        n = check_count("instances", instances)

        def grow(current: int) -> int:
            if current + n > MAX_INSTANCES:
                raise DeploymentValidationError(
                    "instances",
                    f"adding {n} to {current} would make {current + n}; "
                    f"at most {MAX_INSTANCES} allowed",
                )
            return current + n

        return self._rescale(name, grow)

    def scale_down(self, name: str, instances: int = 1) -> Deployment:
        """Remove ``instances`` instances (never below 0), highest index first."""
        n = check_count("instances", instances)
        return self._rescale(name, lambda current: max(0, current - n))

    def _rescale(self, name: str, new_count: Callable[[int], int]) -> Deployment:
        with self._lock:
            self._check_open()
            state = self._state(name)
            count = new_count(state.spec.instances)
            now = self._clock()
            state.spec = dataclasses.replace(state.spec, instances=count)
            state.updated_at = now
            self._tables.save_deployment(name, state.spec, state.generation, state.created_at, now)
            logger.info("scale %s to %d instances", name, count)
            retired = self._rt.reconcile(state, now)
            self._ensure_supervisor()
        self._rt.await_stopped(retired)
        return self.get_deployment(name)

    def restart_deployment(self, name: str) -> Deployment:
        """Rolling restart: each instance is replaced by a new one (new id), one index at a
        time, each old one stopped once its successor runs (the seed's ``restart_service``)."""
        with self._lock:
            self._check_open()
            state = self._state(name)
            now = self._clock()
            state.generation += 1
            state.updated_at = now
            self._tables.save_deployment(name, state.spec, state.generation, state.created_at, now)
            logger.info("rolling restart of %s (generation %d)", name, state.generation)
            retired = self._rt.reconcile(state, now)
            self._ensure_supervisor()
        self._rt.await_stopped(retired)
        return self.get_deployment(name)

    def undeploy(self, name: str) -> None:
        """Stop every instance and forget the deployment (its log files stay)."""
        with self._lock:
            self._check_open()
            state = self._state(name)
            retired = [self._rt.retire(state, inst) for inst in list(state.instances)]
            del self._rt.states[name]
            self._tables.delete_deployment(name)
            logger.info("undeploy %s", name)
        self._rt.await_stopped([p for p in retired if p is not None])

    def get_deployment(self, name: str) -> Deployment:
        with self._lock:
            self._rt.reap(self._clock())
            return self._snapshot(self._state(name))

    def list_deployments(self) -> list[Deployment]:
        with self._lock:
            self._rt.reap(self._clock())
            return [self._snapshot(s) for _, s in sorted(self._rt.states.items())]

    def _snapshot(self, state: DeploymentState) -> Deployment:
        spec = state.spec
        return Deployment(
            name=state.name,
            script=spec.script,
            instances=spec.instances,
            args=spec.args,
            env=spec.masked_env(),
            cluster=spec.cluster,
            gpu=spec.gpu,
            gpu_memory=spec.gpu_memory,
            restart_policy=spec.restart_policy,
            working_dir=spec.working_dir,
            created_at=state.created_at,
            updated_at=state.updated_at,
            running=sum(1 for inst in state.instances if inst.alive),
            resources=dict(spec.resources),
            autoscale=None if spec.autoscale is None else dict(spec.autoscale),
        )

    # -- instances ---------------------------------------------------------------------

    def has_instance(self, instance_id: str) -> bool:
        with self._lock:
            return instance_id in self._rt.by_id

    def list_instances(self, name: str | None = None) -> list[InstanceInfo]:
        """Instances of one deployment (or all), by deployment, index and age."""
        with self._lock:
            now = self._clock()
            self._rt.reap(now)
            states = [self._state(name)] if name is not None else list(self._rt.states.values())
            infos = [i.info(now, self._rt.start_grace_s) for s in states for i in s.instances]
            return sorted(infos, key=lambda i: (i.deployment, i.index, -(i.started_at or 0.0)))

    def restart_instance(self, instance_id: str) -> InstanceInfo:
        """Stop the instance's process (SIGTERM, then SIGKILL) and start a new one."""
        with self._lock:
            self._check_open()
            inst = self._rt.by_id.get(instance_id) if isinstance(instance_id, str) else None
            if inst is None:
                raise DeploymentNotFoundError("instance", instance_id)
            if inst.busy:
                raise DeploymentConflictError(f"instance {instance_id!r} is already restarting")
            inst.busy = True
            proc = inst.detach()
        try:
            if proc is not None:
                inst.log.mark(f"stopping pid {proc.pid}: restart requested")
                proc.close(self._rt.stop_timeout_s)
        except BaseException:
            with self._lock:
                inst.busy = False
            raise
        with self._lock:
            inst.busy = False
            self._check_open()
            if self._rt.by_id.get(instance_id) is not inst:  # undeployed meanwhile
                raise DeploymentNotFoundError("instance", instance_id)
            now = self._clock()
            inst.restarts += 1
            inst.backoff.reset()
            self._rt.start(self._rt.states[inst.deployment], inst, now)
            self._ensure_supervisor()
            return inst.info(now, self._rt.start_grace_s)

    # -- clusters ----------------------------------------------------------------------

    def create_cluster(self, spec: Mapping[str, Any] | None = None, /, **options: Any) -> Cluster:
        with self._lock:
            self._check_open()
            return self._clusters.create(spec, options)

    def get_cluster(self, name: str) -> Cluster:
        with self._lock:
            return self._clusters.get(name)

    def list_clusters(self) -> list[Cluster]:
        with self._lock:
            return self._clusters.list()

    def delete_cluster(self, name: str) -> None:
        """Delete a cluster; refused while deployments use it."""
        with self._lock:
            self._check_open()
            self._clusters.delete(name)

    # -- lifecycle ---------------------------------------------------------------------

    def recover(self) -> None:
        """Start the persisted deployments again (on platform start). Only the first call
        acts; later calls return at once.

        A process that a crashed platform left behind (same pid and start time as
        recorded) is killed first, so an instance never runs twice.
        """
        with self._lock:
            self._check_open()
            if self._recovered:
                return
            self._recovered = True
            now = self._clock()
            for state in self._rt.states.values():
                for inst in state.instances:
                    if not inst.alive and not inst.busy and inst.state != "backoff":
                        self._rt.start(state, inst, now)  # kills a left-behind process first
                self._rt.reconcile(state, now)
            self._ensure_supervisor()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop every instance (SIGTERM, SIGKILL after the grace period). Idempotent.

        Deployments stay persisted: a new manager's :meth:`recover` starts them again.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = self._rt.detach_all()
            self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        for proc in procs:
            proc.terminate()
        self._rt.await_stopped(procs)
        self._rt.lifeline.close()
        if self._ray_scripts is not None:
            self._ray_scripts.close()

    def __enter__(self) -> DeploymentManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_path(self, instance_id: str) -> Path:
        """Where an instance's output goes."""
        with self._lock:
            inst = self._rt.by_id.get(instance_id)
            if inst is None:
                raise DeploymentNotFoundError("instance", instance_id)
            return inst.log.path
