"""The trigger lane (HTTP triggers past uvicorn's ASGI cycle) speaks HTTP/1.1 correctly.

Raw sockets, so that what goes over the wire is what is checked: keep-alive, pipelining
behind a slow call and between the lane and the ASGI app, bodies in chunks, limits,
HEAD, ``Connection: close``, HTTP/1.0, a client that goes away mid-call, and headers a
handler must not be able to inject.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest

from constellation.server import create_app
from constellation.server._lane import lane_protocol
from constellation.server._runner import uvicorn_config

from .._support import wait_until
from .conftest import Served

HTTP = str(Path(__file__).resolve().parents[1] / "fixtures" / "server" / "http_handlers.py")


@pytest.fixture
def lane(served: Served) -> Served:
    sls = served.platform.serverless
    for name, handler, path, method in (
        ("echo", "event", "/echo/{id}", "POST"),
        ("slow", "slow", "/slow", "GET"),
        ("inject", "proxy_header_injection", "/inject", "GET"),
    ):
        info = sls.create_function(name, "python", handler, HTTP, concurrency=2)
        sls.add_trigger(info.id, {"type": "http", "path": path, "method": method})
    return served


def _connect(served: Served) -> socket.socket:
    return socket.create_connection((served.server.host, served.server.port), timeout=20)


def _responses(sock: socket.socket, count: int) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Read ``count`` responses (content-length framed) off a keep-alive connection."""
    data, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(out)} responses")
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b": ")
            headers[name.lower()] = value
        length = int(headers[b"content-length"])
        while len(data) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-body")
            data += chunk
        out.append((status, headers, data[:length]))
        data = data[length:]
    return out


def _post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
    )


def test_the_server_runs_http_triggers_on_the_lane(served: Served) -> None:
    app = create_app(served.platform.serverless, token=None)
    assert uvicorn_config(app, "127.0.0.1", 0).http.__name__ == "TriggerLaneProtocol"  # type: ignore[union-attr]
    assert lane_protocol(app).__mro__[1].__name__ == "HttpToolsProtocol"


def test_keep_alive_answers_each_request_in_turn(lane: Served) -> None:
    with _connect(lane) as sock:
        for i in range(5):
            sock.sendall(_post(f"/echo/{i}", orjson.dumps({"n": i})))
            [(status, headers, body)] = _responses(sock, 1)
            assert status == 200 and headers[b"content-type"] == b"application/json"
            event = orjson.loads(body)
            assert event["path_params"] == {"id": str(i)} and event["body"] == {"n": i}
            assert headers[b"x-request-id"]


def test_pipelined_requests_are_answered_in_order(lane: Served) -> None:
    """A slow trigger call, then an API call and a fast trigger call, in one write: the
    answers come back in request order, lane and ASGI app alike."""
    with _connect(lane) as sock:
        sock.sendall(
            b"GET /slow?s=0.4 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + _post("/echo/7", b'{"last": true}')
        )
        slow, health, echo = _responses(sock, 3)
    assert slow[0] == 200 and "pid" in orjson.loads(slow[2])
    assert health[0] == 200 and orjson.loads(health[2])["status"] == "ok"
    assert echo[0] == 200 and orjson.loads(echo[2])["body"] == {"last": True}


