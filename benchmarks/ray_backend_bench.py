"""The Ray backend: warm overhead, cold start (actor creation) and throughput.

Run: ``.venv/bin/python benchmarks/ray_backend_bench.py [--quick]``. In one run it measures
a no-op function invoked through the Ray backend, beside the same function on the local
backend and beside a plain Ray actor defined here (``ping`` returns its argument):

1. a plain Ray actor call round trip, ``ray.get(actor.ping.remote(b"x"))``;
2. a warm ``invoke_sync`` through the Ray backend (and its ratio to 1);
3. a warm ``invoke_sync`` through the local backend (the ray/local ratio);
4. cold starts on Ray (scale to zero, then ``invoke_sync``: an actor is created) beside a
   plain Ray actor's creation plus its first call;
5. throughput, 8 threads and 4 warm instances: Ray backend, local backend, and 4 plain
   actors called from 8 threads;
6. that throughput on a two-node ``ray.cluster_utils.Cluster`` (instances spread).

The plain Ray actor call is the peer: every Ray invocation is one such call (head ->
actor), plus the hop from the actor to its worker process and the platform's
bookkeeping, so the ratio to it is the cost of the backend over Ray itself. ``ray.init``
runs once per process, so 1-5 (a local single-node Ray) and 6 (the cluster) run in two
subprocesses of this script (``--part single`` / ``--part cluster``); their JSON is merged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from _util import machine, percentiles, report

from constellation.platform import Constellation
from constellation.serverless import ServerlessService

HANDLER = "def noop(event, context):\n    return None\n"
STORE_MB = 1024 * 1024
THREADS, INSTANCES = 8, 4
SETTINGS: dict[str, Any] = {"ledger_flush_interval_s": 0.05, "reaper_interval_s": 3600.0}
RESOURCES = {"num_cpus": 0.25}  # 4 instances fit a 2-CPU node


class Pinger:
    """The peer: a plain Ray actor whose method returns its argument."""

    def ping(self, data: bytes) -> bytes:
        return data


PingActor: Any = ray.remote(num_cpus=0)(Pinger)


def timed_us(call: Callable[[], object], n: int, warmup: int = 200) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1e6)
    return percentiles(samples)


def hammer(call: Callable[[int], object], seconds: float) -> dict[str, float]:
    """THREADS threads calling ``call(thread)`` for ``seconds``: calls per second."""
    counts = [0] * THREADS
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        while time.perf_counter() < stop:
            call(k)
            counts[k] += 1

    workers = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    return {"invocations_per_s": sum(counts) / elapsed, "invocations": sum(counts)}


def plain_call_us(n: int) -> dict[str, float]:
    actor = PingActor.remote()
    result = timed_us(lambda: ray.get(actor.ping.remote(b"x")), n)
    ray.kill(actor)
    return result


def plain_create_ms(n: int) -> dict[str, float]:
    """A plain actor's creation plus its first call (the peer of a cold start)."""
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        actor = PingActor.remote()
        ray.get(actor.ping.remote(b"x"))
        samples.append((time.perf_counter() - t) * 1e3)
        ray.kill(actor)
    return percentiles(samples)


def plain_throughput(seconds: float, spread: bool = False) -> dict[str, float]:
    options = {"scheduling_strategy": "SPREAD"} if spread else {}
    actors = [PingActor.options(**options).remote() for _ in range(INSTANCES)]
    ray.get([a.ping.remote(b"x") for a in actors])
    result = hammer(lambda k: ray.get(actors[k % INSTANCES].ping.remote(b"x")), seconds)
    for a in actors:
        ray.kill(a)
    return {**result, "threads": THREADS, "actors": INSTANCES}


def platform(home: Path, backend: str) -> Constellation:
    p = Constellation(home, backend=backend, **SETTINGS)
    p.serverless.init()
    # Measured here: the pool itself. The autoscaler would keep instances warm.
    p.serverless.autoscaler.close()
    return p


def warm_invoke_us(s: ServerlessService, n: int) -> dict[str, float]:
    f = s.create_function("warm", "python", "noop", str(CODE), resources=RESOURCES)
    s.deploy_function(f.id)
    return timed_us(lambda: s.invoke_sync(f.id), n)


def cold_start_ms(s: ServerlessService, n: int) -> dict[str, Any]:
    f = s.create_function(
        "cold",
        "python",
        "noop",
        str(CODE),
        resources=RESOURCES,
        scaling_policy={"idle_timeout_s": 0},
    )
    s.deploy_function(f.id)
    s.invoke_sync(f.id)
    totals, inits = [], []
    for _ in range(n):
        s.reap_idle()  # scale to zero: the next call creates an actor
        t = time.perf_counter()
        r = s.invoke_sync(f.id)
        totals.append((time.perf_counter() - t) * 1e3)
        assert r.cold_start and r.status == "success", r
        inits.append(r.init_duration_ms)
    return {"invoke_total_ms": percentiles(totals), "init_duration_ms": percentiles(inits)}


