"""One instance's OS process, behind a thin wrapper with an idempotent ``close()``.

Each instance is ``sys.executable`` running ``_launcher.py`` (by path), which runs the
script in the ``__main__`` namespace, so the script sees the same ``sys.argv``,
``sys.path[0]``, ``__name__`` and ``__file__`` as under ``python script.py``. The
launcher exists for one reason: the instance must not outlive the platform. It watches
a pipe whose only writer is the platform (the :class:`Lifeline`); when the platform's
process ends, however it ends, the pipe reaches end-of-file and the instance sends
itself SIGTERM (then exits hard after a grace period). ``PR_SET_PDEATHSIG`` would tie
the instance to the *thread* that started it, which is not what we want.

Each process leads its own session (``start_new_session``): a Ctrl-C at the platform's
terminal reaches the platform, which then stops the instances in order, and stopping an
instance signals its whole process group, so children the script started go too.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._launcher import LIFELINE_FD, LIFELINE_GRACE

if TYPE_CHECKING:
    from ._spec import DeploymentSpec

__all__ = [
    "InstanceProcess",
    "Lifeline",
    "ProcessStarter",
    "kill_orphan",
    "process_identity",
    "start_local_process",
    "stop_gracefully",
]

LAUNCHER = str(Path(__file__).with_name("_launcher.py"))  # run by path: see its docstring


class Lifeline:
    """A pipe held open by the platform; its read end is inherited by every instance."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()  # both close-on-exec by default

    def close(self) -> None:
        for attr in ("read_fd", "_write_fd"):
            fd = getattr(self, attr)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, attr, -1)

    def __enter__(self) -> Lifeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def process_identity(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux), to tell it from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def kill_orphan(pid: int, identity: str | None) -> bool:
    """SIGKILL the group of a process a previous platform left behind, if it is that one."""
    if identity is None or process_identity(pid) != identity:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
        return True
    return False


class InstanceProcess:
    """A running script: started on construction, output appended to ``log_path``."""

    node = "local"  # where it runs (a Ray backend's process gives its node's id)
    placed = True  # started at once (a Ray actor may wait for a node first)

    def __init__(
        self,
        script: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str,
        log_path: Path,
        lifeline: Lifeline | None = None,
        lifeline_grace_s: float = 5.0,
    ) -> None:
        full_env = dict(env)
        pass_fds: tuple[int, ...] = ()
        if lifeline is not None:
            full_env[LIFELINE_FD] = str(lifeline.read_fd)
            full_env[LIFELINE_GRACE] = str(float(lifeline_grace_s))
            pass_fds = (lifeline.read_fd,)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._popen = subprocess.Popen(
                [sys.executable, LAUNCHER, script, *args],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=full_env,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        finally:
            os.close(log_fd)  # the child holds its own copy
        self.pid: int = self._popen.pid
        self.identity = process_identity(self.pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the process has ended (negative: killed by that signal)."""
        if self.returncode is not None:
            return self.returncode
        if hasattr(os, "waitid"):
            # Look without reaping: while the leader is an unreaped zombie its pid (= the
            # group id) cannot be reused, so killing strays in its group is safe.
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                pass  # reaped elsewhere; Popen knows the code
            else:
                if info is None:
                    return None
                self._signal_group(signal.SIGKILL)
        code = self._popen.poll()
        if code is not None:
            self.returncode = code
        return code

    @property
    def alive(self) -> bool:
        return self.poll() is None

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def terminate(self) -> None:
        """Ask the process group to stop (SIGTERM); returns at once."""
        if self.poll() is None:
            self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        if self.poll() is None:
            self._signal_group(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait (real time) up to ``timeout`` seconds; the exit code, or None if still alive."""
        code = self.poll()
        if code is not None or timeout == 0:
            return code
        if hasattr(os, "pidfd_open"):  # Linux: sleep until the exit itself, no polling
            try:
                pidfd = os.pidfd_open(self.pid)
            except OSError:
                pass
            else:
                try:
                    select.select([pidfd], [], [], timeout)
                finally:
                    os.close(pidfd)
                return self.poll()
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005  # as Popen.wait: short first, up to 50 ms
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return code

    def close(self, grace_s: float = 5.0) -> int:
        """SIGTERM, wait ``grace_s``, then SIGKILL. Idempotent; returns the exit code."""
        return stop_gracefully(self, grace_s)

    def __enter__(self) -> InstanceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_gracefully(proc: Any, grace_s: float) -> int:
    """``terminate``, wait up to ``grace_s``, then ``kill``: for any process-like object
    (a local process, or a Ray actor's script); returns the exit code."""
    proc.terminate()
    code = proc.wait(grace_s)
    if code is None:
        proc.kill()
        code = proc.wait()
    assert code is not None
    return int(code)


# (spec, env, log path, lifeline, grace) -> a started process. The local backend's is
# start_local_process; the Ray backend's starts the script in an actor on a node.
ProcessStarter = Callable[
    ["DeploymentSpec", Mapping[str, str], Path, "Lifeline | None", float], Any
]


def start_local_process(
    spec: DeploymentSpec,
    env: Mapping[str, str],
    log_path: Path,
    lifeline: Lifeline | None,
    grace_s: float,
) -> InstanceProcess:
    return InstanceProcess(
        spec.script,
        spec.args,
        env=env,
        cwd=spec.working_dir,
        log_path=log_path,
        lifeline=lifeline,
        lifeline_grace_s=grace_s,
    )
