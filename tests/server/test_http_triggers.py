"""HTTP triggers: routes on the same server, the event, the response, and error codes."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import httpx
import pytest

from constellation.errors import ConflictError, ValidationError
from constellation.platform import Constellation

from .._support import wait_until
from .conftest import Served

HTTP = str(Path(__file__).resolve().parents[1] / "fixtures" / "server" / "http_handlers.py")


def _fn(
    served: Served, name: str, handler: str, path: str, method: str = "ANY", **opts: object
) -> str:
    info = served.platform.serverless.create_function(name, "python", handler, HTTP, **opts)  # type: ignore[arg-type]
    spec = {"type": "http", "path": path, "method": method}
    served.platform.serverless.add_trigger(info.id, spec)
    return info.id


def test_event_carries_json_body_headers_query_and_path_params(served: Served) -> None:
    _fn(served, "orders", "event", "/api/orders/{order_id}", "POST")
    r = httpx.post(
        served.url + "/api/orders/12345?verbose=1&tag=a&tag=b",
        json={"amount": 99.99},
        headers={"X-Trace": "t-1"},
    )
    assert r.status_code == 200, r.text
    event = r.json()
    assert event["body"] == {"amount": 99.99} and event["is_base64_encoded"] is False
    assert event["method"] == "POST" and event["path"] == "/api/orders/12345"
    assert event["route"] == "/api/orders/{order_id}"
    assert event["path_params"] == {"order_id": "12345"}
    assert event["query"] == {"verbose": "1", "tag": "a,b"}
    assert event["raw_query"] == "verbose=1&tag=a&tag=b"
    assert event["headers"]["x-trace"] == "t-1"
    assert event["headers"]["content-type"] == "application/json"
    assert event["source_ip"] == "127.0.0.1"
    assert r.headers["x-request-id"]


def test_text_and_binary_bodies(served: Served) -> None:
    _fn(served, "raw", "event", "/raw", "POST")
    text = httpx.post(served.url + "/raw", content="héllo", headers={"content-type": "text/plain"})
    assert text.json()["body"] == "héllo" and text.json()["is_base64_encoded"] is False
    blob = httpx.post(served.url + "/raw", content=b"\xff\x00\xfe")
    assert blob.json()["is_base64_encoded"] is True
    assert base64.b64decode(blob.json()["body"]) == b"\xff\x00\xfe"
    form = {"content-type": "application/x-www-form-urlencoded"}  # what curl -d sends
    curl = httpx.post(served.url + "/raw", content=b'{"order_id": 1}', headers=form)
    assert curl.json()["body"] == {"order_id": 1}
    real_form = httpx.post(served.url + "/raw", content=b"a=1&b=2", headers=form)
    assert real_form.json()["body"] == "a=1&b=2"
    empty = httpx.post(served.url + "/raw")
    assert empty.json()["body"] is None


def test_lambda_proxy_responses(served: Served) -> None:
    _fn(served, "p1", "proxy", "/p/{order_id}")
    _fn(served, "p2", "proxy_text", "/teapot")
    _fn(served, "p3", "proxy_binary", "/png")
    _fn(served, "p4", "proxy_bad_status", "/bad-status")
    r = httpx.get(served.url + "/p/7")
    assert r.status_code == 201 and r.json() == {"created": True}
    assert r.headers["x-order"] == "7" and r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/json"
    t = httpx.get(served.url + "/teapot")
    assert t.status_code == 418 and t.text == "teapot" and t.headers["content-type"] == "text/plain"
    png = httpx.get(served.url + "/png")
    assert png.content == b"\x89PNG\x00\x01" and png.headers["content-type"] == "image/png"
    bad = httpx.get(served.url + "/bad-status")
    assert bad.status_code == 502 and bad.json()["error"]["type"] == "BadHandlerResponse"


def test_handler_error_is_502_and_timeout_504(served: Served) -> None:
    _fn(served, "boom", "boom", "/boom")
    _fn(served, "slow", "slow", "/slow", timeout_s=1)
    r = httpx.get(served.url + "/boom")
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["type"] == "RuntimeError" and "kaboom" in err["message"]
    assert err["request_id"] == r.headers["x-request-id"]
    t = httpx.get(served.url + "/slow?s=5", timeout=30)
    assert t.status_code == 504 and t.json()["error"]["status"] == "timeout"


def test_over_the_queue_limit_is_429_with_retry_after(served: Served) -> None:
    fid = served.platform.serverless.create_function(
        "one", "python", "slow", HTTP, concurrency=1
    ).id
    served.platform.serverless.add_trigger(
        fid, {"type": "http", "path": "/one", "method": "GET", "max_queued": 0}
    )
    first: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: first.append(httpx.get(served.url + "/one?s=5", timeout=60))
    )
    worker.start()
    sls = served.platform.serverless
    wait_until(lambda: any(i.status == "busy" for i in sls.list_instances("one")))
    second = httpx.get(served.url + "/one?s=0", timeout=60)  # while the first still runs
    worker.join()
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert first[0].status_code == 200


def test_unknown_route_404_and_wrong_method_405(served: Served) -> None:
    _fn(served, "only-post", "event", "/only", "POST")
    assert httpx.get(served.url + "/nothing-here").status_code == 404
    r = httpx.get(served.url + "/only")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_literal_route_wins_over_parameter(served: Served) -> None:
    _fn(served, "by-id", "event", "/items/{item_id}", "GET")
    _fn(served, "new-item", "event", "/items/new", "GET")
    assert httpx.get(served.url + "/items/new").json()["route"] == "/items/new"
    assert httpx.get(served.url + "/items/9").json()["path_params"] == {"item_id": "9"}


def test_route_conflicts_are_refused_when_added(served: Served) -> None:
    sls = served.platform.serverless
    _fn(served, "a", "event", "/api/orders/{order_id}", "POST")
    b = sls.create_function("b", "python", "event", HTTP)
    with pytest.raises(ConflictError, match="conflicts"):
        sls.add_trigger(b.id, {"type": "http", "path": "/api/orders/{id}", "method": "POST"})
    with pytest.raises(ConflictError):
        sls.add_trigger(b.id, {"type": "http", "path": "/api/orders/{id}", "method": "ANY"})
    sls.add_trigger(b.id, {"type": "http", "path": "/api/orders/{id}", "method": "GET"})
    with pytest.raises(ValidationError, match="reserved"):
        sls.add_trigger(b.id, {"type": "http", "path": "/api/v1/mine"})
    r = served.client.post(
        "/api/v1/functions/b/triggers",
        json={"type": "http", "path": "/api/orders/{x}", "method": "POST"},
    )
    assert r.status_code == 409


def test_a_route_added_by_another_process_is_served(served: Served, tmp_path: Path) -> None:
    other = Constellation(served.platform.settings.home, background=False)
    try:
        info = other.serverless.create_function("late", "python", "event", HTTP)
        other.serverless.add_trigger(info.id, {"type": "http", "path": "/late"})
    finally:
        other.close()

    def served_late() -> httpx.Response | None:
        found = httpx.get(served.url + "/late", timeout=60)
        return found if found.status_code != 404 else None

    r = wait_until(served_late, interval=0.1)
    assert r.status_code == 200 and r.json()["route"] == "/late"


@pytest.mark.parametrize(
    ("status", "code"),
    [("error", 502), ("crashed", 502), ("memory_limit", 502), ("timeout", 504), ("throttled", 429)],
)
def test_every_failed_result_has_its_status_code(status: str, code: int) -> None:
    from constellation.server._gateway import to_response
    from constellation.serverless import InvocationResult

    result = InvocationResult(
        "rid-1", "fn-1", "f", status, None, f"{status}!", "Kind", 1.0, 1, 0.0, 128, False, 0.0, 0.0
    )
    got, body, headers = to_response(result)
    assert got == code
    assert (b"x-request-id", b"rid-1") in headers
    assert ((b"retry-after", b"1") in headers) == (code == 429)
    assert b'"status":"' + status.encode() + b'"' in body


def test_concurrent_requests_queue_up_to_the_limit_and_all_succeed(served: Served) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _fn(served, "busy", "event", "/busy/{n}", "POST", concurrency=3)
    with ThreadPoolExecutor(max_workers=12) as pool, httpx.Client() as client:
        answers = list(
            pool.map(
                lambda n: client.post(f"{served.url}/busy/{n}", json={"n": n}, timeout=60),
                range(36),
            )
        )
    assert [a.status_code for a in answers] == [200] * 36, [
        a.text for a in answers if a.status_code != 200
    ]
    assert [a.json()["body"]["n"] for a in answers] == list(range(36))
    assert len({a.headers["x-request-id"] for a in answers}) == 36
    assert len(served.platform.serverless.list_instances("busy")) <= 3
