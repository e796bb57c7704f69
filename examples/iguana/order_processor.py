"""The seed's order processor, as a Python handler."""

import os

TAX_RATE = 0.08


def handle_order(event, context):
    amount = float(event["amount"])
    total = round(amount * (1 + TAX_RATE), 2)
    print(f"order {event['order_id']}: {amount} -> {total} (db {os.environ.get('DB_HOST')})")
    return {
        "order_id": event["order_id"],
        "status": "accepted",
        "total": total,
        "request_id": context.request_id,
    }
