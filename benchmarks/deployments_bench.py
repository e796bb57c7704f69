"""Deployments benchmark: what supervision costs over bare subprocess calls.

Run: .venv/bin/python benchmarks/deployments_bench.py [--instances 20] [--restarts 20]

Each figure is printed beside a peer measured in the same run, on the same machine:
- deploy: ``deploy()`` of N instances (returns once every process is started), per
  instance, against ``subprocess.Popen([python, "-c", launcher])`` per process.
- crash restart gap: an instance that exits at once, restarted by the supervisor with a
  zero backoff; the time between two starts, against a bare ``while True:
  subprocess.run([python, script])`` loop (python start-up included in both).
- restart_instance: stop (SIGTERM) and start, against bare terminate + wait + Popen
  (rounds alternate between the two).
- supervisor CPU: the platform process's CPU time per second with N idle instances.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from constellation.config import Settings
from constellation.deployments import DeploymentManager
from constellation.store import Store

IDLE = "import time\nwhile True:\n    time.sleep(1)\n"
STAMP = (
    "import os, time\n"
    "with open(os.environ['STAMPS'], 'a') as fh:\n"
    "    fh.write(f'{time.time()}\\n')\n"
)


def bench_deploy(manager: DeploymentManager, script: Path, n: int) -> tuple[float, float]:
    # The peer first, then a pause, so neither start-up burst slows the other down.
    procs = []
    t0 = time.perf_counter()
    for _ in range(n):
        procs.append(subprocess.Popen([sys.executable, str(script)], start_new_session=True))
    peer = (time.perf_counter() - t0) / n
    for p in procs:
        p.kill()
        p.wait()
    time.sleep(2.0)
    t0 = time.perf_counter()
    manager.deploy("bench-idle", script=str(script), instances=n)
    ours = (time.perf_counter() - t0) / n
    return ours, peer


def gaps(stamps: Path, count: int) -> list[float]:
    times = [float(x) for x in stamps.read_text().split()][:count]
    return [b - a for a, b in itertools.pairwise(times)]


def bench_crash_gap(home: Path, script: Path, restarts: int) -> tuple[float, float]:
    stamps = home / "stamps-ours"
    os.environ["STAMPS"] = str(stamps)
    settings = Settings(home=home / "gap", restart_backoff_initial_s=0.0, restart_backoff_max_s=0.0)
    with (
        Store(settings.db_path) as store,
        DeploymentManager(store, settings, poll_interval_s=0.01) as m,
    ):
        m.deploy("bench-crash", script=str(script))
        while not stamps.exists() or len(stamps.read_text().split()) < restarts + 1:
            time.sleep(0.05)
    ours = statistics.median(gaps(stamps, restarts + 1))
    peer_stamps = home / "stamps-peer"
    os.environ["STAMPS"] = str(peer_stamps)
    for _ in range(restarts + 1):
        subprocess.run([sys.executable, str(script)], check=True)
    peer = statistics.median(gaps(peer_stamps, restarts + 1))
    return ours, peer


def bench_restart(manager: DeploymentManager, script: Path, rounds: int) -> tuple[float, float]:
    manager.deploy("bench-restart", script=str(script))
    iid = manager.list_instances("bench-restart")[0].id
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    # Rounds alternate ours and the peer, each after 0.3 s so the process has started up.
    ours, peer = [], []
    for _ in range(rounds):
        time.sleep(0.3)
        t0 = time.perf_counter()
        manager.restart_instance(iid)
        ours.append(time.perf_counter() - t0)
        time.sleep(0.3)
        t0 = time.perf_counter()
        proc.terminate()
        proc.wait()
        proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
        peer.append(time.perf_counter() - t0)
    proc.kill()
    proc.wait()
    return statistics.median(ours), statistics.median(peer)


def bench_idle_cpu(seconds: float) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    time.sleep(seconds)
    return (time.process_time() - c0) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        idle, stamp = home / "idle.py", home / "stamp.py"
        idle.write_text(IDLE)
        stamp.write_text(STAMP)
        settings = Settings(home=home / "main")
        with Store(settings.db_path) as store, DeploymentManager(store, settings) as manager:
            ours, peer = bench_deploy(manager, idle, args.instances)
            print(
                f"deploy, per instance ({args.instances}): {ours * 1e3:.2f} ms; "
                f"bare Popen {peer * 1e3:.2f} ms; ratio {ours / peer:.2f}"
            )
            cpu = bench_idle_cpu(5.0)
            print(
                f"supervisor CPU with {args.instances} idle instances (poll 0.1 s): "
                f"{cpu * 100:.2f}% of one core"
            )
            ours, peer = bench_restart(manager, idle, 20)
            print(
                f"restart_instance (median of 20): {ours * 1e3:.1f} ms; "
                f"bare terminate+wait+Popen {peer * 1e3:.1f} ms; ratio {ours / peer:.2f}"
            )
        ours, peer = bench_crash_gap(home, stamp, args.restarts)
        print(
            f"crash restart gap, backoff 0, poll 0.01 s (median of {args.restarts}): "
            f"{ours * 1e3:.1f} ms; bare run loop {peer * 1e3:.1f} ms; ratio {ours / peer:.2f}"
        )


if __name__ == "__main__":
    main()
