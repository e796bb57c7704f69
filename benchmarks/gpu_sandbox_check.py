"""Device check: a GPU function's instance runs CUDA inside its sandbox.

Run as root on a machine with an NVIDIA GPU, bubblewrap and torch:
``python benchmarks/gpu_sandbox_check.py``. It starts one instance of a function with a
GPU request through the local backend, sandbox on and then off, and prints what the
handler saw (uid, device name, a matmul's result, /dev) and the cold start and a warm
call's time.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from constellation.backends import FunctionSpec
from constellation.backends.local import LocalBackend
from constellation.config import Settings

HANDLER = """
import os
def handle(event, context):
    import torch
    x = torch.ones(2048, 2048, device="cuda")
    total = float((x @ x).sum().item())
    return {"uid": os.getuid(), "device": torch.cuda.get_device_name(0), "sum": total,
            "dev": sorted(os.listdir("/dev")), "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "sees_root": os.path.exists("/root"), "pid": os.getpid()}
"""


def run(sandbox: str) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp())
    code = home / "code" / "gpu"
    code.mkdir(parents=True)
    (code / "m.py").write_text(HANDLER)
    backend = LocalBackend(
        Settings(home=home, sandbox=sandbox),
        time.time,
        gpu_allocate=lambda owner, request: {"CUDA_VISIBLE_DEVICES": "0"},
        gpu_release=lambda owner: None,
    )
    backend._verify_code = lambda info: None  # type: ignore[method-assign]  # no store here
    info = FunctionSpec(
        id="f-gpu",
        name="gpu",
        runtime="python",
        entry="m:handle",
        code_hash="gpu",
        version=1,
        memory_mb=10240,
        timeout_s=300,
        gpu={"gpu_count": 1},
    )
    try:
        started = time.perf_counter()
        instance = backend.launch(info, 1)
        launch_ms = (time.perf_counter() - started) * 1e3
        body = orjson.dumps({"id": "1", "timeout_ms": 300000, "event": None})
        started = time.perf_counter()
        first = instance.invoke_raw(body, 300)
        first_ms = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        instance.invoke_raw(body, 300)
        warm_ms = (time.perf_counter() - started) * 1e3
        instance.close()
        return {
            "isolation": backend.isolation.describe(),
            "launch_ms": launch_ms,
            "first_call_ms": first_ms,
            "warm_call_ms": warm_ms,
            "reply": first,
        }
    finally:
        backend.close()


if __name__ == "__main__":
    for mode in ("auto", "off"):
        print(json.dumps({mode: run(mode)}, indent=1, default=str)[:3000], flush=True)
