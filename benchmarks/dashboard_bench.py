"""The dashboard: first render with 1,000 functions and a day of metrics, measured in
Chromium, and the server's CPU per connected browser for live updates.

A store is filled with ``--functions`` functions (made through the Python API) and a day
of per-minute rollups for each (written straight into ``ledger_rollup``, the table the
ledger keeps: 1,000 functions x 1,440 minutes = 1.44 M rows; running that many real
invocations would take hours). ``constellation serve`` then runs on it as a separate
process, so its CPU time (``/proc/PID/stat``) is the server's alone.

* First render: Chromium (the system's, through Playwright) logs in once, then loads
  ``/#/`` ``--loads`` times; the figure is ``performance.mark("rendered:overview")``'s
  time since navigation start (HTML, scripts, the data request, the table drawn). The
  function page (a day of minutes in six charts) is measured the same way. The limit is
  the issue's 300 ms; the ratio is measured / limit.
* Live updates: N event streams (``/ui/events``, what each open dashboard tab keeps) are
  held for ``--seconds`` while the server's CPU is read; the idle server is measured the
  same way first, in the same run. Streams on the same view share one computation per
  second, so the cost per browser is the cost of sending; N browsers each on a different
  function's page is the case where nothing is shared.

Usage: ``python benchmarks/dashboard_bench.py [--functions 1000] [--screenshot PNG]``
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import report

from constellation.platform import Constellation
from constellation.server import ensure_token
from constellation.serverless._sketch import encode_values

LIMIT_MS = 300.0
HANDLER = "def handler(event, context):\n    return event\n"
TICK = os.sysconf("SC_CLK_TCK")


def fill(home: Path, functions: int, minutes: int, seed: int = 11) -> None:
    code = home.parent / "handler.py"
    code.write_text(HANDLER)
    with Constellation(home, background=False) as platform:
        for i in range(functions):
            platform.serverless.create_function(f"fn-{i:04d}", "python", "handler", str(code))
        ids = [f.id for f in platform.serverless.list_functions()]
        db = platform.settings.db_path
    rng = random.Random(seed)
    blobs = [encode_values([rng.lognormvariate(3, 0.6) for _ in range(20)]) for _ in range(64)]
    now_minute = int(time.time() // 60)
    conn = sqlite3.connect(db)
    with conn:
        for fid in ids:
            base = rng.uniform(2, 40)
            rows = []
            for m in range(now_minute - minutes, now_minute):
                n = max(0, int(rng.gauss(base, base / 3)))
                if not n:
                    continue
                duration = n * rng.uniform(5, 40)
                errors = int(n * 0.02)
                rows.append((fid, m, "success", n - errors, duration, int(duration) + n, 128 * n, 1, 50.0, rng.choice(blobs)))  # fmt: skip
                if errors:
                    rows.append((fid, m, "error", errors, errors * 10.0, errors * 10, 1280, 0, 0.0, rng.choice(blobs)))  # fmt: skip
            conn.executemany("INSERT INTO ledger_rollup VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, every thread


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONSTELLATION_HOME": str(home)}
    exe = Path(sys.executable).with_name("constellation")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/healthz"
    for _ in range(600):
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def render_times(url: str, token: str, loads: int, screenshot: str | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CONSTELLATION_CHROMIUM", "/usr/bin/chromium")
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(url + "/login")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_selector('body[data-rendered="overview"]')
        for route, view in (("/", "overview"), ("/function/fn-0007", "function")):
            times, data_at, ready_at = [], [], []
            for _ in range(loads):
                page.goto("about:blank")
                page.goto(f"{url}/#{route}")
                page.wait_for_selector(f'body[data-rendered="{view}"]')
                marks = page.evaluate(
                    f"[performance.getEntriesByName('rendered:{view}')[0].startTime,"
                    f" performance.getEntriesByName('data:{view}')[0].startTime,"
                    " performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd]"
                )
                times.append(marks[0])
                data_at.append(marks[1])
                ready_at.append(marks[2])
            first, rest = times[0], times[1:]
            out[view] = {
                "first_load_ms": round(first, 1),
                "median_ms": round(statistics.median(rest), 1),
                "max_ms": round(max(rest), 1),
                # page and scripts loaded; the view's data in; drawn (rendered, above)
                "scripts_loaded_median_ms": round(statistics.median(ready_at[1:]), 1),
                "data_arrived_median_ms": round(statistics.median(data_at[1:]), 1),
                "loads": len(rest),
                "ratio_to_limit": round(statistics.median(rest) / LIMIT_MS, 3),
            }
            if screenshot and view == "overview":
                page.screenshot(path=screenshot)
            if screenshot and view == "function":
                page.screenshot(path=str(Path(screenshot).with_name("dashboard-function-day.png")))
        out["live_latency"] = live_latency(page, url, token)
        browser.close()
    return out


def live_latency(page: Any, url: str, token: str, rounds: int = 6) -> dict[str, Any]:
    """Seconds from the API's answer to an invocation until the open function page's
    chart counts it (over the event stream, no reload)."""
    page.goto(f"{url}/#/function/fn-0042")
    page.wait_for_selector('body[data-rendered="function"]')
    api = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=60)
    api.post("/api/v1/functions/fn-0042/invoke", json={}).raise_for_status()  # the cold start
    page.wait_for_timeout(2500)
    seconds = []
    for _ in range(rounds):
        before = page.get_attribute("#chart-invocations", "data-total")
        api.post("/api/v1/functions/fn-0042/invoke", json={}).raise_for_status()
        t = time.monotonic()
        page.wait_for_selector(f'#chart-invocations:not([data-total="{before}"])')
        seconds.append(time.monotonic() - t)
        page.wait_for_timeout(300)
    api.close()
    return {
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "rounds": rounds,
        "limit_s": 2.0,
    }


def hold_streams(
    url: str, cookie: str, views: list[tuple[str, str]], stop: threading.Event
) -> list[int]:
    """One thread per stream, reconnecting when the server ends one (every 15 s)."""
    received = [0] * len(views)

    def run(i: int, view: str, name: str) -> None:
        with httpx.Client(base_url=url, cookies={"constellation_session": cookie}) as client:
            while not stop.is_set():
                try:
                    with client.stream(
                        "GET", "/ui/events", params={"view": view, "name": name}, timeout=30.0
                    ) as r:
                        for line in r.iter_lines():
                            if line.startswith("data:"):
                                received[i] += 1
                            if stop.is_set():
                                return
                except httpx.HTTPError:
                    time.sleep(0.2)

    for i, (view, name) in enumerate(views):
        threading.Thread(target=run, args=(i, view, name), daemon=True).start()
    return received


def live_cost(url: str, cookie: str, pid: int, seconds: float) -> list[dict[str, Any]]:
    cases: list[tuple[str, list[tuple[str, str]]]] = [
        ("idle server", []),
        ("1 browser, overview", [("overview", "")]),
        ("10 browsers, overview", [("overview", "")] * 10),
        ("1 browser, a function", [("function", "fn-0001")]),
        ("10 browsers, 10 different functions", [("function", f"fn-{i:04d}") for i in range(10)]),
        ("50 browsers, one function", [("function", "fn-0001")] * 50),
    ]
    rows = []
    for label, views in cases:
        stop = threading.Event()
        received = hold_streams(url, cookie, views, stop)
        time.sleep(2.0)  # connected and past the first computation
        before, t0 = cpu_s(pid), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_s(pid) - before, time.monotonic() - t0
        stop.set()
        rows.append(
            {
                "case": label,
                "browsers": len(views),
                "server_cpu_percent": round(100 * used / elapsed, 1),
                "updates_received": sum(received),
            }
        )
        print(rows[-1], flush=True)
        time.sleep(1.5)
    idle = rows[0]["server_cpu_percent"]
    for row in rows[1:]:
        row["per_browser_cpu_percent"] = round(
            (row["server_cpu_percent"] - idle) / row["browsers"], 2
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--loads", type=int, default=8, help="page loads per view (first apart)")
    parser.add_argument("--seconds", type=float, default=15.0, help="per live-update case")
    parser.add_argument("--screenshot", help="write the overview's screenshot here")
    parser.add_argument("--quick", action="store_true", help="100 functions, short phases")
    parser.add_argument(
        "--seed", type=int, default=11, help="the data's seed (tuning used 7; reported: 11)"
    )
    args = parser.parse_args()
    if args.quick:
        args.functions, args.loads, args.seconds = 100, 3, 3.0
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t0 = time.monotonic()
        fill(home, args.functions, args.minutes, args.seed)
        print(f"filled {args.functions} functions x {args.minutes} minutes in {time.monotonic() - t0:.0f} s", flush=True)  # fmt: skip
        token, _ = ensure_token(home)
        port = free_port()
        proc = start_server(home, port)
        url = f"http://127.0.0.1:{port}"
        try:
            client = httpx.Client(base_url=url, timeout=60.0)
            client.post("/login", data={"token": token})
            cookie = client.cookies["constellation_session"]
            data_ms = []
            for _ in range(args.loads):
                t = time.perf_counter()
                client.get("/ui/data/overview").raise_for_status()
                data_ms.append((time.perf_counter() - t) * 1e3)
            render = render_times(url, token, args.loads, args.screenshot)
            print(render, flush=True)
            live = live_cost(url, cookie, proc.pid, args.seconds)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    report(
        "dashboard_bench",
        {
            "functions": args.functions,
            "minutes_of_metrics": args.minutes,
            "limit_ms": LIMIT_MS,
            "overview_data_request_ms_median": round(statistics.median(data_ms), 1),
            "first_render": render,
            "live_updates": live,
            "seed": args.seed,
            "note": "shared 2-core machine; the overview was tuned on seed 7's data, "
            "these figures are from another seed unless --seed 7",
        },
    )


if __name__ == "__main__":
    main()
