"""Deployments on the Ray backend: each instance's script runs in an actor on a node.

:class:`RayScripts` is the deployment runtime's process starter on this backend. The
supervision (restart policy, backoff, rolling replace, logs, listings) stays in the
head's deployment manager; a :class:`RayProcess` gives it the same interface as a local
process: ``poll``, ``wait``, ``terminate``, ``kill``, ``close``. The script's folder
(``working_dir``) is shipped to the node through Ray's object store, once per content.
An instance whose node is lost counts as killed (exit code -9) and is restarted by its
policy elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..backends.ray import NodeView, acquire, describe_ray_error, pack_code, release
from ..config import Settings
from ._process import stop_gracefully
from ._ray_script_host import ScriptHost

if TYPE_CHECKING:
    from ._process import Lifeline
    from ._spec import DeploymentSpec

__all__ = ["RayProcess", "RayScripts"]

MAX_SHIPPED_BYTES = 100 * 1024 * 1024
LOG_WAIT_S = 1.0
START_WAIT_S = 2.0


class RayProcess:
    """A deployment instance's script in an actor, with a local process's interface."""

    def __init__(self, ray: ModuleType, actor: Any, log_path: Path, start_timeout: float):
        self._ray = ray
        self._actor = actor
        self._log_path = log_path
        self.pid = 0  # known once the actor runs (the script's pid on its node)
        self.node = ""
        self.identity: str | None = None  # not a process of this machine: never an orphan here
        self.returncode: int | None = None
        self._give_up_at = time.monotonic() + start_timeout
        self._info_ref = actor.info.remote()
        self._offset = 0
        self._exit_ref = actor.wait_exit.remote()
        self._log_ref = actor.read_log.remote(0, LOG_WAIT_S)
        # Wait briefly, so a normal start reports its pid; a start Ray cannot place yet
        # (the resources are busy) stays pending without holding up the supervisor.
        self._placed(timeout=START_WAIT_S)

    def _placed(self, timeout: float = 0.0) -> bool:
        if self.pid:
            return True
        ray = self._ray
        if not ray.wait([self._info_ref], timeout=timeout)[0]:
            return False
        try:
            info = ray.get(self._info_ref)
        except ray.exceptions.RayError as exc:
            ray.kill(self._actor, no_restart=True)
            raise OSError(f"its Ray actor failed to start: {describe_ray_error(exc)}") from None
        self.pid = int(info["pid"])
        self.node = str(info["node_id"])
        return True

    def _pull_log(self, final: bool = False) -> None:
        ray = self._ray
        while True:
            if not final and not ray.wait([self._log_ref], timeout=0)[0]:
                return
            try:
                data = ray.get(self._log_ref, timeout=5.0)
            except ray.exceptions.RayError:
                return
            if data:
                with self._log_path.open("ab") as fh:
                    fh.write(data)
                self._offset += len(data)
            self._log_ref = self._actor.read_log.remote(self._offset, 0.0 if final else LOG_WAIT_S)
            if final and not data:
                return

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            placed = self._placed()
        except OSError as exc:
            return self._end(-9, str(exc))
        if not placed:
            if time.monotonic() < self._give_up_at:
                return None
            return self._end(
                -9, "Ray did not place it in time (are the resources it asks for busy?)"
            )
        self._pull_log()
        if not self._ray.wait([self._exit_ref], timeout=0)[0]:
            return None
        return self._finish()

    def _finish(self) -> int:
        ray = self._ray
        try:
            code = int(ray.get(self._exit_ref))
            self._pull_log(final=True)
        except ray.exceptions.RayError as exc:
            return self._end(-9, f"its Ray actor was lost: {describe_ray_error(exc)}")
        return self._end(code)

    def _end(self, code: int, why: str = "") -> int:
        if why:
            with self._log_path.open("a") as fh:
                fh.write(f"--- constellation: {why}\n")
        self._ray.kill(self._actor, no_restart=True)
        self.returncode = code
        return code

    @property
    def placed(self) -> bool:
        """Whether Ray has started it on a node (until then it is "starting")."""
        return bool(self.pid)

    @property
    def alive(self) -> bool:
        return self.poll() is None

    def terminate(self) -> None:
        if self.poll() is None:
            self._actor.terminate.remote()

    def kill(self) -> None:
        if self.poll() is None:
            self._actor.kill.remote()

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if not self.pid:  # never started: nothing to wait for
            return self._end(-9) if self.poll() is None else self.returncode
        ready, _ = self._ray.wait([self._exit_ref], timeout=timeout)
        return self._finish() if ready else None

    def close(self, grace_s: float = 5.0) -> int:
        return stop_gracefully(self, grace_s)


class RayScripts:
    """Starts deployment instances as Ray actors. ``close`` is idempotent."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ray: ModuleType | None = None
        self._host: Any = None
        self._nodes: NodeView | None = None
        self._code: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> ModuleType:
        with self._lock:
            if self._closed:
                raise OSError("the platform is shutting down")
            if self._ray is None:
                ray = acquire(self._settings.ray_address)
                self._host = ray.remote(ScriptHost)
                self._nodes = NodeView(ray)
                self._ray = ray
            return self._ray

    def options(self, spec: DeploymentSpec) -> dict[str, Any]:
        wants = spec.resources
        options: dict[str, Any] = {
            "num_cpus": 1.0 if wants.get("num_cpus") is None else float(wants["num_cpus"]),
            "max_restarts": 0,
            "max_concurrency": 4,  # wait_exit, read_log, terminate and kill at once
        }
        if wants.get("num_gpus"):
            options["num_gpus"] = float(wants["num_gpus"])
        if wants.get("custom"):
            options["resources"] = dict(wants["custom"])
        if self._settings.ray_placement == "spread":
            options["scheduling_strategy"] = "SPREAD"
        return options

    def start(
        self,
        spec: DeploymentSpec,
        env: Mapping[str, str],
        log_path: Path,
        lifeline: Lifeline | None,
        grace_s: float,
    ) -> RayProcess:
        """The ProcessStarter of this backend; OSError when the instance cannot start
        (the deployment's restart policy and backoff then apply)."""
        ray = self._connect()
        root = Path(spec.working_dir)
        script = Path(spec.script)
        if not script.is_relative_to(root):
            raise OSError(
                f"on the ray backend the script must be inside working_dir ({root}): it is "
                "shipped to the node with that folder"
            )
        options = self.options(spec)
        assert self._nodes is not None
        why = self._nodes.why_not(options)
        if why is not None:
            raise OSError(why)
        code_hash, ref = self._code_ref(root)
        # Only what the platform adds to the environment travels: the node has its own.
        extra = {k: v for k, v in env.items() if os.environ.get(k) != v}
        actor = self._host.options(**options).remote(
            ref, code_hash, script.relative_to(root).as_posix(), list(spec.args), extra, grace_s
        )
        return RayProcess(ray, actor, log_path, self._settings.ray_start_timeout_s)

    def _code_ref(self, root: Path) -> tuple[str, Any]:
        blob = pack_code(root)
        if len(blob) > MAX_SHIPPED_BYTES:
            raise OSError(
                f"working_dir {root} packs to {len(blob) >> 20} MB; the ray backend ships at "
                f"most {MAX_SHIPPED_BYTES >> 20} MB to a node: point working_dir at a smaller folder"
            )
        code_hash = hashlib.sha256(blob).hexdigest()[:32]
        with self._lock:
            ref = self._code.get(code_hash)
            if ref is None:
                assert self._ray is not None
                ref = self._code[code_hash] = self._ray.put(blob)
        return code_hash, ref

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ray, self._ray = self._ray, None
        if ray is not None:
            release()
