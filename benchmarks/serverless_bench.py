"""Serverless core: warm overhead, cold starts, throughput, memory and scale.

Run: ``.venv/bin/python benchmarks/serverless_bench.py [--quick]``. Every figure is
printed beside the floor measured in the same run (a socketpair round trip between two
processes, one ``fork``, spawning ``python -c pass``), as BENCHMARKS.md reports them.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _util import percentiles, pss_mb, report, rss_mb

from constellation.platform import Constellation

HANDLER = "def noop(event, context):\n    return None\n"


def socketpair_round_trip_us(n: int) -> dict[str, float]:
    """The floor: one small message to another process and back."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        while True:
            data = theirs.recv(64)
            if not data:
                os._exit(0)
            theirs.sendall(data)
    theirs.close()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        ours.sendall(b"ping-pong-payload")
        ours.recv(64)
        samples.append((time.perf_counter() - t) * 1e6)
    ours.close()
    os.waitpid(pid, 0)
    return percentiles(samples)


def fork_ms(n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        samples.append((time.perf_counter() - t) * 1e3)
    return percentiles(samples)


def spawn_python_ms(n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        samples.append((time.perf_counter() - t) * 1e3)
    return percentiles(samples)


def warm_overhead_us(p: Constellation, n: int) -> dict[str, float]:
    s = p.serverless
    f = s.create_function("warm-noop", "python", "noop", str(CODE))
    s.deploy_function(f.id)
    for _ in range(200):
        s.invoke_sync(f.id)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        s.invoke_sync(f.id)
        samples.append((time.perf_counter() - t) * 1e6)
    return percentiles(samples)


def cold_start_ms(p: Constellation, n: int, optimised: bool) -> dict[str, object]:
    s = p.serverless
    name = "cold-opt" if optimised else "cold-plain"
    f = s.create_function(name, "python", "noop", str(CODE), scaling_policy={"idle_timeout_s": 0})
    s.deploy_function(f.id)
    if optimised:
        s.enable_cold_start_optimization(f.id)
    s.invoke_sync(f.id)
    totals, inits = [], []
    for _ in range(n):
        s.reap_idle()  # scale to zero: the next call is a cold start
        t = time.perf_counter()
        r = s.invoke_sync(f.id)
        totals.append((time.perf_counter() - t) * 1e3)
        assert r.cold_start and r.ok, r
        inits.append(r.init_duration_ms)
    return {"invoke_total_ms": percentiles(totals), "init_duration_ms": percentiles(inits)}


def throughput(p: Constellation, seconds: float, threads: int = 8) -> dict[str, float]:
    s = p.serverless
    f = s.create_function("tput", "python", "noop", str(CODE), concurrency=2)
    s.deploy_function(f.id)
    s.prewarm_function(f.id, instances=2)
    before = s.get_function_metrics(f.id).total_invocations
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        while time.perf_counter() < stop:
            r = s.invoke_sync(f.id, None, 30_000)
            counts[k] += r.ok

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    ledger = s.get_function_metrics(f.id).total_invocations - before
    return {
        "invocations_per_s": sum(counts) / elapsed,
        "invocations": sum(counts),
        "ledger_records": ledger,
        "threads": threads,
        "instances": 2,
    }


def memory(p: Constellation, instances: int = 4) -> dict[str, float]:
    s = p.serverless
    f = s.create_function("mem", "python", "noop", str(CODE))
    s.deploy_function(f.id)
    s.prewarm_function(f.id, instances=instances)
    pids = [i.pid for i in s.list_instances("mem")]
    pss = [pss_mb(pid) for pid in pids]
    return {
        "platform_rss_mb": rss_mb(),
        "instance_rss_mb": rss_mb(pids[0]),
        "instance_pss_mb_mean": sum(pss) / len(pss),
        "instances": len(pids),
    }


def idle_platform_rss_mb() -> float:
    """RSS of a fresh platform process that started its loops and sits idle."""
    code = (
        "import sys, time, tempfile\nfrom constellation.platform import Constellation\n"
        "p = Constellation(tempfile.mkdtemp()); p.serverless.init(); time.sleep(1.0)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])\n"
        "p.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def scale(p: Constellation, count: int) -> dict[str, float]:
    s = p.serverless
    t = time.perf_counter()
    for k in range(count):
        f = s.create_function(f"scale-{k}", "python", "noop", str(CODE))
        s.deploy_function(f.id)
    created = time.perf_counter() - t
    t = time.perf_counter()
    lookups = 100_000
    for k in range(lookups):
        s.get_function(f"scale-{k % count}")
    lookup_us = (time.perf_counter() - t) / lookups * 1e6
    return {
        "functions": count,
        "create_and_deploy_s": created,
        "per_function_ms": created / count * 1e3,
        "lookup_us": lookup_us,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    args = parser.parse_args()
    n_warm, n_cold, n_scale = (2000, 50, 100) if args.quick else (20000, 300, 1000)
    results: dict[str, object] = {}
    results["floor_socketpair_round_trip_us"] = socketpair_round_trip_us(n_warm)
    results["floor_fork_ms"] = fork_ms(n_cold)
    results["floor_spawn_python_ms"] = spawn_python_ms(min(n_cold, 50))
    results["idle_platform_rss_mb"] = idle_platform_rss_mb()
    with tempfile.TemporaryDirectory() as home:
        with Constellation(home) as p:
            p.serverless.init()
            # Measured here: the pool itself. The autoscaler would keep instances warm.
            p.serverless.autoscaler.close()
            results["warm_invoke_us"] = warm_overhead_us(p, n_warm)
            results["cold_start_optimised"] = cold_start_ms(p, n_cold, optimised=True)
            results["cold_start_plain"] = cold_start_ms(p, n_cold, optimised=False)
            results["throughput"] = throughput(p, 3.0 if args.quick else 10.0)
            results["memory"] = memory(p)
        with Constellation(Path(home) / "scale") as p:
            results["scale"] = scale(p, n_scale)
    warm = results["warm_invoke_us"]
    floor = results["floor_socketpair_round_trip_us"]
    assert isinstance(warm, dict) and isinstance(floor, dict)
    results["ratio_warm_p50_to_floor_p50"] = warm["p50"] / floor["p50"]
    report("serverless", results)


CODE = Path(tempfile.mkdtemp()) / "bench_handlers.py"
CODE.write_text(HANDLER)

if __name__ == "__main__":
    main()
