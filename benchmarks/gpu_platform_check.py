"""On a machine with a real NVIDIA GPU and PyTorch: GPU functions and deployments end to end.

    python3 benchmarks/gpu_platform_check.py

1. Why a GPU instance's memory limit is RLIMIT_DATA: a fresh process starts CUDA under
   RLIMIT_AS (its address space now + 4 GB), then under RLIMIT_DATA (its data now + 4 GB).
2. A serverless function with a ``gpu`` request, on a platform that discovers the real
   GPU: its handler starts CUDA lazily, allocates 1 GiB on the GPU and multiplies
   matrices; it must see exactly the allocated GPU; the cold and warm calls are timed;
   deleting the function gives the GPU back.
3. A deployment with a ``gpu`` request: its script sees the allocated GPU (its log says
   so) and undeploying gives the GPU back.

Exit status 1 when a check fails, 2 when there is no GPU or no PyTorch with CUDA.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from constellation.platform import Constellation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_workload import has_cuda_torch

failures: list[str] = []

HANDLER = """
import os


def handler(event, context):
    import torch  # CUDA starts here, after the instance's memory limit is set

    props = torch.cuda.get_device_properties(0)
    block = torch.empty(1024 ** 3, dtype=torch.uint8, device="cuda")
    a = torch.randn(2048, 2048, device="cuda")
    total = float((a @ a).sum().item())
    del block
    return {"uuid": "GPU-" + str(props.uuid), "count": torch.cuda.device_count(),
            "visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "finite": total == total}
"""

SCRIPT = """
import time, torch
props = torch.cuda.get_device_properties(0)
x = torch.ones(1024, 1024, device="cuda")
print("deployment sees", torch.cuda.device_count(), "GPU-" + str(props.uuid), flush=True)
time.sleep(120)
"""

UNDER_LIMIT = """
import resource, sys
kind = sys.argv[1]
if kind == "AS":
    with open("/proc/self/statm") as f:
        base = int(f.read().split()[0]) * resource.getpagesize()
else:
    with open("/proc/self/status") as f:
        base = int(next(l for l in f if l.startswith("VmData:")).split()[1]) * 1024
limit = base + 4 * 1024 ** 3
resource.setrlimit(getattr(resource, "RLIMIT_" + kind), (limit, limit))
import torch
try:
    x = torch.ones(256, 1024, 1024, device="cuda")
    print("ok", float(x.sum().item()))
except Exception as exc:
    print("failed:", str(exc).splitlines()[0])
"""


def check(ok: bool, what: str) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


def limits() -> None:
    print("## 1. CUDA under RLIMIT_AS and under RLIMIT_DATA (base + 4 GB)")
    for kind in ("AS", "DATA"):
        out = subprocess.run(
            [sys.executable, "-c", UNDER_LIMIT, kind], capture_output=True, text=True, timeout=180
        )
        said = out.stdout.strip() or out.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"  RLIMIT_{kind}: {said if isinstance(said, str) else said[0]}")
        if kind == "DATA":
            check(out.stdout.startswith("ok"), "CUDA starts and allocates under RLIMIT_DATA")


def function(platform: Constellation, work: Path) -> None:
    print("## 2. a serverless function with a gpu request")
    code = work / "infer.py"
    code.write_text(HANDLER)
    sls = platform.serverless
    info = sls.create_function(
        "infer",
        "python",
        "handler",
        str(code),
        memory_mb=4096,
        timeout_s=120,
        gpu={"memory_mb": 8192},
    )
    timings = []
    for call in ("cold", "warm", "warm"):
        start = time.perf_counter()
        result = sls.invoke_sync(info.id, {})
        timings.append((call, time.perf_counter() - start))
        check(result.ok, f"{call} call: {result.status} {result.error or ''}".strip())
        if not result.ok:
            return
    owner = f"function:infer:{result.instance_id}"
    allocation = platform.gpu.get_allocation(owner)
    check(allocation is not None, f"{owner} holds an allocation")
    gpu_uuid = platform.gpu.discover()[0].uuid
    out = result.output
    check(out["count"] == 1 and out["uuid"] == gpu_uuid, f"the handler sees {out}")
    check(out["visible"] == gpu_uuid, "CUDA_VISIBLE_DEVICES is the GPU's UUID")
    for call, seconds in timings:
        what = "instance start, torch import, CUDA start, " if call == "cold" else ""
        print(f"  {call} call ({what}1 GiB on the GPU, matmul): {seconds * 1000:.1f} ms")
    sls.delete_function(info.id)
    check(platform.gpu.allocations() == [], "deleting the function gave the GPU back")


def deployment(platform: Constellation, work: Path) -> None:
    print("## 3. a deployment with a gpu request")
    script = work / "train_model.py"
    script.write_text(SCRIPT)
    platform.deploy("trainer", {"script": str(script), "gpu": {"memory_mb": 4096}})
    gpu_uuid = platform.gpu.discover()[0].uuid
    deadline, text = time.monotonic() + 120, ""
    while time.monotonic() < deadline and "deployment sees" not in text:
        time.sleep(0.5)
        instances = platform.deployments.list_instances("trainer")
        logs = [platform.deployments.log_path(i.id) for i in instances]
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
    check(f"deployment sees 1 {gpu_uuid}" in text, f"the script's log: {text.strip()[-200:]!r}")
    platform.undeploy("trainer")
    check(platform.gpu.allocations() == [], "undeploying gave the GPU back")


def main() -> int:
    if not has_cuda_torch():
        print("no PyTorch with CUDA here")
        return 2
    limits()
    with tempfile.TemporaryDirectory() as tmp, Constellation(Path(tmp) / "home") as platform:
        gpus = platform.gpu.discover()
        print(f"GPUs: {[(g.id, g.name) for g in gpus]}")
        if not gpus:
            return 2
        function(platform, Path(tmp))
        deployment(platform, Path(tmp))
    print(json.dumps({"failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
