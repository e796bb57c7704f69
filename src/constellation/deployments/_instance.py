"""One instance's life: start, exit, restart policy and exponential backoff.

An :class:`Instance` keeps its id and index for its whole life; each (re)start gives it
a new process. It holds no lock: the manager calls it under its own lock.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from ._logs import InstanceLog
from ._models import InstanceInfo
from ._process import InstanceProcess, Lifeline, ProcessStarter, start_local_process
from ._spec import DeploymentSpec

__all__ = ["Backoff", "Instance"]


class Backoff:
    """Delays of ``initial * 2**n`` capped at ``maximum``; back to ``initial`` after a run
    of at least ``stable_after_s`` (a script that ran fine for a while and then crashed
    is not crash-looping)."""

    def __init__(self, initial: float, maximum: float, stable_after_s: float) -> None:
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.stable_after_s = stable_after_s
        self.delay = initial

    def next_delay(self, ran_for_s: float) -> float:
        if ran_for_s >= self.stable_after_s:
            self.reset()
        delay = self.delay
        self.delay = min(self.delay * 2, self.maximum)  # an initial 0 means no backoff
        return delay

    def reset(self) -> None:
        self.delay = self.initial


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _last_line(log: InstanceLog) -> str:
    """The script's last output line (usually the exception), for ``last_error``."""
    try:
        with log.path.open("rb") as fh:
            fh.seek(max(0, log.path.stat().st_size - 4096))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("--- constellation")]
    return lines[-1][:300] if lines else ""


class Instance:
    """State of one instance. Status is ``up`` (alive) or a stored after-exit status."""

    def __init__(
        self,
        instance_id: str,
        deployment: str,
        index: int,
        generation: int,
        *,
        restarts: int,
        created_at: float,
        log: InstanceLog,
        backoff: Backoff,
    ) -> None:
        self.id = instance_id
        self.deployment = deployment
        self.index = index
        self.generation = generation
        self.restarts = restarts
        self.created_at = created_at
        self.log = log
        self.backoff = backoff
        self.proc: InstanceProcess | None = None  # or a RayProcess: the same interface
        self.state = "stopped"  # "up" | "backoff" | "stopped" | "failed"
        self.started_at: float | None = None
        self.last_exit_code: int | None = None
        self.last_error: str | None = None
        self.next_start_at: float | None = None
        self.busy = False  # an API call is stopping/restarting it outside the lock
        # (pid, start time) recorded by a previous platform; checked once by recover()
        self.orphan: tuple[int, str | None] | None = None

    def start(
        self,
        spec: DeploymentSpec,
        env: Mapping[str, str],
        lifeline: Lifeline | None,
        now: float,
        lifeline_grace_s: float,
        start_process: ProcessStarter = start_local_process,
    ) -> None:
        """Start a process; a failure to start counts as a failed run under the policy."""
        self.next_start_at = None
        self.log.prepare()
        try:
            if not os.path.isfile(spec.script):
                raise FileNotFoundError(f"script not found: {spec.script}")
            self.proc = start_process(spec, env, self.log.path, lifeline, lifeline_grace_s)
        except OSError as exc:
            self.proc = None
            self.started_at = now
            self._after_exit(None, f"could not start: {exc}", spec.restart_policy, now)
            return
        self.state = "up"
        self.started_at = now
        self.log.mark(f"started pid {self.proc.pid} (restarts: {self.restarts})")

    def check_exit(self, policy: str, now: float) -> bool:
        """If the process has ended, record it and schedule per the policy. True if so."""
        if self.proc is None or self.state != "up":
            return False
        code = self.proc.poll()
        if code is None:
            return False
        self.proc = None
        reason = _describe_exit(code)
        line = _last_line(self.log) if code != 0 else ""
        self._after_exit(code, f"{reason}: {line}" if line else reason, policy, now)
        return True

    def _after_exit(self, code: int | None, error: str, policy: str, now: float) -> None:
        self.last_exit_code = code
        self.last_error = None if code == 0 else error
        clean = code == 0
        if policy == "always" or (policy == "on-failure" and not clean):
            ran_for = now - (self.started_at or now)
            delay = self.backoff.next_delay(ran_for)
            self.state = "backoff"
            self.next_start_at = now + delay
            self.log.mark(f"{error}; restarting in {delay:.3g} s")
        else:
            self.state = "stopped" if clean else "failed"
            self.log.mark(f"{error}; not restarted (restart_policy {policy!r})")

    def due(self, now: float) -> bool:
        return (
            self.state == "backoff" and self.next_start_at is not None and now >= self.next_start_at
        )

    def detach(self) -> InstanceProcess | None:
        """Take the process away (to stop it); the instance is left ``stopped``."""
        proc, self.proc = self.proc, None
        self.state = "stopped"
        self.next_start_at = None
        return proc

    @property
    def alive(self) -> bool:
        return self.state == "up" and self.proc is not None

    def status(self, now: float, start_grace_s: float) -> str:
        if self.alive:
            started = self.started_at if self.started_at is not None else now
            assert self.proc is not None
            if not self.proc.placed or now - started < start_grace_s:
                return "starting"
            return "running"
        return self.state

    def info(self, now: float, start_grace_s: float) -> InstanceInfo:
        alive = self.alive
        return InstanceInfo(
            id=self.id,
            deployment=self.deployment,
            index=self.index,
            status=self.status(now, start_grace_s),
            pid=self.proc.pid if alive and self.proc is not None else None,
            started_at=self.started_at,
            uptime_s=max(0.0, now - self.started_at) if alive and self.started_at else 0.0,
            restarts=self.restarts,
            last_exit_code=self.last_exit_code,
            last_error=self.last_error,
            next_restart_in_s=(
                max(0.0, self.next_start_at - now) if self.next_start_at is not None else None
            ),
            log_path=str(self.log.path),
            node=self.proc.node if alive and self.proc is not None else None,
        )
