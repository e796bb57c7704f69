"""The dashboard in a real browser (Chromium under Playwright): login, every page, live
charts, anomalies with their points marked, and the action buttons."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .._support import wait_until
from .conftest import HANDLERS, Dashboard, login

pytestmark = pytest.mark.slow

WAT = Path(__file__).resolve().parents[1] / "fixtures" / "wasm" / "core.wat"

VIEWS = [
    ("/", "overview"),
    ("/anomalies", "anomalies"),
    ("/forecasts", "forecasts"),
    ("/gpus", "gpus"),
    ("/wasm", "wasm"),
    ("/deployments", "deployments"),
]


def _function(d: Dashboard, name: str, handler: str) -> None:
    d.platform.serverless.create_function(
        name, "python", handler, HANDLERS, env={"API_KEY": "s3cret"}
    )


def test_pages_need_a_login_and_the_token_stays_out_of_urls(
    dashboard: Dashboard, browser: Any
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(dashboard.url + "/")
        assert page.url.endswith("/login")  # redirected: nothing shown without a session
        page.fill("#token", "not-the-token")
        page.click("button[type=submit]")
        assert page.locator(".error").inner_text() == "That is not the server's token."
        assert httpx.get(dashboard.url + "/ui/data/overview").status_code == 401
        login(page, dashboard.url, dashboard.token)
        assert dashboard.token not in page.url
        cookie = next(c for c in context.cookies() if c["name"] == "constellation_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert dashboard.token not in cookie["value"]
    finally:
        context.close()
    # the API takes the session cookie only with the dashboard's header (no cross-site forms)
    session = {"constellation_session": cookie["value"]}
    bare = httpx.get(dashboard.url + "/api/v1/functions", cookies=session)
    assert bare.status_code == 401
    ui = httpx.get(
        dashboard.url + "/api/v1/functions", cookies=session, headers={"x-constellation-ui": "1"}
    )
    assert ui.status_code == 200


def test_every_page_renders_without_console_errors(dashboard: Dashboard) -> None:
    _function(dashboard, "hello", "echo")
    dashboard.api.post("/api/v1/functions/hello/invoke", json={"n": 1}).raise_for_status()
    dashboard.platform.anomaly.record("function_duration_ms", 950.0, expected_value=12.0)
    for route, view in VIEWS:
        dashboard.open(route, view)
        assert dashboard.page.locator(f"#view-{view}").count() == 1, view
        dashboard.screenshot(view)
    dashboard.open("/function/hello", "function")
    assert dashboard.page.locator("#view-function h1").inner_text() == "Function hello"
    assert "s3cret" not in dashboard.page.content()  # secrets masked
    dashboard.screenshot("function")
    page = dashboard.page
    page.goto(dashboard.url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    assert page.locator(".opblock-summary-path").count() >= 10
    dashboard.screenshot("docs")
    page.goto(dashboard.url + "/redoc")
    page.wait_for_selector("h1")
    assert "Constellation management API" in page.locator("h1").first.inner_text()
    assert dashboard.errors == []


def test_an_invocation_appears_live_in_its_chart(dashboard: Dashboard) -> None:
    _function(dashboard, "live", "echo")
    dashboard.open("/function/live", "function")
    chart = dashboard.page.locator("#chart-invocations")
    assert chart.get_attribute("data-total") == "0"
    dashboard.page.evaluate("window.__notReloaded = true")
    started = time.monotonic()
    dashboard.api.post("/api/v1/functions/live/invoke", json={}).raise_for_status()
    dashboard.page.wait_for_selector('#chart-invocations[data-total="1"]')
    elapsed = time.monotonic() - started
    # it came over the event stream: the page was not reloaded or rendered again
    assert dashboard.page.evaluate("window.__notReloaded") is True
    assert dashboard.page.locator("#invocations tbody tr").count() == 1
    print(f"invocation shown {elapsed:.2f} s after the API answered")
    assert dashboard.errors == []


def test_an_injected_anomaly_is_shown_with_its_point_marked(dashboard: Dashboard) -> None:
    platform = dashboard.platform
    now = platform.clock()
    metric = 'queue_depth{queue="orders"}'
    for i in range(60):  # the metric's series around the moment
        value = 900.0 if i == 45 else 10.0 + i % 3
        platform.telemetry.record("queue_depth", value, now - 60 + i, {"queue": "orders"})
    found = platform.anomaly.record(
        metric, 900.0, expected_value=11.0, severity="critical", timestamp=now - 15
    )
    dashboard.open("/anomalies", "anomalies")
    section = dashboard.page.locator(f'#anomalies-active section[data-id="{found.id}"]')
    assert section.count() == 1
    chart = section.locator(".chart")
    assert int(chart.get_attribute("data-marked") or 0) >= 1
    assert section.locator("canvas").count() >= 1
    dashboard.screenshot("anomalies")
    section.locator("button.resolve").click()
    dashboard.page.wait_for_selector(f'#anomalies-resolved section[data-id="{found.id}"]')
    assert platform.anomaly.get(found.id).resolved_at is not None
    assert dashboard.errors == []


def test_the_redrive_button_runs_a_dead_letter_again(dashboard: Dashboard) -> None:
    _function(dashboard, "broken", "always_fail")
    service = dashboard.platform.serverless
    rid = service.invoke_async("broken", {})
    wait_until(lambda: service.list_dead_letters("broken"), what="the dead letter")
    ran = service.get_function_metrics("broken").total_invocations
    dashboard.open("/function/broken", "function")
    row = dashboard.page.locator(f'#dead-letters tr[data-request="{rid}"]')
    row.locator("button.redrive").click()
    dashboard.page.wait_for_selector(".toast")
    wait_until(
        lambda: service.get_function_metrics("broken").total_invocations > ran,
        what="the redriven run",
    )
    assert dashboard.errors == []


def test_the_restart_button_replaces_an_instance(dashboard: Dashboard) -> None:
    _function(dashboard, "warm", "echo")
    service = dashboard.platform.serverless
    service.invoke_sync("warm", {})
    (before,) = service.list_instances("warm")
    dashboard.open("/function/warm", "function")
    dashboard.page.locator(f'#instances tr[data-instance="{before.id}"] button.restart').click()
    dashboard.page.wait_for_selector(".toast")
    wait_until(
        lambda: before.id not in {i.id for i in service.list_instances("warm")},
        what="the old instance gone",
    )
    assert dashboard.errors == []


def test_every_part_of_the_platform_shows_and_deployments_restart_and_scale(
    dashboard: Dashboard,
) -> None:
    from constellation import wasm

    platform = dashboard.platform
    now = platform.clock()
    # a function with predictive scaling, its concurrency series and a forecast from it
    info = platform.serverless.create_function(
        "predicted",
        "python",
        "echo",
        HANDLERS,
        scaling_policy={"enable_predictive_scaling": True},
    )
    for i in range(240):
        value = 3 + 2 * math.sin(i / 20)
        platform.telemetry.record("function_concurrency", value, now - 240 + i, {"function": "predicted"})  # fmt: skip
    assert platform.forecast_concurrency(info, 30.0) is not None
    # GPU readings over the last hour
    gpus = platform.gpu.discover()
    for gpu in gpus:
        for i in range(60):
            t, labels = now - 3600 + 60 * i, {"gpu": gpu.id}
            platform.telemetry.record("gpu_utilization_percent", 40 + 30 * math.sin(i / 7), t, labels)  # fmt: skip
            platform.telemetry.record("gpu_memory_used_mb", 4000 + 50 * i, t, labels)
            platform.telemetry.record("gpu_temperature_celsius", 55 + i % 9, t, labels)
            platform.telemetry.record("gpu_power_watts", 120 + 2 * (i % 15), t, labels)
    # a deployment of two processes holding part of a GPU
    script = platform.settings.home / "worker.py"
    script.write_text("import time\nwhile True:\n    time.sleep(1)\n")
    request = {"gpu_count": 1, "memory_mb": 4096}
    platform.deploy("worker", {"script": str(script), "instances": 2, "gpu": request})
    # a WASM module and an instance of it
    module = wasm.init(None).load_module(WAT)
    instance = wasm.create_instance(module.id)
    try:
        dashboard.open("/forecasts", "forecasts")
        forecasts = dashboard.page.locator("#view-forecasts .chart")
        assert forecasts.count() == 1
        assert "No forecast yet" not in forecasts.inner_text()
        dashboard.screenshot("forecasts")
        dashboard.open("/function/predicted", "function")
        assert "No forecast yet" not in dashboard.page.locator("#chart-forecast").inner_text()

        dashboard.open("/gpus", "gpus")
        assert dashboard.page.locator("#view-gpus h2").count() == len(gpus) + 1
        assert "deployment:worker" in dashboard.page.locator("#allocations").inner_text()
        dashboard.screenshot("gpus")

        dashboard.open("/wasm", "wasm")
        assert dashboard.page.locator("#wasm-modules tbody tr").count() == 1
        assert instance.id in dashboard.page.locator("#wasm-instances").inner_text()
        dashboard.screenshot("wasm")

        manager = platform.deployments
        wait_until(
            lambda: all(i.pid for i in manager.list_instances("worker")), what="both running"
        )
        dashboard.open("/deployments", "deployments")
        assert dashboard.page.locator("#deployment-instances tbody tr").count() == 2
        dashboard.screenshot("deployments")
        first = manager.list_instances("worker")[0]
        row = dashboard.page.locator(f'#deployment-instances tr[data-instance="{first.id}"]')
        row.locator("button.restart").click()

        def new_pid() -> int | None:
            now = next(i for i in manager.list_instances("worker") if i.id == first.id)
            return now.pid if now.pid not in (None, first.pid) else None

        pid = wait_until(new_pid, what="the instance restarted with a new process")
        # the page redraws on its next live update: the scale box is filled after that
        dashboard.page.wait_for_selector(
            f"#deployment-instances tr[data-instance='{first.id}'] td:nth-child(4):text-is('{pid}')"
        )
        dashboard.page.locator('#deployments tr[data-deployment="worker"] input.scale-to').fill("3")
        dashboard.page.locator('#deployments tr[data-deployment="worker"] button.scale').click()
        dashboard.page.wait_for_selector("#deployment-instances tbody tr >> nth=2")
        assert manager.get_deployment("worker").instances == 3
        assert dashboard.errors == []
    finally:
        platform.undeploy("worker")
        wasm.shutdown()
