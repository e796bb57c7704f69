"""The discovery backend interface, and running a vendor tool safely.

A backend has a ``name``, the ``vendor`` it finds, ``notes`` about its last run, and
``discover() -> list[Gpu]`` raising a :class:`BackendError` subclass when it cannot
answer; ``close()`` releases what it holds. :class:`StaticBackend` serves a fixed list
(a capture, under ``--simulate``).

One function, :func:`run_tool`, is the only place the package starts a process. It
finds the tool on ``PATH`` (so tests can put fakes first), runs it without a shell,
cuts it off after ``timeout`` seconds (killing its whole process group, since the
vendor tools are often wrappers that spawn helpers), and turns every way of failing
into a :class:`BackendError` subclass that names the backend and says why.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ._model import Gpu, ToolFailed, ToolMissing, ToolTimeout

__all__ = ["DEFAULT_TIMEOUT_S", "Backend", "StaticBackend", "Tool", "run_tool"]

DEFAULT_TIMEOUT_S = 5.0
_STDERR_KEEP = 400


class Backend(Protocol):
    name: str
    vendor: str
    notes: list[str]

    def discover(self) -> list[Gpu]: ...

    def close(self) -> None: ...


class StaticBackend:
    """A fixed list of GPUs (a capture loaded with ``--simulate``, or a test inventory)."""

    vendor = "any"

    def __init__(self, gpus: Sequence[Gpu], name: str = "simulated") -> None:
        self.name = name
        self.gpus = list(gpus)
        self.notes: list[str] = []

    def discover(self) -> list[Gpu]:
        return list(self.gpus)

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A command-line tool looked up on ``PATH`` when it is first run."""

    backend: str
    executable: str
    timeout: float = DEFAULT_TIMEOUT_S

    def path(self) -> str:
        found = shutil.which(self.executable)
        if found is None:
            raise ToolMissing(self.backend, f"{self.executable} not found on PATH")
        return found

    def run(self, args: Sequence[str], *, ok_codes: Sequence[int] = (0,)) -> str:
        return run_tool(self.backend, [self.path(), *args], self.timeout, ok_codes=ok_codes)


def run_tool(
    backend: str, argv: Sequence[str], timeout: float, *, ok_codes: Sequence[int] = (0,)
) -> str:
    """Run ``argv`` and return its stdout (UTF-8, undecodable bytes replaced)."""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills helpers too
            env={**os.environ, "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise ToolMissing(backend, f"{argv[0]} not found") from None
    except PermissionError:
        raise ToolMissing(backend, f"{argv[0]} is not executable") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        name = os.path.basename(argv[0])
        raise ToolTimeout(
            backend, f"{name} {' '.join(argv[1:])} did not answer within {timeout:g} s"
        ) from None
    if proc.returncode not in ok_codes:
        detail = (err or out).decode("utf-8", "replace").strip()[:_STDERR_KEEP]
        name = os.path.basename(argv[0])
        raise ToolFailed(backend, f"{name} exited with {proc.returncode}: {detail or 'no output'}")
    return out.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
