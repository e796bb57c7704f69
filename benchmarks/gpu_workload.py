"""A real CUDA workload on a Constellation allocation, for ``benchmarks/gpu_check.py``.

It checks, on a real GPU, what the unit tests can only check on captures:

* the allocation's ``env`` (``CUDA_VISIBLE_DEVICES`` = the GPU's UUID) makes a CUDA
  program see exactly the allocated GPU;
* the monitor attributes the program's GPU memory to the allocation's owner, from
  NVML's process list (``gpu_allocation_memory_mb{owner=...}``);
* with MPS (``nvidia-cuda-mps-control`` on PATH), started by the GPU manager itself (its
  :class:`MpsDaemon`), a ``compute_share`` request's ``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE``
  limits the SMs the program is given;
* shares that hold: a tenant with a 1024 MB share that allocates 2048 MB fails inside
  itself (CUDA out of memory under ``CUDA_MPS_PINNED_DEVICE_MEM_LIMIT``), while a
  neighbour on the same GPU keeps its memory (its data intact) and keeps running.

The workload is PyTorch in a child process; without PyTorch the step says so and passes.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from constellation.gpu import Allocation, Discovery, GpuManager, GpuMonitor, MpsDaemon
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


# Over-allocation: "greedy" asks for more than its share; "neighbour" holds its share,
# waits for a line on stdin, then checks its data and computes.
OVER = """
import json, sys, torch
role, mb = sys.argv[1], int(sys.argv[2])
if role == "greedy":
    try:
        x = torch.empty(mb * 1024 ** 2, dtype=torch.uint8, device="cuda")
        torch.cuda.synchronize()
        print(json.dumps({"allocated": True}), flush=True)
    except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError
        print(json.dumps({"allocated": False, "error": str(exc)[:300]}), flush=True)
else:
    x = torch.full((mb * 1024 ** 2 // 4,), 7, dtype=torch.int32, device="cuda")
    torch.cuda.synchronize()
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    intact = bool((x == 7).all().item())
    a = torch.randn(2048, 2048, device="cuda")
    ran = bool(torch.isfinite((a @ a).sum()).item())
    print(json.dumps({"intact": intact, "ran": ran}), flush=True)
"""


def has_cuda_torch() -> bool:
    """Whether this Python has PyTorch with a usable CUDA device (asked in a child)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; assert torch.cuda.is_available()"],
        capture_output=True,
        timeout=120,
    )
    return probe.returncode == 0


def _start(
    env: dict[str, str], script: str = CHILD, args: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], dict[str, object]]:
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args],
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
    """The workload on a shared allocation, then (where MPS is at hand) on an MPS one,
    then the over-allocation check."""
    if not has_cuda_torch():
        print("  [note] no PyTorch with CUDA here: the workload step is skipped")
        return {}
    report: dict[str, object] = {}
    nvml = NvmlBackend()
    mps = MpsDaemon(Path(tempfile.mkdtemp(prefix="cst-mps-")))
    with GpuManager(discovery=Discovery([nvml]), mps=mps) as manager:
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
        report["over_allocation"] = _over_allocation(manager, check)
    nvml.close()
    return report


def _over_allocation(manager: GpuManager, check: Check) -> dict[str, object]:
    """A tenant past its share fails inside itself; its neighbour keeps memory and runs."""
    if manager.mps is None or not manager.mps.available:
        print("  [note] no MPS daemon here: the over-allocation check is skipped")
        return {}
    greedy = manager.allocate("greedy", {"memory_mb": 1024})
    neighbour = manager.allocate("neighbour", {"memory_mb": 2048})
    try:
        check(greedy is not None and neighbour is not None, "allocate two memory shares")
        if greedy is None or neighbour is None:
            return {}
        check(greedy.enforcement == "mps", f"the 1024 MB share is held by: {greedy.enforcement}")
        check(greedy.gpu_id == neighbour.gpu_id, "both shares on one GPU (binpack)")
        held, ready = _start(neighbour.env, OVER, ("neighbour", "1024"))
        try:
            greedy_proc, over = _start(greedy.env, OVER, ("greedy", "2048"))
            _stop(greedy_proc)
            check(over.get("allocated") is False,
                  f"2048 MB past a 1024 MB share fails in the tenant: {over}")  # fmt: skip
            assert held.stdin is not None and held.stdout is not None
            held.stdin.write("go\n")
            held.stdin.flush()
            after = json.loads(held.stdout.readline() or "{}")
            check(after.get("intact") is True, "the neighbour's memory is intact")
            check(after.get("ran") is True, "the neighbour keeps running")
        finally:
            _stop(held)
        return {"greedy": over, "neighbour": {**ready, **after}}
    finally:
        manager.deallocate("greedy")
        manager.deallocate("neighbour")


def _with_mps(manager: GpuManager, check: Check, full_sms: object) -> dict[str, object]:
    """An MPS share, the daemon started by the manager (its env reaches the workload)."""
    if manager.mps is None or not manager.mps.available:
        print("  [note] nvidia-cuda-mps-control is not on PATH: the MPS step is skipped")
        return {}
    allocation: Allocation | None = manager.allocate(
        "mps-half", {"sharing": "mps", "compute_share": 50, "memory_mb": 4096}
    )
    check(allocation is not None, "allocate an MPS share of 50%")
    if allocation is None:
        return {}
    check(allocation.enforcement == "mps", f"the MPS share is held by: {allocation.enforcement}")
    print(f"  MPS allocation env: {allocation.env}")
    try:
        seen = _on_allocation(manager, "mps-half", check)
    finally:
        manager.deallocate("mps-half")
    print(f"  under MPS at 50%: {seen['sms']} of {full_sms} SMs visible to the workload")
    if isinstance(full_sms, int) and isinstance(seen["sms"], int):
        check(seen["sms"] < full_sms, f"MPS at 50%: {seen['sms']} SMs, fewer than {full_sms}")
    return seen
