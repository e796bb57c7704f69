"""A real CUDA workload on a Constellation allocation, for ``benchmarks/gpu_check.py``.

It checks, on a real GPU, what the unit tests can only check on captures:

* the allocation's ``env`` (``CUDA_VISIBLE_DEVICES`` = the GPU's UUID) makes a CUDA
  program see exactly the allocated GPU;
* the monitor attributes the program's GPU memory to the allocation's owner, from
  NVML's process list (``gpu_allocation_memory_mb{owner=...}``);
* with MPS (``nvidia-cuda-mps-control`` on PATH), a ``compute_share`` request's
  ``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`` limits the SMs the program is given.

The workload is PyTorch in a child process; without PyTorch the step says so and passes.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from constellation.gpu import Allocation, Discovery, GpuManager, GpuMonitor
from constellation.gpu._nvml import NvmlBackend
from constellation.telemetry import Telemetry

Check = Callable[[bool, str], None]
START_TIMEOUT_S = 120  # a CUDA program that has not reported by then (an MPS hang) is killed

# Holds ~1 GiB on the GPU, keeps it busy, reports what it sees, waits for stdin to close.
CHILD = """
import json, sys, time, torch
props = torch.cuda.get_device_properties(0)
x = torch.empty(1024 ** 3, dtype=torch.uint8, device="cuda")
a = torch.randn(4096, 4096, device="cuda")
for _ in range(50):
    a = a @ a
    a = a / a.norm()
torch.cuda.synchronize()
uuid = getattr(props, "uuid", None)
print(json.dumps({"count": torch.cuda.device_count(), "uuid": uuid and "GPU-" + str(uuid),
                  "sms": props.multi_processor_count}), flush=True)
sys.stdin.read()
"""


def has_cuda_torch() -> bool:
    """Whether this Python has PyTorch with a usable CUDA device (asked in a child)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; assert torch.cuda.is_available()"],
        capture_output=True,
        timeout=120,
    )
    return probe.returncode == 0


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, object]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], START_TIMEOUT_S)
    line = child.stdout.readline() if ready else ""
    if not line:
        child.kill()
        raise RuntimeError(f"the CUDA workload ended with {child.wait()} before reporting")
    return child, json.loads(line)


def _stop(child: subprocess.Popen[str]) -> None:
    if child.stdin:
        child.stdin.close()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _on_allocation(manager: GpuManager, owner: str, check: Check) -> dict[str, object]:
    allocation = manager.get_allocation(owner)
    assert allocation is not None
    telemetry = Telemetry()
    monitor = GpuMonitor(manager, telemetry)
    child, seen = _start(allocation.env)
    try:
        manager.attach_process(owner, child.pid)
        monitor.tick()
        used = telemetry.series("gpu_allocation_memory_mb", {"owner": owner}).last()
    finally:
        _stop(child)
    gpu_uuid = manager.discovery.gpus[0].uuid
    check(seen["count"] == 1, f"{owner}: the workload sees {seen['count']} GPU(s), expected 1")
    check(seen["uuid"] == gpu_uuid, f"{owner}: the workload's GPU {seen['uuid']} is {gpu_uuid}")
    mb = used.value if used else 0.0
    check(mb >= 1024, f"{owner}: {mb:.0f} MB attributed to the owner from NVML's process list")
    return {**seen, "attributed_mb": mb}


def run_workload(check: Check) -> dict[str, object]:
    """The workload on a shared allocation, then (where MPS is at hand) on an MPS one."""
    if not has_cuda_torch():
        print("  [note] no PyTorch with CUDA here: the workload step is skipped")
        return {}
    report: dict[str, object] = {}
    nvml = NvmlBackend()
    with GpuManager(discovery=Discovery([nvml])) as manager:
        if any(g.mig_enabled for g in manager.discover()):
            print("  [note] the GPU is in MIG mode: the workload step needs a whole GPU")
            return {}
        allocation = manager.allocate("workload", {"memory_mb": 4096})
        check(allocation is not None, "allocate 4096 MB for the workload")
        if allocation is not None:
            report["shared"] = _on_allocation(manager, "workload", check)
            manager.deallocate("workload")
        full_sms = report.get("shared", {}).get("sms")  # type: ignore[union-attr]
        report["mps"] = _with_mps(manager, check, full_sms)
    nvml.close()
    return report


def _with_mps(manager: GpuManager, check: Check, full_sms: object) -> dict[str, object]:
    control = shutil.which("nvidia-cuda-mps-control")
    if control is None:
        print("  [note] nvidia-cuda-mps-control is not on PATH: the MPS step is skipped")
        return {}
    pipes = Path(tempfile.mkdtemp(prefix="mps-"))
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(pipes), "CUDA_MPS_LOG_DIRECTORY": str(pipes)}
    started = subprocess.run(
        [control, "-d"], env={**os.environ, **env}, capture_output=True, text=True, timeout=30
    )
    if started.returncode != 0:
        print(f"  [note] the MPS daemon did not start: {started.stderr.strip()}")
        return {}
    os.environ.update(env)  # the workload's clients find the daemon through these
    try:
        allocation: Allocation | None = manager.allocate(
            "mps-half", {"sharing": "mps", "compute_share": 50, "memory_mb": 4096}
        )
        check(allocation is not None, "allocate an MPS share of 50%")
        if allocation is None:
            return {}
        print(f"  MPS allocation env: {allocation.env}")
        seen = _on_allocation(manager, "mps-half", check)
        print(f"  under MPS at 50%: {seen['sms']} of {full_sms} SMs visible to the workload")
        if isinstance(full_sms, int) and isinstance(seen["sms"], int):
            check(seen["sms"] < full_sms, f"MPS at 50%: {seen['sms']} SMs, fewer than {full_sms}")
        manager.deallocate("mps-half")
        return seen
    finally:
        subprocess.run([control], input="quit\n", text=True, env={**os.environ, **env}, timeout=30)
        time.sleep(0.5)
        for key in env:
            os.environ.pop(key, None)
