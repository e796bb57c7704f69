"""GPU benchmarks that need no GPU: allocation decisions at scale, and parse time per capture.

    .venv/bin/python benchmarks/gpu_bench.py [--gpus 1000] [--allocations 10000] [--decisions 2000]

1. Allocation decision on a simulated inventory of ``--gpus`` GPUs (real records from the
   captures, cycled) holding ``--allocations`` live allocations persisted in SQLite.
   Timed: ``can_allocate`` (validation + lock + placement), the placement alone, and a
   full ``allocate`` + ``deallocate`` pair (two SQLite writes). The peer measured in the
   same run is the naive decision: sum the live allocations per GPU, then scan the GPUs.
   Targets: <= 1 ms (issue), < 50 ms (seed).
2. Parse time of each capture in tests/fixtures/gpu with the production parsers (for an
   exporter capture: the ``--query-gpu``, ``--query-compute-apps`` and ``-L`` outputs it
   holds, as the backend receives them), beside the floor: the bare ``json.loads`` /
   ``ElementTree.fromstring`` / ``csv`` read of the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from constellation.gpu import Discovery, GpuManager, GpuRequest, StaticBackend, load_capture
from constellation.gpu._capture import query_section, read_sections
from constellation.gpu._nvidia_smi import parse_csv
from constellation.store import Store

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "gpu"


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def inventory(n: int) -> list:
    base = [
        g
        for p in sorted((FIXTURES / "nvidia-smi-xml").glob("*.xml"))
        for g in load_capture(p)
        if not g.mig_enabled
    ]
    base += load_capture(FIXTURES / "nvidia-smi-csv" / "linux-x86_64__nvidia-l40s__595.80.txt")
    base += load_capture(FIXTURES / "rocm-smi-json" / "mi100_rocm602.json")
    gpus = []
    for i in range(n):
        g = base[i % len(base)]
        gpus.append(g.with_(index=i, uuid=f"GPU-sim-{i:06d}", pci_bus_id=None))
    return gpus


def naive_decision(allocations: list[tuple[int, int]], totals: list[int], need: int) -> int | None:
    """The peer: recompute committed memory from every live allocation, then scan."""
    committed = [0] * len(totals)
    for position, memory in allocations:
        committed[position] += memory
    best = None
    for position, total in enumerate(totals):
        free = total - committed[position]
        if free >= need and (best is None or free < best[0]):
            best = (free, position)
    return None if best is None else best[1]


def bench_allocation(n_gpus: int, n_allocs: int, decisions: int) -> dict[str, float]:
    rng = random.Random(7)
    gpus = inventory(n_gpus)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        manager = GpuManager(store, Discovery([StaticBackend(gpus)]))
        start = time.perf_counter()
        live = []
        for i in range(n_allocs):
            request = {"memory_mb": rng.choice([256, 512, 1024, 2048]), "vendor": None}
            if manager.allocate(f"live-{i}", request) is not None:
                live.append(f"live-{i}")
        fill_s = time.perf_counter() - start
        allocator = manager._alloc()
        requests = [
            GpuRequest(memory_mb=rng.choice([1024, 4096, 8192]), min_compute_capability=7.0)
            for _ in range(decisions)
        ]
        it = iter(requests * 3)
        can = timed(lambda: manager.can_allocate(next(it)), decisions)
        place = timed(lambda: allocator.plan(next(it)), decisions)
        pairs: list[float] = []
        for i, request in enumerate(requests[: decisions // 4]):
            t0 = time.perf_counter()
            manager.allocate(f"bench-{i}", request)
            manager.deallocate(f"bench-{i}")
            pairs.append(time.perf_counter() - t0)
        flat = [(a[0].positions[0], a[0].memory_mb) for a in manager._grants.values()]
        totals = [int(t) for t in allocator.total]
        naive = timed(lambda: naive_decision(flat, totals, 4096), max(50, decisions // 20))
        manager.close()
    return {
        "live": len(live),
        "fill_s": fill_s,
        "can_p50": pct(can, 0.5),
        "can_p99": pct(can, 0.99),
        "plan_p50": pct(place, 0.5),
        "pair_p50": pct(pairs, 0.5),
        "naive_p50": pct(naive, 0.5),
    }


def floor_parse(path: Path) -> Callable[[], object]:
    text = path.read_text(errors="replace")
    if path.suffix == ".xml":
        return lambda: ET.fromstring(text.encode())
    if path.suffix == ".json":
        return lambda: json.loads(text)
    section = query_section(read_sections(text), "idle", "nvidia-smi --query-gpu=")
    body = section.body if section else ""
    return lambda: list(csv.reader(io.StringIO(body)))


def production_parse(path: Path) -> Callable[[], object]:
    """What a backend parses: the tool's output (for an exporter capture, its sections)."""
    if path.suffix != ".txt":
        return lambda: load_capture(path)
    sections = read_sections(path.read_text(errors="replace"))
    parts = [
        query_section(sections, "idle", prefix)
        for prefix in (
            "nvidia-smi --query-gpu=",
            "nvidia-smi --query-compute-apps=",
            "nvidia-smi -L",
        )
    ]
    query, apps, listing = (p.body if p else "" for p in parts)
    return lambda: parse_csv(query, apps, listing)


def bench_parsing(repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".xml", ".json", ".txt"))
    files = [p for p in files if "amd-smi" not in p.parts and "xpu-smi" not in p.parts]
    folders = [FIXTURES / "amd-smi" / "r9700-gpu-data", FIXTURES / "xpu-smi" / "flex-doc"]
    for path in files + folders:
        parse = statistics.median(timed(production_parse(path), repeat))
        floor = (
            statistics.median(timed(floor_parse(path), repeat)) if path.is_file() else float("nan")
        )
        rows.append((str(path.relative_to(FIXTURES)), parse, floor))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpus", type=int, default=1000)
    parser.add_argument("--allocations", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--parse-repeat", type=int, default=20)
    args = parser.parse_args()
    a = bench_allocation(args.gpus, args.allocations, args.decisions)
    us = 1e6
    print(f"## Allocation decision: {args.gpus} GPUs, {a['live']} live allocations")
    print(f"(filling them took {a['fill_s']:.2f} s, SQLite writes included)\n")
    print("| measure | median | p99 | target | naive peer (median) | peer / ours |")
    print("|---|---|---|---|---|---|")
    ratio = a["naive_p50"] / a["can_p50"]
    print(
        f"| can_allocate (decision) | {a['can_p50'] * us:.0f} us | {a['can_p99'] * us:.0f} us "
        f"| <= 1 ms (seed < 50 ms) | {a['naive_p50'] * us:.0f} us | {ratio:.1f}x |"
    )
    print(f"| placement alone | {a['plan_p50'] * us:.0f} us | | | | |")
    print(f"| allocate + deallocate (2 SQLite writes) | {a['pair_p50'] * us:.0f} us | | | | |")
    print("\n## Parse time per capture (median of repeats)\n")
    print("| capture | parse | bare load of the same bytes | parse / bare |")
    print("|---|---|---|---|")
    for name, parse, floor in bench_parsing(args.parse_repeat):
        ratio_text = f"{parse / floor:.1f}x" if floor == floor else "-"
        floor_text = f"{floor * us:.0f} us" if floor == floor else "-"
        print(f"| {name} | {parse * us:.0f} us | {floor_text} | {ratio_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
