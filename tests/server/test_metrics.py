"""Prometheus text at /metrics and the probes."""

from __future__ import annotations

import re

import httpx

from .conftest import Served

_SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$')


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
    assert m['constellation_function_cold_starts_total{function="echo"}'] == 1
    assert m['constellation_function_duration_seconds_count{function="echo"}'] == 2
    assert m['constellation_function_duration_seconds_bucket{function="echo",le="+Inf"}'] == 2
    assert m['constellation_function_instances{function="echo",state="idle"}'] == 1
    assert m['constellation_function_inflight{function="echo"}'] == 0
    assert m['constellation_async_invocations{state="queued"}'] == 0


def test_http_trigger_requests_are_counted(served: Served) -> None:
    served.create("echo", "echo", triggers=[{"type": "http", "path": "/e/{x}", "method": "GET"}])
    httpx.get(served.url + "/e/1")
    httpx.get(served.url + "/e/2")
    m = _parse(httpx.get(served.url + "/metrics").text)
    key = 'constellation_http_trigger_requests_total{route="/e/{x}",method="GET",code="200"}'
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
