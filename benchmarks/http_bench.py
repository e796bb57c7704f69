"""HTTP gateway: trigger throughput and latency vs bare Starlette, scale from zero, timer lag.

Run: ``.venv/bin/python benchmarks/http_bench.py [--quick]`` (needs ``wrk``: the Debian
package). In the same run it measures

* ``constellation serve`` (a subprocess, auth off on loopback) with an HTTP trigger to a
  no-op Python function, and a bare Starlette hello-world under the same uvicorn
  settings (uvloop + httptools, one process): wrk at 1 connection (p50 latency) and at
  16 connections (throughput), keep-alive;
* scale from zero: the first response of a function with no instance, beside the cold
  start the platform itself records for that invocation;
* timer lag: a ``rate(1 second)`` timer on a warm function; the handler's start time
  minus the scheduled time.

* with ``--ray-python PATH`` (a Python with ``ray[serve]``, a benchmark-only dependency
  kept out of the project's venv): Ray Serve serving the same no-op handler, one
  replica, wrk at 16 connections, alternated with the trigger.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from _util import percentiles, report

NOOP = "def handler(event, context):\n    return None\n"
LAG = textwrap.dedent(
    """
    import time

    def handler(event, context):
        print("lag", time.time() - event["scheduled_at"], event["fired_at"] - event["scheduled_at"])
    """
)
BARE = textwrap.dedent(
    """
    import sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request):
        return JSONResponse(None)

    app = Starlette(routes=[Route("/noop", hello)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False, server_header=False, date_header=False)
    """
)


RAY = textwrap.dedent(
    """
    import sys, time
    import ray
    from ray import serve

    def handler(event, context):
        return None

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})

    @serve.deployment(num_replicas=1, max_ongoing_requests=64)
    class Noop:
        async def __call__(self, request):
            return handler({}, None)

    serve.run(Noop.bind(), route_prefix="/noop")
    print("READY", flush=True)
    while True:
        time.sleep(3600)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, connections: int, seconds: int) -> dict[str, float]:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert p50 and p99 and rps, out
    return {
        "rps": float(rps.group(1)),
        "p50_ms": float(p50.group(1)) * _UNITS[p50.group(2)],
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)],
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def create(api: httpx.Client, name: str, code: str, **fields: Any) -> None:
    r = api.post("/api/v1/functions", json={"name": name, "code": code, **fields})
    r.raise_for_status()


