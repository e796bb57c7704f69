"""serverless.publish and serverless.emit reach the functions through their triggers."""

from __future__ import annotations

from constellation.serverless import ServerlessService

from .._support import wait_until
from .conftest import HANDLERS


def _logged(sls: ServerlessService, name: str, text: str) -> str:
    """The log of the first invocation of ``name`` whose log has ``text``, once there is one."""

    def found() -> str | None:
        return next((e["logs"] for e in sls.get_logs(name) if text in e["logs"]), None)

    return wait_until(found, what=f"a log of {name} with {text!r}")


def test_a_published_message_and_an_emitted_event_are_delivered(sls: ServerlessService) -> None:
    orders = sls.create_function("on-order", "python", "chatty", HANDLERS)
    sls.add_trigger(orders.id, {"type": "queue", "broker": "sqlite", "queue": "orders"})
    events = sls.create_function("on-event", "python", "chatty", HANDLERS)
    sls.add_trigger(events.id, {"type": "event", "event_type": "order.*"})
    sls.init()
    message_id = sls.publish("orders", {"order_id": 7})
    assert message_id
    # The event trigger starts with the loops: emit until a subscriber takes the event.
    delivered = wait_until(
        lambda: sls.emit("order.created", {"order_id": 8}),
        interval=0.1,
        what="an emitted event delivered",
    )
    assert delivered == 1
    assert "'order_id': 7" in _logged(sls, "on-order", "'order_id': 7")
    assert "'order_id': 8" in _logged(sls, "on-event", "'order_id': 8")
    assert sls.emit("invoice.paid", {}) == 0