def throughput(s: ServerlessService, seconds: float) -> dict[str, Any]:
    f = s.create_function(
        "tput", "python", "noop", str(CODE), concurrency=INSTANCES, resources=RESOURCES
    )
    s.deploy_function(f.id)
    s.prewarm_function(f.id, instances=INSTANCES)
    deadline = time.monotonic() + 60
    while len(instances := s.list_instances(f.id)) < INSTANCES:
        assert time.monotonic() < deadline, instances
        time.sleep(0.05)

    def call(_: int) -> None:
        r = s.invoke_sync(f.id, None, 30_000)
        assert r.status == "success", r

    result = hammer(call, seconds)
    nodes: dict[str, int] = {}
    for i in s.list_instances(f.id):
        nodes[i.node[:12]] = nodes.get(i.node[:12], 0) + 1
    return {**result, "threads": THREADS, "instances": INSTANCES, "instances_per_node": nodes}


def part_single(quick: bool, home: Path) -> dict[str, Any]:
    n_warm, n_cold, secs = (500, 5, 2.0) if quick else (5000, 30, 10.0)
    ray.init(
        address="local",  # a new Ray, never one another process started here
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * STORE_MB,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    out: dict[str, Any] = {}
    try:
        out["plain_ray_call_us"] = plain_call_us(n_warm)
        out["plain_ray_actor_create_first_call_ms"] = plain_create_ms(n_cold)
        out["plain_ray_throughput"] = plain_throughput(secs)
        with platform(home / "ray", "ray") as p:
            out["ray_warm_invoke_us"] = warm_invoke_us(p.serverless, n_warm)
            out["ray_cold_start"] = cold_start_ms(p.serverless, n_cold)
            out["ray_throughput"] = throughput(p.serverless, secs)
        with platform(home / "local", "local") as p:
            out["local_warm_invoke_us"] = warm_invoke_us(p.serverless, n_warm)
            out["local_throughput"] = throughput(p.serverless, secs)
    finally:
        ray.shutdown()
    return out


def part_cluster(quick: bool, home: Path) -> dict[str, Any]:
    from ray.cluster_utils import Cluster

    secs = 2.0 if quick else 10.0
    store = 80 * STORE_MB
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "include_dashboard": False, "object_store_memory": store},
    )
    out: dict[str, Any] = {}
    try:
        cluster.add_node(num_cpus=2, object_store_memory=store)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
        out["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
        out["two_node_plain_ray_throughput"] = plain_throughput(secs, spread=True)
        with platform(home / "cluster", "ray") as p:
            out["two_node_ray_throughput"] = throughput(p.serverless, secs)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return out


def run_part(part: str, quick: bool) -> dict[str, Any]:
    """Run one part in a fresh process (``ray.init`` only once per process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "part.json"
        cmd = [sys.executable, __file__, "--part", part, "--json-out", str(out)]
        subprocess.run(cmd + (["--quick"] if quick else []), check=True, timeout=900)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def ratios(r: dict[str, Any]) -> dict[str, float]:
    def p50(key: str) -> float:
        return float(r[key]["p50"])

    def rate(key: str) -> float:
        return float(r[key]["invocations_per_s"])

    return {
        "ray_warm_p50_to_plain_call_p50": p50("ray_warm_invoke_us") / p50("plain_ray_call_us"),
        "ray_warm_p99_to_plain_call_p99": (
            r["ray_warm_invoke_us"]["p99"] / r["plain_ray_call_us"]["p99"]
        ),
        "ray_warm_p50_to_local_warm_p50": p50("ray_warm_invoke_us") / p50("local_warm_invoke_us"),
        "ray_cold_p50_to_plain_create_p50": (
            r["ray_cold_start"]["invoke_total_ms"]["p50"]
            / p50("plain_ray_actor_create_first_call_ms")
        ),
        "ray_tput_to_plain_tput": rate("ray_throughput") / rate("plain_ray_throughput"),
        "ray_tput_to_local_tput": rate("ray_throughput") / rate("local_throughput"),
        "two_node_ray_tput_to_plain_tput": (
            rate("two_node_ray_throughput") / rate("two_node_plain_ray_throughput")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--part", choices=["single", "cluster"], help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        with tempfile.TemporaryDirectory() as home:
            run = part_single if args.part == "single" else part_cluster
            Path(args.json_out).write_text(json.dumps(run(args.quick, Path(home))))
        return
    print(json.dumps({"machine": machine(), "ray": ray.__version__}), flush=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    results: dict[str, Any] = {"ray_version": ray.__version__, "load_avg_start": load_start}
    results.update(run_part("single", args.quick))
    results.update(run_part("cluster", args.quick))
    results["ratios"] = ratios(results)
    results["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report("ray_backend", results)


CODE = Path(tempfile.mkdtemp()) / "bench_handlers.py"
CODE.write_text(HANDLER)

if __name__ == "__main__":
    main()
