"""POST /api/v1/events: CloudEvents from the official SDK in binary, structured and batch
content modes reach the event triggers that serverless.emit reaches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from .._support import wait_until
from .conftest import Served

pytest.importorskip("cloudevents")

from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

EVENTS = str(Path(__file__).resolve().parents[1] / "fixtures" / "lambda" / "events.py")
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _subscribe(served: Served, name: str, pattern: str) -> None:
    info = served.platform.serverless.create_function(name, "python", "record", EVENTS)
    spec = {"type": "event", "event_type": pattern, "name": name}
    served.platform.serverless.add_trigger(info.id, spec)


def _received(served: Served, name: str, event_id: str) -> dict[str, Any]:
    """What the function ``name`` logged for the event ``event_id``, once it has."""

    def found() -> dict[str, Any] | None:
        for entry in served.platform.serverless.get_logs(name):
            for line in entry["logs"].splitlines():
                if line.startswith("EVENT ") and event_id in line:
                    return json.loads(line[6:])  # type: ignore[no-any-return]
        return None

    return wait_until(found, what=f"{name} got {event_id}")


def _post(served: Served, headers: dict[str, str], body: bytes) -> httpx.Response:
    return served.client.post("/api/v1/events", headers=headers, content=body)


def _until_subscribed(served: Served, count: int) -> None:
    """Event triggers register as their runners start: wait for ``count`` of them."""
    served.platform.serverless.init()
    store = served.platform.store
    query = "SELECT count(*) AS n FROM trigger_event_subscriptions"
    wait_until(lambda: store.query(query)[0]["n"] == count, what=f"{count} subscriptions")


def _event(kind: str, data: Any = None, **extra: str) -> CloudEvent:
    return CloudEvent({"type": kind, "source": "/shop", **extra}, data)


def test_binary_mode_with_traceparent(served: Served) -> None:
    _subscribe(served, "orders", "order.*")
    _until_subscribed(served, 1)
    event = _event("order.created", {"order_id": 1}, traceparent=PARENT)
    message = to_binary_event(event)
    r = _post(served, {**message.headers, "content-type": "application/json"}, message.body)
    assert r.status_code == 202, r.text
    assert r.json() == {"ids": [event.get_id()], "delivered": [1]}
    got = _received(served, "orders", event.get_id())
    assert got["event"]["data"] == {"order_id": 1}
    assert got["event"]["type"] == "order.created" and got["event"]["source"] == "/shop"
    assert got["event"]["specversion"] == "1.0" and got["event"]["traceparent"] == PARENT
    assert got["trace_parent"] == PARENT


def test_structured_mode_reaches_the_same_functions_as_emit(served: Served) -> None:
    _subscribe(served, "orders", "order.*")
    _subscribe(served, "all", "*")
    _subscribe(served, "other", "invoice.*")
    _until_subscribed(served, 3)
    event = _event("order.paid", {"amount": 5}, subject="o-7")
    message = to_structured_event(event)
    r = _post(served, dict(message.headers), message.body)
    assert r.status_code == 202, r.text
    assert r.json()["delivered"] == [2]
    for name in ("orders", "all"):
        got = _received(served, name, event.get_id())["event"]
        assert got["data"] == {"amount": 5} and got["subject"] == "o-7"
        assert got["id"] == event.get_id() and got["time"]
    assert served.platform.serverless.emit("order.paid", {"amount": 6}) == 2  # the same two


def test_batch_mode(served: Served) -> None:
    _subscribe(served, "orders", "order.*")
    _until_subscribed(served, 1)
    events = [_event("order.created", {"n": n}) for n in range(3)] + [_event("nobody.cares")]
    fmt = JSONFormat()
    body = b"[" + b",".join(fmt.write(e) for e in events) + b"]"
    r = _post(served, {"content-type": "application/cloudevents-batch+json"}, body)
    assert r.status_code == 202, r.text
    assert r.json() == {"ids": [e.get_id() for e in events], "delivered": [1, 1, 1, 0]}
    for n, event in enumerate(events[:3]):
        assert _received(served, "orders", event.get_id())["event"]["data"] == {"n": n}


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t"}, b"{}", "source"),
        (
            {"ce-specversion": "0.3", "ce-id": "1", "ce-type": "t", "ce-source": "/s"},
            b"",
            "specversion",
        ),
        ({"ce-id": "1", "ce-type": "t", "ce-source": "/s"}, b"", "specversion"),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "", "source": "/s", "type": "t"}',
            "id",
        ),
        (
            {"content-type": "application/cloudevents-batch+json"},
            b'[{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"},'
            b' {"specversion": "1.0", "id": "2", "source": "/s"}]',
            "[1].type",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "Bad_Ext": 1}',
            "Bad_Ext",
        ),
    ],
)
def test_a_bad_event_is_a_400_naming_the_attribute(
    served: Served, headers: dict[str, str], body: bytes, field: str
) -> None:
    r = _post(served, headers, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_a_token_is_required(served: Served) -> None:
    message = to_structured_event(_event("order.created"))
    r = httpx.post(served.url + "/api/v1/events", headers=message.headers, content=message.body)
    assert r.status_code == 401


def test_an_event_triggers_key_reaches_that_trigger_only(served: Served) -> None:
    _subscribe(served, "mine", "order.*")
    _subscribe(served, "theirs", "order.*")
    _until_subscribed(served, 2)
    mine = served.client.get("/api/v1/functions/mine/triggers").json()["triggers"][0]
    r = served.client.get(f"/api/v1/triggers/{mine['id']}/key")
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    assert r.json()["trigger_id"] == mine["id"] and key.startswith(mine["id"] + ".")
    event = _event("order.created", {"n": 7})
    message = to_structured_event(event)
    url = served.url + "/api/v1/events"
    with_key = {**message.headers, "authorization": f"Bearer {key}"}
    sent = httpx.post(url, headers=with_key, content=message.body)
    assert sent.status_code == 202, sent.text
    assert sent.json()["delivered"] == [1]
    assert _received(served, "mine", event.get_id())["event"]["data"] == {"n": 7}
    other = _event("invoice.sent")  # the key's trigger does not listen to it
    message = to_structured_event(other)
    missed = httpx.post(
        url, headers={**message.headers, "authorization": f"Bearer {key}"}, content=message.body
    )
    assert missed.json()["delivered"] == [0]
    flipped = "1" if key[-1] != "1" else "2"
    forged = {**with_key, "authorization": f"Bearer {key[:-1]}{flipped}"}
    assert httpx.post(url, headers=forged, content=message.body).status_code == 401
    elsewhere = httpx.get(
        served.url + "/api/v1/functions", headers={"authorization": f"Bearer {key}"}
    )
    assert elsewhere.status_code == 401  # the key opens POST /api/v1/events only


def test_keys_are_for_event_triggers(served: Served) -> None:
    served.platform.serverless.create_function("web", "python", "record", EVENTS)
    r = served.client.post("/api/v1/functions/web/triggers", json={"type": "http", "path": "/w"})
    key = served.client.get(f"/api/v1/triggers/{r.json()['id']}/key")
    assert key.status_code == 400 and key.json()["error"]["field"] == "trigger_id"
    assert served.client.get("/api/v1/triggers/trg-nope/key").status_code == 404
