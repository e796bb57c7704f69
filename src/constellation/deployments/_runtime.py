"""The live side of deployments: instances, their processes and their supervision.

:class:`Runtime` holds every deployment's in-memory state and the processes, and knows
how to move them towards a spec (:meth:`Runtime.reconcile`) and how to supervise them
(:meth:`Runtime.poll`). It has no lock of its own: the manager calls it under
``runtime.lock``, and only waits for stopping processes outside it.

Rolling replace: a deployment whose spec changed has a new generation. One index at a
time, a new-generation instance is started beside the old one; once it has run past
the start grace period (or exited cleanly), the old one is stopped. A new version that
keeps crashing never gets there, so the rollout stalls and the old instances keep
running.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping

from constellation.config import Settings

from ._instance import Backoff, Instance
from ._logs import InstanceLog
from ._persist import DeploymentTables
from ._process import (
    InstanceProcess,
    Lifeline,
    ProcessStarter,
    kill_orphan,
    start_local_process,
)
from ._spec import GPU_ENV, DeploymentSpec, gpu_env

# (deployment name, gpu id) -> the variables that show the process its GPU, or None for
# the default from the id's form (the platform passes the GPU allocation's env here).
GpuEnvHook = Callable[[str, str], Mapping[str, str] | None]
# (deployment name, instance id, pid) after every start (the platform records GPU pids).
StartHook = Callable[[str, str, int], None]

__all__ = ["DeploymentState", "GpuEnvHook", "Runtime", "StartHook"]

logger = logging.getLogger("constellation.deployments")


@dataclasses.dataclass
class DeploymentState:
    name: str
    spec: DeploymentSpec
    generation: int
    created_at: float
    updated_at: float
    instances: list[Instance] = dataclasses.field(default_factory=list)


class Runtime:
    """Instances and processes of every deployment. Call with ``lock`` held."""

    def __init__(
        self,
        tables: DeploymentTables,
        settings: Settings,
        clock: Callable[[], float],
        *,
        stop_timeout_s: float,
        start_grace_s: float,
        stable_after_s: float,
        log_max_bytes: int,
        gpu_env: GpuEnvHook | None = None,
        on_instance_start: StartHook | None = None,
    ) -> None:
        self.tables = tables
        self.gpu_env = gpu_env
        self.on_instance_start = on_instance_start
        self.settings = settings
        self.clock = clock
        self.stop_timeout_s = stop_timeout_s
        self.start_grace_s = start_grace_s
        self.stable_after_s = stable_after_s
        self.log_max_bytes = log_max_bytes
        self.log_root = settings.home / "logs" / "deployments"
        self.lock = threading.RLock()
        self.states: dict[str, DeploymentState] = {}
        self.by_id: dict[str, Instance] = {}
        self.terminating: list[tuple[InstanceProcess, float]] = []  # (process, kill at)
        self.lifeline = Lifeline()
        self.start_process: ProcessStarter = start_local_process
        self._next_rotation_check = 0.0

    def save_instance(self, inst: Instance) -> None:
        proc = inst.proc
        self.tables.save_instance(
            inst.id,
            inst.deployment,
            inst.index,
            inst.generation,
            inst.restarts,
            proc.pid if proc else None,
            proc.identity if proc else None,
            inst.created_at,
        )

    def make_instance(
        self, name: str, instance_id: str, index: int, generation: int, created_at: float
    ) -> Instance:
        s = self.settings
        return Instance(
            instance_id,
            name,
            index,
            generation,
            restarts=0,
            created_at=created_at,
            log=InstanceLog(self.log_root / name, instance_id, self.log_max_bytes),
            backoff=Backoff(
                s.restart_backoff_initial_s, s.restart_backoff_max_s, self.stable_after_s
            ),
        )

    def new_id(self, name: str) -> str:
        while True:
            candidate = f"dep-{name}-{secrets.token_hex(4)}"
            if candidate not in self.by_id and not self.tables.instance_exists(candidate):
                return candidate

    def env(self, state: DeploymentState, inst: Instance) -> dict[str, str]:
        env = dict(os.environ)
        env.update(state.spec.env)
        env["PYTHONUNBUFFERED"] = "1"  # output reaches the log as it is written
        env["CONSTELLATION_DEPLOYMENT"] = state.name
        env["CONSTELLATION_INSTANCE_ID"] = inst.id
        env["CONSTELLATION_INSTANCE_INDEX"] = str(inst.index)
        if state.spec.gpu is not None:
            for key in GPU_ENV:  # what the platform itself was given does not apply here
                env.pop(key, None)
            env.update(self._gpu_env(state.name, state.spec.gpu))
        return env

    def _gpu_env(self, name: str, gpu: str) -> Mapping[str, str]:
        if self.gpu_env is not None:
            try:
                found = self.gpu_env(name, gpu)
            except Exception:  # a failing hook must not stop the instance from starting
                logger.exception("gpu_env hook failed for deployment %s", name)
            else:
                if found is not None:
                    return found
        return gpu_env(gpu)

    def _kill_orphan(self, inst: Instance) -> None:
        """Before an instance's first start (or removal) since a platform restart, end the
        process a crashed platform may have left running for it: it must never run twice."""
        if inst.orphan is not None:
            if kill_orphan(*inst.orphan):
                logger.warning("killed pid %s left by a previous platform", inst.orphan[0])
            inst.orphan = None

    def start(self, state: DeploymentState, inst: Instance, now: float) -> None:
        self._kill_orphan(inst)
        inst.start(
            state.spec,
            self.env(state, inst),
            self.lifeline,
            now,
            self.stop_timeout_s,
            self.start_process,
        )
        self.save_instance(inst)
        if inst.proc is not None:
            logger.info(
                "deployment %s: instance %s started, pid %s", state.name, inst.id, inst.proc.pid
            )
            if self.on_instance_start is not None:
                try:
                    self.on_instance_start(state.name, inst.id, inst.proc.pid)
                except Exception:
                    logger.exception("on_instance_start hook failed for %s", inst.id)

    def spawn(self, state: DeploymentState, index: int, now: float) -> Instance:
        inst = self.make_instance(state.name, self.new_id(state.name), index, state.generation, now)
        state.instances.append(inst)
        self.by_id[inst.id] = inst
        self.start(state, inst, now)
        return inst

    def retire(self, state: DeploymentState, inst: Instance) -> InstanceProcess | None:
        """Remove an instance; its process gets SIGTERM and is killed after the grace."""
        self._kill_orphan(inst)
        state.instances.remove(inst)
        self.by_id.pop(inst.id, None)
        self.tables.delete_instance(inst.id)
        proc = inst.detach()
        if proc is not None:
            proc.terminate()
            self.terminating.append((proc, time.monotonic() + self.stop_timeout_s))
            inst.log.mark(f"stopping pid {proc.pid}: instance removed")
        return proc

    def reconcile(self, state: DeploymentState, now: float) -> list[InstanceProcess]:
        """Move the instances towards the spec: count, then one rolling step."""
        desired = state.spec.instances
        retired = [
            self.retire(state, inst)
            for inst in [i for i in state.instances if i.index >= desired and not i.busy]
        ]
        current: dict[int, Instance] = {}
        old: dict[int, list[Instance]] = {}
        for inst in state.instances:
            if inst.generation == state.generation:
                current[inst.index] = inst
            else:
                old.setdefault(inst.index, []).append(inst)
        for index in range(desired):
            if index not in current and index not in old:
                current[index] = self.spawn(state, index, now)
        # Rolling step. An old instance that is not alive (crash-looping, stopped) serves
        # nothing, so it is replaced at once; a live one only once its successor runs.
        rolling_busy = False
        for index, olds in sorted(old.items()):
            new = current.get(index)
            serving = any(inst.alive for inst in olds)
            if new is None and not serving:
                current[index] = self.spawn(state, index, now)
                new = current[index]
            if new is None:
                continue
            if not serving or new.status(now, self.start_grace_s) in ("running", "stopped"):
                retired += [self.retire(state, inst) for inst in olds if not inst.busy]
            else:
                rolling_busy = True  # wait for this one before replacing the next
        if not rolling_busy:
            for index in sorted(old):
                if index not in current:
                    self.spawn(state, index, now)
                    break
        return [p for p in retired if p is not None]

    def await_stopped(self, procs: list[InstanceProcess]) -> None:
        """Wait (outside the lock) for retired processes; SIGKILL at their deadline."""
        deadline = time.monotonic() + self.stop_timeout_s
        for proc in procs:
            if proc.wait(max(0.0, deadline - time.monotonic())) is None:
                proc.kill()
                proc.wait()

    def sweep_terminating(self) -> None:
        still = []
        for proc, kill_at in self.terminating:
            if proc.poll() is not None:
                continue
            if time.monotonic() >= kill_at:
                proc.kill()
            still.append((proc, kill_at))
        self.terminating = still

    def poll(self) -> None:
        """One supervision pass: reap exits, restart what is due, reconcile, rotate logs."""
        now = self.clock()
        for state in self.states.values():
            for inst in list(state.instances):
                if inst.busy:
                    continue
                self._check_exit(state, inst, now)
                if inst.due(now):
                    inst.restarts += 1
                    self.start(state, inst, now)
            self.reconcile(state, now)
        self.sweep_terminating()
        if time.monotonic() >= self._next_rotation_check:  # a stat per log: once a second
            self._next_rotation_check = time.monotonic() + 1.0
            for inst in self.by_id.values():
                inst.log.rotate_if_needed()

    def _check_exit(self, state: DeploymentState, inst: Instance, now: float) -> None:
        if inst.check_exit(state.spec.restart_policy, now):
            what = inst.last_error or "exited with code 0"
            logger.info("deployment %s: instance %s %s", state.name, inst.id, what)

    def reap(self, now: float) -> None:
        """Notice exits now, so a listing never shows a dead process as running."""
        for state in self.states.values():
            for inst in state.instances:
                if not inst.busy:
                    self._check_exit(state, inst, now)

    def detach_all(self) -> list[InstanceProcess]:
        """Every process, taken from its instance (records stay), plus those stopping."""
        procs = [p for p, _ in self.terminating]
        self.terminating = []
        for state in self.states.values():
            for inst in state.instances:
                proc = inst.detach()
                if proc is not None:
                    inst.log.mark(f"stopping pid {proc.pid}: platform shutting down")
                    procs.append(proc)
        return procs
