"""The seed's order processor, as a Python handler.

Invoked directly, the event is the order; through the HTTP trigger, the order is the
request's JSON body (``event["body"]``).
"""

import os

TAX_RATE = 0.08


def handle_order(event, context):
    order = event["body"] if "body" in event and "headers" in event else event
    amount = float(order.get("amount", 0))
    total = round(amount * (1 + TAX_RATE), 2)
    print(f"order {order['order_id']}: {amount} -> {total} (db {os.environ.get('DB_HOST')})")
    return {
        "order_id": order["order_id"],
        "status": "accepted",
        "total": total,
        "request_id": context.request_id,
    }
