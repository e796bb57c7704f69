"""API Gateway events and CloudEvents ingress: throughput beside their peers, same run.

Run: ``.venv/bin/python benchmarks/events_bench.py [--quick] [--rounds N]`` (needs ``wrk``). One
``constellation serve --no-auth`` subprocess; wrk at 16 connections, keep-alive; the
pairs alternate and the medians of their ratios are reported (the machine is shared):

* ``apigw``: an HTTP trigger with ``"event_format": "apigw-v1"`` against one with the
  default format, each to a warm no-op function (2 prewarmed instances, concurrency 4);
  the apigw handler answers ``{"statusCode": 200, "body": "null"}``, the default one
  ``None``: the same response bytes, so the ratio is the cost of building the API
  Gateway event and reading its answer;
* ``cloudevents_ingress``: ``POST /api/v1/events`` in binary mode (one event a request)
  while no trigger listens (parse, check, the subscription lookup: the ingress alone),
  beside two peers on the same server: ``GET /api/v1/functions`` (a management API
  request through the same Starlette app) and ``GET /healthz`` (the server's floor);
* ``cloudevents_to_a_trigger``: then with an event trigger on a no-op function, binary
  mode and batch mode (100 events a request); every event is queued durably and
  consumed (an invocation) in the same process meanwhile. Events per second are
  requests per second times events per request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from _util import report
from http_bench import create, free_port, wait_up, wrk

NOOP = "def handler(event, context):\n    return None\n"
PROXY = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'null'}\n"
POST_LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["content-type"] = "{content_type}"
{headers}
"""


def _script(folder: Path, name: str, body: str, content_type: str, headers: dict[str, str]) -> str:
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    path = folder / f"{name}.lua"
    path.write_text(
        POST_LUA.format(body=json.dumps(body), content_type=content_type, headers=lines)
    )
    return str(path)


def _wrk_post(url: str, script: str, seconds: int) -> dict[str, float]:
    # http_bench.wrk with a Lua script for the POST
    import re

    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert rps, out
    return {"rps": float(rps.group(1)), "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of each pair")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    seconds = 3 if args.quick else 6
    rounds = 1 if args.quick else args.rounds
    home = Path(tempfile.mkdtemp(prefix="events-bench-"))
    env = {**os.environ, "CONSTELLATION_HOME": str(home)}
    port = free_port()
    cli = Path(sys.executable).with_name("constellation")
    server = subprocess.Popen(
        [str(cli), "serve", "--no-auth", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        wait_up(base + "/healthz", server)
        api = httpx.Client(base_url=base, timeout=60)
        for name, code, fmt in (("plain", NOOP, "default"), ("apigw", PROXY, "apigw-v1")):
            trigger = {"type": "http", "path": f"/{name}", "method": "GET", "event_format": fmt}
            create(api, name, code, concurrency=4, triggers=[trigger])
            api.patch(f"/api/v1/functions/{name}", json={"prewarm_instances": 2})
            api.post(f"/api/v1/functions/{name}/deploy").raise_for_status()
            wrk(f"{base}/{name}", 4, 2)  # warm
        pairs = [
            (wrk(f"{base}/apigw", 16, seconds), wrk(f"{base}/plain", 16, seconds))
            for _ in range(rounds)
        ]
        results["apigw_v1_vs_default_c16"] = {
            "apigw_v1_rps": [a["rps"] for a, _ in pairs],
            "default_rps": [d["rps"] for _, d in pairs],
            "errors": sum(a["errors"] + d["errors"] for a, d in pairs),
            "ratio_median": statistics.median(a["rps"] / d["rps"] for a, d in pairs),
        }
        folder = Path(tempfile.mkdtemp(prefix="events-lua-"))
        ce = {"ce-specversion": "1.0", "ce-id": "b-1", "ce-source": "/bench"}
        events_url = f"{base}/api/v1/events"
        # Phase 1, nothing listens: the ingress alone beside two peers on the same server.
        unheard = _script(
            folder, "unheard", '{"n": 1}', "application/json", {**ce, "ce-type": "nobody.one"}
        )
        alone = [
            (
                _wrk_post(events_url, unheard, seconds),
                wrk(f"{base}/api/v1/functions", 16, seconds),
                wrk(f"{base}/healthz", 16, seconds),
            )
            for _ in range(rounds)
        ]
        results["cloudevents_ingress_c16"] = {
            "events_per_s": [u["rps"] for u, _, _ in alone],
            "list_functions_rps": [f["rps"] for _, f, _ in alone],
            "healthz_rps": [h["rps"] for _, _, h in alone],
            "errors": sum(u["errors"] for u, _, _ in alone),
            "events_per_s_median": statistics.median(u["rps"] for u, _, _ in alone),
            "vs_list_functions_median": statistics.median(u["rps"] / f["rps"] for u, f, _ in alone),
            "vs_healthz_median": statistics.median(u["rps"] / h["rps"] for u, _, h in alone),
        }
        # Phase 2, a trigger listens: the events are queued and consumed meanwhile.
        create(api, "sink", NOOP, concurrency=4)
        spec = {"type": "event", "event_type": "bench.*", "name": "sink", "batch_size": 100}
        api.post("/api/v1/functions/sink/triggers", json=spec).raise_for_status()
        binary = _script(
            folder, "binary", '{"n": 1}', "application/json", {**ce, "ce-type": "bench.one"}
        )
        event = {"specversion": "1.0", "id": "b", "source": "/bench", "type": "bench.many"}
        batch = _script(
            folder,
            "batch",
            json.dumps([{**event, "id": f"b-{i}", "data": {"n": i}} for i in range(100)]),
            "application/cloudevents-batch+json",
            {},
        )
        _wrk_post(events_url, binary, 2)  # the subscription is registered by now
        runs = [
            (_wrk_post(events_url, binary, seconds), _wrk_post(events_url, batch, seconds))
            for _ in range(rounds)
        ]
        results["cloudevents_to_a_trigger_c16"] = {
            "binary_events_per_s": [b["rps"] for b, _ in runs],
            "batch100_events_per_s": [m["rps"] * 100 for _, m in runs],
            "errors": sum(b["errors"] + m["errors"] for b, m in runs),
            "binary_events_per_s_median": statistics.median(b["rps"] for b, _ in runs),
            "batch100_events_per_s_median": statistics.median(m["rps"] * 100 for _, m in runs),
        }
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    report("events_bench", results)


if __name__ == "__main__":
    main()
