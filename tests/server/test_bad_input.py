"""Bad HTTP input gets the right 4xx, never a 5xx, and the server keeps serving.

Raw sockets are used where an HTTP client would clean the request up first (``..`` in
the path, oversized headers).
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from .conftest import Served

HTTP = str(Path(__file__).resolve().parents[1] / "fixtures" / "server" / "http_handlers.py")


@pytest.fixture
def orders(served: Served) -> Served:
    info = served.platform.serverless.create_function("orders", "python", "event", HTTP)
    served.platform.serverless.add_trigger(
        info.id, {"type": "http", "path": "/api/orders/{order_id}", "method": "POST"}
    )
    return served


def _raw(served: Served, request: bytes) -> int:
    """Send bytes as they are; the status code of the answer (0 if the server hung up)."""
    with socket.create_connection((served.server.host, served.server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return 0
            data += chunk
    return int(data.split(b" ", 2)[1])


def _still_serving(served: Served) -> None:
    assert httpx.get(served.url + "/healthz").status_code == 200
    ok = httpx.post(served.url + "/api/orders/1", json={"order_id": 1})
    assert ok.status_code == 200 and ok.json()["body"] == {"order_id": 1}


def test_invalid_json_is_400(orders: Served) -> None:
    for body in (b"{", b'{"a": }', b"\xff\xfe", b"[1, 2,,]", b"NaN-ish"):
        r = httpx.post(
            orders.url + "/api/orders/1", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"]["type"] == "InvalidJSON", body
    _still_serving(orders)


def test_wrong_content_type(orders: Served) -> None:
    # The management API only takes JSON: 415.
    r = orders.client.post(
        "/api/v1/functions/orders/invoke", content=b"<xml/>", headers={"content-type": "text/xml"}
    )
    assert r.status_code == 415
    # A trigger passes other content types through as text, without decoding JSON.
    t = httpx.post(
        orders.url + "/api/orders/1", content=b'{"a": 1}', headers={"content-type": "text/csv"}
    )
    assert t.status_code == 200 and t.json()["body"] == '{"a": 1}'
    _still_serving(orders)


def test_oversized_body_is_413(orders: Served) -> None:
    big = b"x" * (6 * 1024 * 1024 + 1)
    r = httpx.post(orders.url + "/api/orders/1", content=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "PayloadTooLarge"

    def chunks():  # no Content-Length: the limit is counted while reading
        for _ in range(7):
            yield b"y" * (1024 * 1024)

    r = httpx.post(orders.url + "/api/orders/1", content=chunks())
    assert r.status_code == 413
    _still_serving(orders)


@pytest.mark.parametrize(
    "path",
    [
        "/api/orders/../../etc/passwd",
        "/api/orders/..%2F..%2Fetc%2Fpasswd",
        "/api/orders/%2e%2e",
        "/api/orders/./1",
        "/api/orders/1%00",
        "/api/orders/..\\..\\win.ini",
        "/api/v1/../../etc/passwd",
    ],
)
def test_path_traversal_is_refused(orders: Served, path: str) -> None:
    status = _raw(orders, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    assert status in (400, 401, 404), status
    _still_serving(orders)


def test_very_long_headers(orders: Served) -> None:
    one_long = b"X-Long: " + b"a" * 40_000
    many = b"\r\n".join(b"X-H%d: %s" % (i, b"b" * 100) for i in range(400))
    for headers in (one_long, many):
        request = (
            b"POST /api/orders/1 HTTP/1.1\r\nHost: x\r\n"
            + headers
            + b"\r\nContent-Length: 0\r\n\r\n"
        )
        status = _raw(orders, request)
        assert status == 431 or (400 <= status < 500), status
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"c" * 2_000_000 + b"\r\n\r\n"
    status = _raw(orders, huge)
    assert status == 0 or 400 <= status < 500, status
    _still_serving(orders)


def test_malformed_requests(orders: Served) -> None:
    for request in (
        b"NONSENSE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /api/orders/1 HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ):
        status = _raw(orders, request)
        assert status == 0 or 400 <= status < 500, (request, status)
    _still_serving(orders)
