"""OpenTelemetry: each invocation is a span (with the [otel] extra), child of the
traceparent it came with; the OTEL_* variables decide whether traces are made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from constellation.telemetry import InvocationTracer, faas_trigger, tracing_configured

from .._support import wait_until
from .conftest import Served

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

ECHO = str(Path(__file__).resolve().parents[1] / "fixtures" / "lambda" / "echo.py")
HTTP = str(Path(__file__).resolve().parents[1] / "fixtures" / "server" / "http_handlers.py")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans(served: Served) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    served.platform.serverless.invoker.tracer = InvocationTracer(provider)
    yield exporter
    provider.shutdown()


def test_an_http_invocation_is_a_span_under_the_requests_traceparent(
    served: Served, spans: InMemorySpanExporter
) -> None:
    info = served.platform.serverless.create_function("traced", "python", "echo", ECHO)
    spec = {"type": "http", "path": "/traced", "event_format": "apigw-v1"}
    served.platform.serverless.add_trigger(info.id, spec)
    r = httpx.get(served.url + "/traced", headers={"traceparent": PARENT})
    assert r.status_code == 200
    [span] = wait_until(spans.get_finished_spans)
    assert span.name == "traced" and span.kind == SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    attrs = dict(span.attributes or {})
    assert attrs["faas.trigger"] == "http" and attrs["faas.coldstart"] is True
    assert attrs["faas.invocation_id"] == r.headers["x-request-id"]
    assert attrs["faas.name"] == "traced" and attrs["faas.version"] == "1"
    assert attrs["faas.max_memory"] == info.memory_mb * 1024 * 1024
    assert attrs["constellation.status"] == "success"
    assert attrs["constellation.billed_duration_ms"] >= 1
    assert span.status.status_code == StatusCode.UNSET
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time >= span.start_time


def test_a_failed_invocation_is_an_error_span_in_a_new_trace(
    served: Served, spans: InMemorySpanExporter
) -> None:
    served.platform.serverless.create_function("boom", "python", "boom", HTTP)
    result = served.platform.serverless.invoke_sync("boom", {})
    assert result.status == "error"
    [span] = wait_until(spans.get_finished_spans)
    assert span.parent is None and span.status.status_code == StatusCode.ERROR
    attrs = dict(span.attributes or {})
    assert attrs["faas.trigger"] == "other" and attrs["error.type"] == result.error_type


def test_a_cloudevents_traceparent_parents_the_event_triggers_span(
    served: Served, spans: InMemorySpanExporter
) -> None:
    events = str(Path(__file__).resolve().parents[1] / "fixtures" / "lambda" / "events.py")
    info = served.platform.serverless.create_function("on-order", "python", "record", events)
    served.platform.serverless.add_trigger(
        info.id, {"type": "event", "event_type": "order.*", "name": "on-order"}
    )
    served.platform.serverless.init()
    store = served.platform.store
    query = "SELECT count(*) AS n FROM trigger_event_subscriptions"
    wait_until(lambda: store.query(query)[0]["n"] == 1)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-source": "/shop",
        "ce-type": "order.created",
        "ce-traceparent": PARENT,
        "content-type": "application/json",
    }
    r = served.client.post("/api/v1/events", headers=headers, content=b'{"n": 1}')
    assert r.status_code == 202
    [span] = wait_until(spans.get_finished_spans)
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert dict(span.attributes or {})["faas.trigger"] == "pubsub"


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_the_otel_variables_decide(env: dict[str, str], wanted: bool) -> None:
    assert tracing_configured(env) is wanted
    tracer = InvocationTracer.from_env(env)
    assert (tracer is not None) is wanted
    if tracer is not None:
        tracer.close()
        tracer.close()  # idempotent


def test_faas_trigger_values() -> None:
    got = [faas_trigger(t) for t in ("http", "timer", "queue", "stream", "event", None)]
    assert got == ["http", "timer", "pubsub", "pubsub", "pubsub", "other"]