def test_a_chunked_body_is_read_whole(lane: Served) -> None:
    payload = orjson.dumps({"items": list(range(20_000))})  # ~100 KB, many chunks
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + 4096]), payload[i : i + 4096])
        for i in range(0, len(payload), 4096)
    )
    with _connect(lane) as sock:
        sock.sendall(
            b"POST /echo/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        )
        [(status, _, body)] = _responses(sock, 1)
    assert status == 200 and orjson.loads(body)["body"] == {"items": list(range(20_000))}


def test_a_body_that_arrives_later_is_waited_for(lane: Served) -> None:
    body = orjson.dumps({"late": "x" * 1000})
    with _connect(lane) as sock:
        request = _post("/echo/late", body)
        sock.sendall(request[: -len(body) // 2])  # the headers and half the body
        time.sleep(0.3)  # the call is under way, waiting for the rest
        sock.sendall(request[-len(body) // 2 :])
        [(status, _, answer)] = _responses(sock, 1)
    assert status == 200 and orjson.loads(answer)["body"] == {"late": "x" * 1000}


def test_over_the_body_limit_is_413_declared_or_not(lane: Served) -> None:
    limit = lane.platform.serverless and 6 * 1024 * 1024
    big = b"x" * (limit + 1)
    with _connect(lane) as sock:
        sock.sendall(_post("/echo/1", big))
        [(status, _, body)] = _responses(sock, 1)
        assert status == 413 and orjson.loads(body)["error"]["type"] == "PayloadTooLarge"
    with _connect(lane) as sock:
        sock.sendall(
            b"POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"100000\r\n" + b"y" * 0x100000 + b"\r\n" for _ in range(7))
        )
        [(status, _, _)] = _responses(sock, 1)
        assert status == 413
    assert httpx.post(lane.url + "/echo/2", json={"ok": 1}).json()["body"] == {"ok": 1}


def test_head_has_headers_and_no_body(lane: Served) -> None:
    with _connect(lane) as sock:
        sock.sendall(
            b"HEAD /echo/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        sock.settimeout(5)
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    first, second = data.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"405") and first.endswith(b"\r\n\r\n")  # POST-only route, no body
    assert b"allow: POST" in first and b"content-length: " in first
    assert second.startswith(b"200")


def test_connection_close_and_http_1_0_end_the_connection(lane: Served) -> None:
    for request in (
        _post("/echo/1", b"{}", b"Connection: close\r\n"),
        b"POST /echo/2 HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    ):
        with _connect(lane) as sock:
            sock.sendall(request)
            [(status, headers, _)] = _responses(sock, 1)
            assert status == 200 and headers[b"connection"] == b"close"
            assert sock.recv(1) == b""  # the server closed its end


def _busy(lane: Served) -> bool:
    return any(i.status == "busy" for i in lane.platform.serverless.list_instances())


def test_a_client_that_leaves_mid_call_does_not_disturb_the_server(lane: Served) -> None:
    with _connect(lane) as sock:
        sock.sendall(b"GET /slow?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: _busy(lane))  # the client leaves while its call runs
    wait_until(lambda: not _busy(lane))  # the call ends with nobody to answer
    for _ in range(3):
        assert httpx.get(lane.url + "/slow", params={"s": "0"}).status_code == 200


def test_a_handler_cannot_inject_headers(lane: Served) -> None:
    with _connect(lane) as sock:
        sock.sendall(b"GET /inject HTTP/1.1\r\nHost: x\r\n\r\n")
        [(status, headers, body)] = _responses(sock, 1)
    assert status == 502 and b"x-injected" not in headers
    assert orjson.loads(body)["error"]["type"] == "BadHandlerResponse"


def test_headers_over_the_limit_are_431_on_trigger_routes(lane: Served) -> None:
    with _connect(lane) as sock:
        sock.sendall(_post("/echo/1", b"{}", b"X-Big: " + b"z" * 20_000 + b"\r\n"))
        [(status, _, body)] = _responses(sock, 1)
    assert status == 431 and orjson.loads(body)["error"]["type"] == "HeadersTooLarge"


def test_a_call_in_flight_when_the_server_stops_is_answered_then_closed(lane: Served) -> None:
    """uvicorn's graceful shutdown reaches lane requests: the answer still comes, with
    ``connection: close``, and the server waits for it."""
    sock = _connect(lane)
    try:
        sock.sendall(b"GET /slow?s=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: _busy(lane))  # the call is running in its worker
        lane.server.close()  # returns once in-flight requests are answered
        [(status, headers, body)] = _responses(sock, 1)
        assert status == 200 and "pid" in orjson.loads(body)
        assert headers[b"connection"] == b"close"
        assert sock.recv(1) == b""
    finally:
        sock.close()
