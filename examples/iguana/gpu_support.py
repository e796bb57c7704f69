"""The seed's "GPU Support" example (RADS ``main()``), in Python.

Run: ``.venv/bin/python examples/iguana/gpu_support.py`` (on a machine without GPUs it
reports none and why), or ``... --simulate tests/fixtures/gpu/nvidia-smi-xml/tesla-t4.xml``
to run it on a saved capture. It uses a private platform home in a temporary folder
unless ``CONSTELLATION_HOME`` is set. The seed deploys ``train_model.rads`` on the
allocated GPU; here the allocation's environment is printed instead (deploying it is the
platform's part: ``constellation.deploy(..., {"gpu": alloc.gpu_id, ...})``). The seed's
monitoring loop runs forever; here it takes ``--samples`` readings.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import constellation.gpu as gpu


def main(simulate: Path | None, samples: int, interval: float) -> None:
    if simulate is not None:
        discovery = gpu.Discovery([gpu.StaticBackend(gpu.load_capture(simulate), name="simulated")])
        gpu.set_manager(gpu.GpuManager(discovery=discovery))

    gpus = gpu.discover()
    print(f"Found {len(gpus)} GPU(s)")
    if not gpus:
        print("Why: " + (gpu.get_stats()["why_none"] or ""))
    for g in gpus:
        print(f"GPU {g.id}: {g.name}")
        print(f"  Memory: {g.memory_total} MB")
        print(f"  Utilization: {g.utilization}%")
        print(f"  Temperature: {g.temperature}°C")

    request = {"gpu_count": 1, "memory_mb": 4096, "exclusive": False, "min_compute_capability": 7.0}
    allocation = gpu.allocate("ml-worker-1", request)
    if allocation is None:
        print(f"No GPU allocated: {gpu.explain(request)}")
        return
    print(f"✅ GPU allocated: GPU {allocation.gpu_id}")
    print("  environment for ml-worker-1 (train_model.py, gpu_memory 4096):")
    for key, value in sorted(allocation.env.items()):
        print(f"    {key}={value}")
    for n in range(samples):
        util = gpu.get_utilization(allocation.gpu_id)
        print(f"GPU utilization: {util}%")
        if util is not None and util > 95.0:
            print("⚠️  GPU at capacity, consider scaling")
        if n + 1 < samples:
            time.sleep(interval)
    gpu.deallocate("ml-worker-1")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The seed's GPU example.")
    parser.add_argument("--simulate", type=Path, help="run on a saved capture")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    if "CONSTELLATION_HOME" not in os.environ:
        os.environ["CONSTELLATION_HOME"] = tempfile.mkdtemp(prefix="constellation-gpu-")
    try:
        main(args.simulate, args.samples, args.interval)
    finally:
        gpu.shutdown()
