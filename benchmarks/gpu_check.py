"""On a machine with a real NVIDIA GPU: check NVML against nvidia-smi, time both, save captures.

    .venv/bin/python benchmarks/gpu_check.py [--out tests/fixtures/gpu/real] [--loop-seconds 10]

1. Discovery through NVML (first call, with ``nvmlInit``, then warm) and through
   ``nvidia-smi`` (XML, then the CSV fallback), timed side by side. Targets: NVML
   <= 20 ms (issue), < 100 ms (seed).
2. The two paths must agree: names, UUIDs, memory total, MIG mode and MIG devices exactly;
   compute capability (the XML path looks it up by name); readings within tolerances,
   since they move between two calls.
3. One monitoring sample per GPU through NVML, timed (target <= 1 ms, seed < 10 ms), and
   the monitor loop at ``--interval`` for ``--loop-seconds``, its CPU use as a share of
   one core (target < 1 %).
4. An allocate/deallocate round trip on the real inventory.
5. The real outputs (``nvidia-smi -q -x``, ``--query-gpu`` CSV, ``--query-compute-apps``,
   ``-L``, NVML readings as JSON) saved under ``--out`` as new fixtures, serial numbers
   masked.
6. A real CUDA program (PyTorch, in a child process) started with an allocation's env:
   it must see exactly that GPU, and the monitor must attribute its memory to the
   allocation; with MPS at hand (the manager starts the daemon), the same under a 50%
   ``compute_share``; then the over-allocation check: a tenant with a 1024 MB share that
   allocates 2048 MB must fail inside itself while its neighbour on the same GPU keeps
   its memory intact and keeps running (``benchmarks/gpu_workload.py``; ``--no-workload``
   skips it; it runs only where a GPU, PyTorch with CUDA and MPS are present).

Exit status 1 when a check fails, 2 when there is no NVIDIA GPU here.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from constellation.gpu import Discovery, GpuManager, GpuMonitor, StaticBackend
from constellation.gpu._backend import Tool
from constellation.gpu._model import BackendError, Gpu
from constellation.gpu._nvidia_smi import APPS_FIELDS, QUERY_FIELDS, NvidiaSmiBackend, parse_xml
from constellation.gpu._nvml import NvmlBackend
from constellation.telemetry import Telemetry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_workload import run_workload

ROOT = Path(__file__).resolve().parents[1]
EXACT = ("uuid", "name", "memory_total", "mig_enabled")
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return samples, result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def agree(a: Gpu, b: Gpu, label: str) -> None:
    for field in EXACT:
        check(
            getattr(a, field) == getattr(b, field),
            f"{label} {a.id} {field}: {getattr(a, field)!r} vs {getattr(b, field)!r}",
        )
    if b.compute_capability is not None:
        check(
            a.compute_capability == b.compute_capability,
            f"{label} {a.id} compute capability {a.compute_capability} vs {b.compute_capability}",
        )
    else:
        print(f"  [note] {label} {a.id}: no compute capability for {b.name!r} on this path")
    check(
        abs((a.memory_used or 0) - (b.memory_used or 0)) <= max(256, 0.02 * (a.memory_total or 0)),
        f"{label} {a.id} memory used {a.memory_used} vs {b.memory_used} MB",
    )
    if a.temperature is not None and b.temperature is not None:
        check(
            abs(a.temperature - b.temperature) <= 5,
            f"{label} {a.id} temperature {a.temperature} vs {b.temperature} C",
        )
    check(
        (a.utilization is None) == (b.utilization is None),
        f"{label} {a.id} utilization N/A on both or neither ({a.utilization} vs {b.utilization})",
    )
    if a.power_limit is not None and b.power_limit is not None:
        check(
            abs(a.power_limit - b.power_limit) <= 1,
            f"{label} {a.id} power limit {a.power_limit} vs {b.power_limit} W",
        )
    mig_a = sorted((m.uuid or "", m.profile or "") for m in a.mig_devices)
    mig_b = sorted((m.uuid or "", m.profile or "") for m in b.mig_devices)
    if label == "xml" and all(not m.uuid for m in b.mig_devices):  # old schemas lack MIG UUIDs
        mig_a = sorted(p for _, p in mig_a)  # type: ignore[misc]
        mig_b = sorted(p for _, p in mig_b)  # type: ignore[misc]
    check(mig_a == mig_b, f"{label} {a.id} MIG devices {mig_a} vs {mig_b}")


def save(out: Path, tool: Tool, nvml_gpus: list[Gpu]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    mask = re.compile(r"(<serial>)[^<]*(</serial>)")
    outputs = {
        "nvidia-smi-q-x.xml": ["-q", "-x"],
        "query-gpu.csv": [f"--query-gpu={QUERY_FIELDS}", "--format=csv"],
        "query-compute-apps.csv": [f"--query-compute-apps={APPS_FIELDS}", "--format=csv"],
        "nvidia-smi-L.txt": ["-L"],
    }
    for name, args in outputs.items():
        try:
            text = tool.run(args)
        except BackendError as exc:
            text = f"# failed: {exc}\n"
        (out / name).write_text(mask.sub(r"\g<1>0000000000000\g<2>", text))
    (out / "nvml.json").write_text(json.dumps([g.as_dict() for g in nvml_gpus], indent=2) + "\n")
    version = nvml_gpus[0].driver_version if nvml_gpus else "?"
    (out / "README.md").write_text(
        f"# Real captures saved by benchmarks/gpu_check.py\n\n"
        f"- collected: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        f"- machine: {platform.platform()}\n- driver: {version}\n"
        f"- GPUs: {', '.join(g.name for g in nvml_gpus)}\n"
        f"- files: the stdout of `nvidia-smi` with the arguments in the file name "
        f"(query fields: `{QUERY_FIELDS}`; apps: `{APPS_FIELDS}`), serials masked; "
        f"`nvml.json` is what the NVML backend read.\n"
    )
    print(f"saved {len(outputs) + 2} files under {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "gpu" / "real")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--loop-seconds", type=float, default=10.0)
    parser.add_argument(
        "--no-workload", dest="workload", action="store_false", help="skip the CUDA program"
    )
    args = parser.parse_args()

    nvml = NvmlBackend()
    print("## 1. discovery")
    try:
        first, nvml_gpus = timed(nvml.discover, 1)
    except BackendError as exc:
        print(f"no NVIDIA GPU through NVML here: {exc}")
        return 2
    warm, nvml_gpus = timed(nvml.discover, args.repeat)
    smi = NvidiaSmiBackend(timeout=30)
    paths: dict[str, tuple[list[float], list[Gpu]]] = {}
    for label, run in (
        ("xml", lambda: parse_xml(smi.tool.run(["-q", "-x"]))),
        ("csv", smi._discover_csv),
    ):
        try:
            times, found = timed(run, max(3, args.repeat // 4))
            paths[label] = (times, found)  # type: ignore[assignment]
        except BackendError as exc:
            check(False, f"nvidia-smi {label} path: {exc}")
            paths[label] = ([float("nan")], [])
    xml_times, xml_gpus = paths["xml"]
    csv_times, csv_gpus = paths["csv"]
    assert isinstance(nvml_gpus, list)
    rows = [
        ("NVML, first call (import pynvml, nvmlInit, walk)", first[0], "<= 20 ms (seed < 100 ms)"),
        ("NVML, warm (median)", statistics.median(warm), "<= 20 ms (seed < 100 ms)"),
        ("nvidia-smi -q -x + parse (median)", statistics.median(xml_times), "peer"),
        ("nvidia-smi CSV path + parse (median)", statistics.median(csv_times), "peer"),
    ]
    for gpu in nvml_gpus:
        print(
            f"  {gpu.id} {gpu.name} {gpu.memory_total} MB cc={gpu.compute_capability} "
            f"mig={gpu.mig_enabled} ({len(gpu.mig_devices)} devices) util={gpu.utilization}"
        )

    print("## 2. NVML and nvidia-smi agree")
    for label, found in (("xml", xml_gpus), ("csv", csv_gpus)):
        if not found:
            continue  # that path's failure is already reported
        check(len(nvml_gpus) == len(found), f"{label} GPU count {len(found)} vs {len(nvml_gpus)}")
        for a, b in zip(nvml_gpus, found, strict=False):
            agree(a, b, label)

    print("## 3. monitoring")
    per_gpu, _ = timed(
        lambda: [nvml.sample(g.index) for g in nvml_gpus], max(100, args.repeat * 10)
    )
    sample_each = statistics.median(per_gpu) / max(1, len(nvml_gpus))
    rows.append(("one NVML sample, per GPU (median)", sample_each, "<= 1 ms (seed < 10 ms)"))
    manager = GpuManager(discovery=Discovery([nvml]))
    telemetry = Telemetry()
    monitor = GpuMonitor(manager, telemetry, interval_s=args.interval)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    monitor.start()
    time.sleep(args.loop_seconds)
    monitor.stop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    share = 100.0 * cpu / wall
    check(
        monitor.samples_taken >= 1,
        f"monitor loop took {monitor.samples_taken} samples in {wall:.1f} s",
    )
    check(bool(telemetry.find("gpu_memory_used_mb")), "monitor published gpu_memory_used_mb")

    print("## 4. allocation on the real inventory")
    with GpuManager(discovery=Discovery([StaticBackend(nvml_gpus)])) as alloc_manager:
        profiles = [m.profile for g in nvml_gpus for m in g.mig_devices if m.profile]
        whole = [g for g in nvml_gpus if not g.mig_enabled]
        request: dict[str, object] = {"memory_mb": 1024}
        if not whole and profiles:
            request = {"mig_profile": profiles[0]}
        allocation = alloc_manager.allocate("gpu-check", request)
        if whole or profiles:
            detail = allocation.env if allocation else alloc_manager.explain(request)
            check(allocation is not None, f"allocate {request}: {detail}")
        else:
            print("  [note] every GPU is in MIG mode without MIG devices: nothing to allocate")
        if allocation is not None:
            check(alloc_manager.deallocate("gpu-check"), "deallocate")

    print("## 5. saving the real outputs")
    save(args.out, smi.tool, nvml_gpus)

    print("## 6. a real CUDA program on an allocation")
    workload = run_workload(check) if args.workload else {}
    if workload:
        (args.out / "workload.json").write_text(json.dumps(workload, indent=2) + "\n")
    nvml.close()
    manager.close()

    print(
        f"\n## Figures ({nvml_gpus[0].name} x{len(nvml_gpus)}, driver {nvml_gpus[0].driver_version})\n"
    )
    print("| measure | time | target |")
    print("|---|---|---|")
    for name, seconds, target in rows:
        print(f"| {name} | {ms(seconds)} | {target} |")
    nvml_warm = statistics.median(warm)
    print(
        f"| monitor loop at {args.interval:g} s for {wall:.1f} s | {share:.3f} % of one core | < 1 % |"
    )
    print(
        f"\nnvidia-smi XML path / NVML warm: {statistics.median(xml_times) / nvml_warm:.0f}x; "
        f"CSV path / NVML warm: {statistics.median(csv_times) / nvml_warm:.0f}x"
    )
    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
