"""The faas_* series carry OpenTelemetry's faas.trigger as a ``trigger`` label, and the
per-trigger counts survive a restart as the others do."""

from __future__ import annotations

from pathlib import Path

import httpx

from constellation.server._metrics import render_metrics

from .._support import wait_until
from ..serverless.conftest import HANDLERS, make_platform
from .conftest import Served
from .test_metrics import _parse


def test_each_trigger_has_its_series(served: Served) -> None:
    sls = served.platform.serverless
    f = sls.create_function("echo", "python", "echo", HANDLERS)
    sls.add_trigger(f.id, {"type": "http", "path": "/echo", "method": "POST"})
    sls.add_trigger(f.id, {"type": "event", "event_type": "ping.*", "name": "echo-ping"})
    sls.init()
    for _ in range(2):
        assert httpx.post(served.url + "/echo", json={}).status_code == 200
    sls.invoke_sync(f.id, {})
    wait_until(lambda: sls.emit("ping.now", {}), interval=0.1)

    def pubsub_seen() -> dict[str, float] | None:
        m = _parse(httpx.get(served.url + "/metrics").text)
        return m if m.get('faas_invocations_total{function="echo",trigger="pubsub"}') else None

    m = wait_until(pubsub_seen)
    assert m['faas_invocations_total{function="echo",trigger="http"}'] == 2
    assert m['faas_invocations_total{function="echo",trigger="other"}'] == 1
    assert m['faas_invoke_duration_seconds_count{function="echo",trigger="http"}'] == 2
    cold = sum(
        m[f'faas_coldstarts_total{{function="echo",trigger="{t}"}}']
        for t in ("http", "other", "pubsub")
    )
    assert cold == 1
    # the per-status series keep every invocation, whatever fired it
    total = m['constellation_function_invocations_total{function="echo",status="success"}']
    assert total == 3 + m['faas_invocations_total{function="echo",trigger="pubsub"}']


def test_per_trigger_counts_survive_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_platform(home) as first:
        f = first.serverless.create_function("echo", "python", "echo", HANDLERS)
        first.serverless.invoke_sync(f.id, {}, trigger="timer")
        first.serverless.invoke_sync(f.id, {})
        before = _parse(render_metrics(first.serverless))
    with make_platform(home) as second:
        after = _parse(render_metrics(second.serverless))
    for trigger in ("timer", "other"):
        key = f'faas_invocations_total{{function="echo",trigger="{trigger}"}}'
        assert after[key] == before[key] == 1
