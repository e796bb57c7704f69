"""The CUDA MPS control daemon, started and supervised by the platform when a share needs it.

A memory share on an NVIDIA GPU holds only if the tenant runs as an MPS client: then
``CUDA_MPS_PINNED_DEVICE_MEM_LIMIT`` (per-device memory cap) and
``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`` (share of the SMs) in the tenant's environment are
enforced by the MPS server, and an allocation past the cap fails *in that tenant* with
``cudaErrorMemoryAllocation`` while its neighbours keep theirs. Without a daemon those
variables are ignored by CUDA and a share is bookkeeping only.

:class:`MpsDaemon` runs ``nvidia-cuda-mps-control -f`` (foreground, so it is our child and
its death is seen) with its pipe and log directories under the platform's home; tenants
get ``CUDA_MPS_PIPE_DIRECTORY``/``CUDA_MPS_LOG_DIRECTORY`` pointing there. :meth:`ensure`
starts it, or starts it again if it died (it is called before every grant that needs it,
and counts restarts); :meth:`close` asks it to ``quit`` through the control client and
ends it if it does not; it is idempotent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from ._model import GpuError

__all__ = ["MPS_CONTROL", "MpsDaemon", "MpsUnavailable"]

MPS_CONTROL = "nvidia-cuda-mps-control"


class MpsUnavailable(GpuError):
    """The MPS control daemon is not installed here or did not start (the message says why)."""


class MpsDaemon:
    """``binary``: the control program ("auto": ``nvidia-cuda-mps-control`` on PATH; None:
    there is none here, and every share needing MPS is marked booked-only)."""

    def __init__(
        self, home: Path, binary: str | None = "auto", *, start_timeout_s: float = 10.0
    ) -> None:
        self.pipe_dir = Path(home) / "pipe"
        self.log_dir = Path(home) / "log"
        self.binary = shutil.which(MPS_CONTROL) if binary == "auto" else binary
        self.start_timeout_s = start_timeout_s
        self.starts = 0  # 1 after the first start; more means it was restarted
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def available(self) -> bool:
        return self.binary is not None and not self._closed

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def env(self) -> dict[str, str]:
        """What an MPS client (a tenant) needs to find this daemon."""
        return {"CUDA_MPS_PIPE_DIRECTORY": str(self.pipe_dir),
                "CUDA_MPS_LOG_DIRECTORY": str(self.log_dir)}  # fmt: skip

    def ensure(self) -> dict[str, str]:
        """Start the daemon unless it runs (again if it died); return the client env."""
        with self._lock:
            if self._closed:
                raise MpsUnavailable("the MPS daemon wrapper is closed")
            if self.binary is None:
                raise MpsUnavailable(f"{MPS_CONTROL} is not installed (it comes with the driver)")
            if self.running:
                return self.env()
            self.pipe_dir.mkdir(parents=True, exist_ok=True)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._proc = subprocess.Popen(
                    [self.binary, "-f"],
                    env={**os.environ, **self.env()},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as exc:
                raise MpsUnavailable(f"{self.binary} could not start: {exc}") from None
            self.starts += 1
            self._wait_for_control()
            return self.env()

    def _wait_for_control(self) -> None:
        """Until the daemon's control pipe exists (it is then ready for clients)."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while not (self.pipe_dir / "control").exists():
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise MpsUnavailable(f"{self.binary} -f exited with code {code} at start")
            if time.monotonic() > deadline:
                self._stop_process()
                raise MpsUnavailable(f"{self.binary} -f made no control pipe in {self.pipe_dir}")
            time.sleep(0.01)

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:  # the documented way: "quit" on the control client's stdin
            subprocess.run([str(self.binary)], input=b"quit\n", env={**os.environ, **self.env()},
                           capture_output=True, timeout=5, check=False)  # fmt: skip
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_process()

    def __enter__(self) -> MpsDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
