"""What runs on a Ray node for a deployment instance: an actor that runs the script.

The actor starts the script exactly as the local backend does (the deployments
launcher, its own session, a lifeline pipe held by the actor: when the actor dies the
script gets SIGTERM, then SIGKILL after the grace). Its output goes to a log file on the
node, which the head reads in pieces (:meth:`ScriptHost.read_log`).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..backends.ray import node_id, unpack_code
from ._process import InstanceProcess, Lifeline

__all__ = ["ScriptHost"]

LOG_CHUNK = 1 << 20


class ScriptHost:
    def __init__(
        self,
        code: bytes,
        code_hash: str,
        script: str,
        args: Sequence[str],
        env: Mapping[str, str],
        grace_s: float,
    ) -> None:
        root = unpack_code(code, code_hash)
        fd, log = tempfile.mkstemp(prefix="constellation-deployment-", suffix=".log")
        os.close(fd)
        self._log = Path(log)
        self._lifeline = Lifeline()
        self._proc = InstanceProcess(
            str(root / script),
            args,
            env={**os.environ, **env},  # the node's environment (Ray's GPU assignment too)
            cwd=str(root),
            log_path=self._log,
            lifeline=self._lifeline,
            lifeline_grace_s=grace_s,
        )

    def info(self) -> dict[str, object]:
        return {"pid": self._proc.pid, "node_id": node_id(), "host": socket.gethostname()}

    def wait_exit(self) -> int:
        """Blocks until the script ends; its exit code (negative: the signal)."""
        code = self._proc.wait()
        assert code is not None
        return code

    def read_log(self, offset: int, wait_s: float) -> bytes:
        """Output after ``offset``, waiting up to ``wait_s`` for some to arrive."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                size = self._log.stat().st_size
            except OSError:
                return b""
            if size > offset or time.monotonic() >= deadline or self._proc.returncode is not None:
                break
            time.sleep(0.05)
        with self._log.open("rb") as fh:
            fh.seek(offset)
            return fh.read(LOG_CHUNK)

    def terminate(self) -> None:
        self._proc.terminate()

    def kill(self) -> None:
        self._proc.kill()

    def __del__(self) -> None:
        try:
            self._lifeline.close()
            self._log.unlink(missing_ok=True)
        except Exception:
            pass
