"""Prometheus text at /metrics and the probes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from constellation.server._metrics import render_metrics

from ..serverless.conftest import make_platform
from .conftest import HANDLERS, Served

_SAMPLE = re.compile(r'^([a-z_0-9]+)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$')


def _parse(text: str) -> dict[str, float]:
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            assert name not in types, f"{name} declared twice"
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, line
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_metrics_follow_invocations(served: Served) -> None:
    served.create("echo", "echo")
    served.create("fails", "fail")
    c = served.client
    for _ in range(2):
        c.post("/api/v1/functions/echo/invoke", json={})
    c.post("/api/v1/functions/fails/invoke", json=1)
    r = httpx.get(served.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )
    m = _parse(r.text)
    assert m['constellation_function_invocations_total{function="echo",status="success"}'] == 2
    assert m['constellation_function_invocations_total{function="fails",status="error"}'] == 1
    assert m['faas_invocations_total{function="echo",trigger="other"}'] == 2
    assert m['faas_invocations_total{function="fails",trigger="other"}'] == 0
    assert m['faas_errors_total{function="fails",trigger="other"}'] == 1
    assert m['faas_timeouts_total{function="fails",trigger="other"}'] == 0
    assert m['faas_coldstarts_total{function="echo",trigger="other"}'] == 1
    assert m['faas_invoke_duration_seconds_count{function="echo",trigger="other"}'] == 2
    assert m['faas_invoke_duration_seconds_bucket{function="echo",le="+Inf",trigger="other"}'] == 2
    assert m['faas_init_duration_seconds_count{function="echo",trigger="other"}'] == 1
    assert m['faas_mem_usage_bytes_count{function="fails",trigger="other"}'] == 1
    assert m['faas_mem_usage_bytes_sum{function="fails",trigger="other"}'] > 1024 * 1024
    billed = m['constellation_function_billed_seconds_total{function="echo"}']
    assert billed > 0 and m['constellation_function_gigabyte_seconds_total{function="echo"}'] == (
        billed * 128 / 1024
    )
    assert m["process_cpu_seconds_total"] > 0  # prometheus_client's process collector
    assert m['constellation_function_instances{function="echo",state="idle"}'] == 1
    assert m['constellation_function_inflight{function="echo"}'] == 0
    assert m['constellation_async_invocations{state="queued"}'] == 0


def test_counters_survive_a_restart_without_reading_raw_rows(tmp_path: Path) -> None:
    """The counters come from the ledger's totals: a restarted platform, whose raw rows
    are gone, still reports them (and each platform has its own registry)."""
    home = tmp_path / "home"
    with make_platform(home) as first:
        f = first.serverless.create_function("echo", "python", "echo", HANDLERS)
        for _ in range(3):
            first.serverless.invoke_sync(f.id, {})
        before = _parse(render_metrics(first.serverless))
    with make_platform(home) as second:
        second.serverless._store.execute("DELETE FROM ledger")
        with make_platform(tmp_path / "other") as other:  # a registry of its own
            assert 'faas_invocations_total{function="echo",trigger="other"}' not in _parse(
                render_metrics(other.serverless)
            )
        after = _parse(render_metrics(second.serverless))
    for key in (
        'faas_invocations_total{function="echo",trigger="other"}',
        'faas_invoke_duration_seconds_count{function="echo",trigger="other"}',
        'faas_invoke_duration_seconds_sum{function="echo",trigger="other"}',
        'faas_coldstarts_total{function="echo",trigger="other"}',
        'constellation_function_billed_seconds_total{function="echo"}',
    ):
        assert after[key] == before[key], key
    assert after['faas_invocations_total{function="echo",trigger="other"}'] == 3


def test_http_trigger_requests_are_counted(served: Served) -> None:
    served.create("echo", "echo", triggers=[{"type": "http", "path": "/e/{x}", "method": "GET"}])
    httpx.get(served.url + "/e/1")
    httpx.get(served.url + "/e/2")
    m = _parse(httpx.get(served.url + "/metrics").text)
    # prometheus_client writes labels in name order
    key = 'constellation_http_trigger_requests_total{code="200",method="GET",route="/e/{x}"}'
    assert m[key] == 2


def test_healthz_and_openapi(served: Served) -> None:
    h = httpx.get(served.url + "/healthz")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    assert httpx.post(served.url + "/healthz").status_code == 405
    doc = httpx.get(served.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/functions",
        "/api/v1/functions/{name}/invoke",
        "/api/v1/invocations/{request_id}",
        "/api/v1/functions/{name}/billing",
        "/api/v1/functions/{name}/triggers",
    ):
        assert path in doc["paths"]
