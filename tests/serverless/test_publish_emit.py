"""serverless.publish and serverless.emit reach the functions through their triggers."""

from __future__ import annotations

import time

from constellation.serverless import ServerlessService

from .conftest import HANDLERS


def _logged(sls: ServerlessService, name: str, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        entries = sls.get_logs(name)
        if len(entries) >= count:
            return [e["logs"] for e in entries]
        time.sleep(0.05)
    return [e["logs"] for e in sls.get_logs(name)]


def test_a_published_message_and_an_emitted_event_are_delivered(sls: ServerlessService) -> None:
    orders = sls.create_function("on-order", "python", "chatty", HANDLERS)
    sls.add_trigger(orders.id, {"type": "queue", "broker": "sqlite", "queue": "orders"})
    events = sls.create_function("on-event", "python", "chatty", HANDLERS)
    sls.add_trigger(events.id, {"type": "event", "event_type": "order.*"})
    sls.init()
    message_id = sls.publish("orders", {"order_id": 7})
    assert message_id
    deadline = time.monotonic() + 30
    delivered = 0
    while delivered == 0 and time.monotonic() < deadline:  # the event trigger starts with the loops
        delivered = sls.emit("order.created", {"order_id": 8})
        time.sleep(0.1)
    assert delivered == 1
    assert any("'order_id': 7" in log for log in _logged(sls, "on-order", 1))
    assert any("'order_id': 8" in log for log in _logged(sls, "on-event", 1))
    assert sls.emit("invoice.paid", {}) == 0