class RawClient:
    """A keep-alive HTTP/1.1 GET over a plain socket, so that a single response's time is
    the server's: httpx spends about 1 ms of its own on a request here, five times what a
    whole warm trigger request takes over this socket (wrk does the same for load)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers["content-length"]):
            body += self.sock.recv(65536)
        return int(lines[0].split()[1]), headers, body

    def close(self) -> None:
        self.sock.close()


def scale_from_zero(api: httpx.Client, port: int, n: int) -> dict[str, Any]:
    """Fresh functions (no instance yet): first response time vs the recorded cold start."""
    first_ms, cold_ms, extra_ms = [], [], []
    client = RawClient(port)
    try:
        client.get("/healthz")  # keep-alive connection already open
        for i in range(n):
            name = f"cold{i}"
            create(api, name, NOOP, triggers=[{"type": "http", "path": f"/cold/{i}"}])
            t0 = time.perf_counter()
            status, headers, body = client.get(f"/cold/{i}")
            first_ms.append((time.perf_counter() - t0) * 1000)
            assert status == 200, body
            rid = headers["x-request-id"]
            inv = api.get(f"/api/v1/invocations/{rid}").json()
            assert inv["state"] == "succeeded"
            metrics = api.get(f"/api/v1/functions/{name}/metrics").json()
            cold_ms.append(metrics["average_cold_start_ms"])
            extra_ms.append(first_ms[-1] - cold_ms[-1])
    finally:
        client.close()
    return {
        "first_response_ms": percentiles(first_ms),
        "cold_start_ms": percentiles(cold_ms),
        "first_response_minus_cold_start_ms": percentiles(extra_ms),
        "target": "first response p50 <= cold start p50 + 2 ms",
    }


def read_lags(api: httpx.Client) -> tuple[list[float], list[float]]:
    logs = api.get("/api/v1/functions/lag/logs?limit=1000").json()["logs"]
    handler, decided = [], []
    for entry in logs:
        for line in entry["logs"].splitlines():
            if line.startswith("lag "):
                _, a, b = line.split()
                handler.append(float(a) * 1000)
                decided.append(float(b) * 1000)
    return handler, decided


def ray_serve(python: str, trigger_url: str, seconds: int, rounds: int) -> dict[str, Any]:
    """Ray Serve with the same handler, alternated with the trigger at 16 connections."""
    port = free_port()
    proc = subprocess.Popen(
        [python, "-c", RAY, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # ray's own processes go with its group
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("READY"):
                break
        else:
            raise SystemExit("Ray Serve did not start")
        url = f"http://127.0.0.1:{port}/noop"
        wrk(url, 4, 2)
        runs = [(wrk(trigger_url, 16, seconds), wrk(url, 16, seconds)) for _ in range(rounds)]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(60)
    return {
        "trigger_rps": [o["rps"] for o, _ in runs],
        "ray_serve_rps": [r["rps"] for _, r in runs],
        "ray_serve_p50_ms": [r["p50_ms"] for _, r in runs],
        "errors": sum(o["errors"] + r["errors"] for o, r in runs),
        "trigger_over_ray_median": statistics.median(o["rps"] / r["rps"] for o, r in runs),
        "target": "trigger >= 5x Ray Serve",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ray-python", help="a Python with ray[serve] installed")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    seconds = 3 if args.quick else 8
    home = Path(tempfile.mkdtemp(prefix="http-bench-"))
    env = {**os.environ, "CONSTELLATION_HOME": str(home)}
    port, bare_port = free_port(), free_port()
    cli = Path(sys.executable).with_name("constellation")
    ours = subprocess.Popen(
        [str(cli), "serve", "--no-auth", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = subprocess.Popen(
        [sys.executable, "-c", BARE, str(bare_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}/noop"
    results: dict[str, Any] = {}
    try:
        wait_up(base + "/healthz", ours)
        wait_up(bare_url, bare)
        api = httpx.Client(base_url=base, timeout=60)
        create(
            api,
            "noop",
            NOOP,
            concurrency=4,
            triggers=[{"type": "http", "path": "/noop", "method": "GET"}],
        )
        api.patch("/api/v1/functions/noop", json={"prewarm_instances": 2}).raise_for_status()
        api.post("/api/v1/functions/noop/deploy").raise_for_status()
        trigger_url = base + "/noop"
        wrk(trigger_url, 4, 2)  # warm both
        wrk(bare_url, 4, 2)
        rounds = 1 if args.quick else 3
        for connections in (1, 16):
            # Alternate the two servers and take medians: the machine is shared and noisy.
            runs = [
                (wrk(trigger_url, connections, seconds), wrk(bare_url, connections, seconds))
                for _ in range(rounds)
            ]
            results[f"c{connections}"] = {
                "trigger_rps": [o["rps"] for o, _ in runs],
                "bare_rps": [b["rps"] for _, b in runs],
                "trigger_p50_ms": [o["p50_ms"] for o, _ in runs],
                "bare_p50_ms": [b["p50_ms"] for _, b in runs],
                "errors": sum(o["errors"] + b["errors"] for o, b in runs),
                "throughput_ratio_median": statistics.median(o["rps"] / b["rps"] for o, b in runs),
                "trigger_p50_ms_median": statistics.median(o["p50_ms"] for o, _ in runs),
                "bare_p50_ms_median": statistics.median(b["p50_ms"] for _, b in runs),
            }
        results["targets"] = {
            "throughput": ">= 40% of bare Starlette (c16)",
            "p50_at_1_connection": "<= 1 ms",
        }
        results["scale_from_zero"] = scale_from_zero(api, port, 5 if args.quick else 15)
        create(api, "lag", LAG, concurrency=2)
        api.patch("/api/v1/functions/lag", json={"prewarm_instances": 1}).raise_for_status()
        api.post("/api/v1/functions/lag/deploy").raise_for_status()
        spec = {"type": "timer", "schedule": "rate(1 second)"}
        api.post("/api/v1/functions/lag/triggers", json=spec).raise_for_status()
        time.sleep(seconds + 1.5)
        handler, decided = read_lags(api)
        results["timer_lag"] = {
            "handler_start_minus_schedule_ms": percentiles(handler),
            "decision_minus_schedule_ms": percentiles(decided),
            "target": "fires within 100 ms of the schedule",
        }
        if args.ray_python:
            results["ray_serve"] = ray_serve(args.ray_python, trigger_url, seconds, rounds)
    finally:
        ours.terminate()
        bare.terminate()
        ours.wait(30)
        bare.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    report("http_bench", results)


if __name__ == "__main__":
    main()
