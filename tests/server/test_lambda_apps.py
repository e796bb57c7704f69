"""Code written for AWS Lambda behind API Gateway runs unchanged behind HTTP triggers.

The applications in tests/fixtures/lambda are built on AWS Lambda Powertools' resolvers
and on FastAPI through Mangum; each is deployed as a function with ``apigw-v1`` or
``apigw-v2`` triggers and exercised through real HTTP requests to a running server.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .conftest import Served

pytest.importorskip("aws_lambda_powertools")
pytest.importorskip("mangum")

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "lambda"


def _deploy(served: Served, name: str, file: str, handler: str, fmt: str, paths: list[str]) -> str:
    info = served.platform.serverless.create_function(
        name,
        "python",
        handler,
        str(APPS / file),
        memory_mb=512,
        timeout_s=60,  # type: ignore[arg-type]
    )
    for path in paths:
        served.platform.serverless.add_trigger(
            info.id, {"type": "http", "path": path, "event_format": fmt}
        )
    return info.id


def test_powertools_rest_resolver_app(served: Served) -> None:
    paths = ["/todos", "/todos/{todo_id}", "/whoami", "/boom"]
    _deploy(served, "todos", "powertools_rest.py", "lambda_handler", "apigw-v1", paths)
    url = served.url
    listing = httpx.get(url + "/todos?limit=1&tag=a&tag=b", timeout=60)
    assert listing.status_code == 200, listing.text
    assert listing.json() == {"todos": [{"id": "1", "title": "buy milk"}], "tags": ["a", "b"]}
    assert httpx.get(url + "/todos/2").json() == {"id": "2", "title": "walk the dog"}
    missing = httpx.get(url + "/todos/9")
    assert missing.status_code == 404 and missing.json()["message"] == "todo 9 not found"
    created = httpx.post(url + "/todos", json={"title": "write tests"})
    assert created.status_code == 201 and created.json() == {"id": "3", "title": "write tests"}
    assert created.headers["location"] == "/todos/3"
    assert created.headers.get_list("set-cookie") == ["session=abc; Secure", "theme=dark; Secure"]
    bad = httpx.post(url + "/todos", json={"name": "no title"})
    assert bad.status_code == 400 and bad.json()["message"] == "a todo needs a title"
    who = httpx.get(url + "/whoami", headers={"user-agent": "pytest/1", "cookie": "a=1"}).json()
    assert who["function_arn"] == "arn:aws:lambda:local:000000000000:function:todos"
    assert who["log_group"] == "/aws/lambda/todos"
    assert "[1]" in who["log_stream"] and who["request_id"]
    assert who["user_agent"] == "pytest/1" and who["cookie"] == "a=1"
    boom = httpx.get(url + "/boom")  # an unhandled exception: API Gateway's 502
    assert boom.status_code == 502 and boom.json()["error"]["type"] == "RuntimeError"
    not_routed = httpx.delete(url + "/todos/1")  # the resolver's own 404 for a method
    assert not_routed.status_code == 404


def test_powertools_http_resolver_app_with_greedy_path(served: Served) -> None:
    paths = ["/lamps/{proxy+}", "/me"]
    _deploy(served, "lamps", "powertools_http.py", "lambda_handler", "apigw-v2", paths)
    url = served.url
    lamp = httpx.get(url + "/lamps/7?brightness=40", timeout=60)
    assert lamp.status_code == 200, lamp.text
    assert lamp.json() == {"lamp": 7, "brightness": 40}
    deep = httpx.get(url + "/lamps/7/files/manual/en.pdf")
    assert deep.json() == {"lamp": "7", "path": "/lamps/7/files/manual/en.pdf"}
    assert httpx.get(url + "/lamps/kitchen").status_code == 404
    switched = httpx.put(url + "/lamps/3", json={"on": True})
    assert switched.json() == {"lamp": 3, "on": True}
    assert switched.headers["set-cookie"] == "last_lamp=3; HttpOnly; Secure"
    assert httpx.get(url + "/me").status_code == 401
    me = httpx.get(url + "/me", headers={"cookie": "session=abc; theme=dark"})
    assert me.json() == {"cookies": ["session=abc", "theme=dark"], "method": "GET"}
    assert httpx.get(url + "/lamps").status_code == 404  # {proxy+} needs a segment


def test_mangum_fastapi_app(served: Served) -> None:
    paths = ["/items", "/items/{item_id}", "/plain"]
    _deploy(served, "items", "mangum_app.py", "handler", "apigw-v2", paths)
    url = served.url
    item = httpx.get(url + "/items/1?q=lit", timeout=60)
    assert item.status_code == 200, item.text
    assert item.json() == {"item_id": 1, "name": "lamp", "q": "lit"}
    assert httpx.get(url + "/items/5").json() == {"detail": "item not found"}
    assert httpx.get(url + "/items/5").status_code == 404
    invalid = httpx.get(url + "/items/abc")  # FastAPI's own validation answer
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == [
        "path",
        "item_id",
    ]
    created = httpx.post(url + "/items", json={"name": "chair"})
    assert created.status_code == 201 and created.json() == {"item_id": 3, "name": "chair"}
    assert created.headers["set-cookie"].startswith("created=chair")
    plain = httpx.get(url + "/plain")
    assert plain.text == "just text" and plain.headers["content-type"].startswith("text/plain")


def test_mangum_app_behind_a_rest_api_v1_trigger(served: Served) -> None:
    _deploy(served, "items1", "mangum_app.py", "handler", "apigw-v1", ["/items/{item_id}"])
    item = httpx.get(served.url + "/items/2?q=x", timeout=60)
    assert item.status_code == 200, item.text
    assert item.json() == {"item_id": 2, "name": "desk", "q": "x"}
