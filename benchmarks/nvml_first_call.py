"""Where the first NVML discovery's time goes, on a machine with a real NVIDIA GPU.

    python3 benchmarks/nvml_first_call.py [--runs 5]

``benchmarks/gpu_check.py`` times the first discovery of a process (NVML loaded and
initialised, then every device walked) apart from the warm ones. NVML initialises once
per process, so each run here is a fresh interpreter that times, in order: importing
``pynvml``, loading ``libnvidia-ml.so``, ``nvmlInit`` (or ``nvmlInitWithFlags`` with
``NO_ATTACH``, which skips attaching the GPUs), and the first and second walk of the
devices by Constellation's NVML backend. Medians over ``--runs`` fresh processes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
t = [time.perf_counter()]
import pynvml
t.append(time.perf_counter())
pynvml._LoadNvmlLibrary()
t.append(time.perf_counter())
if sys.argv[1] == "no_attach":
    pynvml.nvmlInitWithFlags(pynvml.NVML_INIT_FLAG_NO_ATTACH)
else:
    pynvml.nvmlInit()
t.append(time.perf_counter())
from constellation.gpu._nvml import NvmlBackend
nvml = NvmlBackend(pynvml)
nvml._nvml = None
t.append(time.perf_counter())
nvml.discover()
t.append(time.perf_counter())
nvml.discover()
t.append(time.perf_counter())
steps = ["import pynvml", "load libnvidia-ml", "init", "import backend", "first walk", "warm walk"]
print(json.dumps({s: (b - a) * 1000 for s, a, b in zip(steps, t, t[1:])}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for mode in ("plain", "no_attach"):
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=120
            )
            if out.returncode != 0:
                print(f"{mode}: failed: {out.stderr.strip().splitlines()[-1:]}")
                break
            runs.append(json.loads(out.stdout))
        if not runs:
            continue
        print(f"\n{mode} (median of {len(runs)} fresh processes, ms)")
        for step in runs[0]:
            print(f"  {step:<18} {statistics.median(r[step] for r in runs):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
