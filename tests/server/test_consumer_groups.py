"""Functions on one Redis or NATS queue: each sees every message by default (a consumer
group per function), a shared ``group`` splits them; the REST answer names both."""

from __future__ import annotations

import json
import socket
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

from constellation.triggers import publish

from .._support import wait_until
from .conftest import Served

CONSUMER = str(Path(__file__).resolve().parents[1] / "fixtures" / "lambda" / "consumer.py")
URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}


def _reachable(url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port), 2.0).close()
    except OSError as exc:
        pytest.skip(f"{url} is not reachable ({exc!r})")


def _function(served: Served, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    served.platform.serverless.create_function(name, "python", "record", CONSUMER)
    r = served.client.post(f"/api/v1/functions/{name}/triggers", json=spec)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _bodies(served: Served, name: str) -> list[Any]:
    out = []
    for entry in served.platform.serverless.get_logs(name, limit=1000):
        for line in entry["logs"].splitlines():
            if line.startswith("GOT "):
                out.append(json.loads(line[4:]))
    return out


def _ready(served: Served, count: int) -> None:
    served.platform.serverless.init()
    runners = served.platform.serverless.trigger_service.runners
    wait_until(lambda: len(runners.running()) == count, what=f"{count} runners")


@pytest.mark.parametrize("broker", ["redis", "nats"])
def test_each_function_sees_every_message(served: Served, broker: str) -> None:
    url = URLS[broker]
    _reachable(url)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    spec = {"type": "queue", "broker": broker, "queue": queue, "url": url}
    a = _function(served, "fa", spec)
    b = _function(served, "fb", spec)
    assert a["spec"]["group"] == a["function_id"] and b["spec"]["group"] == b["function_id"]
    _ready(served, 2)
    for n in range(10):
        publish(queue, {"n": n}, broker=broker, url=url)
    for name in ("fa", "fb"):
        got = wait_until(
            lambda name=name: len(_bodies(served, name)) == 10 and _bodies(served, name)
        )
        assert sorted(g["body"]["n"] for g in got) == list(range(10))
        assert {g["type"] for g in got} == {"queue"}


@pytest.mark.parametrize("broker", ["redis", "nats"])
def test_a_shared_group_splits_the_messages(served: Served, broker: str) -> None:
    url = URLS[broker]
    _reachable(url)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    spec = {"type": "queue", "broker": broker, "queue": queue, "url": url, "group": "workers"}
    assert _function(served, "wa", spec)["spec"]["group"] == "workers"
    _function(served, "wb", spec)
    _ready(served, 2)
    for n in range(10):
        publish(queue, {"n": n}, broker=broker, url=url)

    def all_once() -> list[int] | None:
        seen = [g["body"]["n"] for name in ("wa", "wb") for g in _bodies(served, name)]
        return sorted(seen) if len(seen) >= 10 else None

    assert wait_until(all_once) == list(range(10))  # each message once, between the two


def test_a_stream_trigger_is_named_by_its_id_and_its_events_say_stream(served: Served) -> None:
    _reachable(URLS["nats"])
    subject = f"s-{uuid.uuid4().hex[:8]}"
    spec = {"type": "stream", "broker": "nats", "subject": subject, "url": URLS["nats"]}
    trigger = _function(served, "st", spec)
    assert trigger["spec"]["name"] == trigger["id"]
    listed = served.client.get("/api/v1/functions/st/triggers").json()["triggers"]
    assert listed[0]["spec"]["name"] == trigger["id"]
    _ready(served, 1)
    publish(subject, {"n": 1}, broker="nats", url=URLS["nats"])
    got = wait_until(lambda: _bodies(served, "st"))
    assert got == [{"type": "stream", "body": {"n": 1}}]
