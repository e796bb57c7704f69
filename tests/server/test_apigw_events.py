"""API Gateway proxy events (apigw-v1, apigw-v2): the event's shape and how answers map."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from constellation.errors import ValidationError
from constellation.triggers import validate_trigger

from .conftest import Served

ECHO = str(Path(__file__).resolve().parents[1] / "fixtures" / "lambda" / "echo.py")


def _fn(served: Served, name: str, handler: str, path: str, fmt: str, method: str = "ANY") -> None:
    info = served.platform.serverless.create_function(name, "python", handler, ECHO)
    spec = {"type": "http", "path": path, "method": method, "event_format": fmt}
    served.platform.serverless.add_trigger(info.id, spec)


def _echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_v1_event_shape(served: Served) -> None:
    _fn(served, "e1", "echo", "/shop/{shop}/{proxy+}", "apigw-v1")
    r = httpx.post(
        served.url + "/shop/s1/orders/7?x=1&tag=a&tag=b",
        json={"n": 1},
        headers=[("x-multi", "one"), ("x-multi", "two")],
    )
    out = _echo(r)
    event, context = out["event"], out["context"]
    assert event["httpMethod"] == "POST" and event["path"] == "/shop/s1/orders/7"
    assert event["resource"] == "/shop/{shop}/{proxy+}"
    assert event["pathParameters"] == {"shop": "s1", "proxy": "orders/7"}
    assert event["queryStringParameters"] == {"x": "1", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1"], "tag": ["a", "b"]}
    assert event["headers"]["x-multi"] == "two"
    assert event["multiValueHeaders"]["x-multi"] == ["one", "two"]
    assert event["body"] == '{"n":1}' and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    ctx = event["requestContext"]
    assert ctx["httpMethod"] == "POST" and ctx["resourcePath"] == "/shop/{shop}/{proxy+}"
    assert ctx["requestId"] and ctx["requestTimeEpoch"] > 0 and "/" in ctx["requestTime"]
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert context["arn"] == "arn:aws:lambda:local:000000000000:function:e1"
    assert context["log_group"] == "/aws/lambda/e1"
    assert context["log_stream"].endswith("]" + context["log_stream"].split("]")[1])
    empty = _echo(httpx.get(served.url + "/shop/s1/x"))["event"]
    assert empty["body"] is None and empty["queryStringParameters"] is None
    assert empty["multiValueQueryStringParameters"] is None


def test_v1_binary_body_is_base64(served: Served) -> None:
    _fn(served, "e2", "echo", "/bin", "apigw-v1")
    event = _echo(httpx.post(served.url + "/bin", content=b"\xff\x00"))["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\x00"


def test_v2_event_shape(served: Served) -> None:
    _fn(served, "e3", "echo", "/v2/{item}", "apigw-v2", "PUT")
    r = httpx.put(
        served.url + "/v2/lamp?a=1&a=2",
        content="text body",
        headers=[("cookie", "s=1; t=2"), ("x-multi", "one"), ("x-multi", "two")],
    )
    event = _echo(r)["event"]
    assert event["version"] == "2.0" and event["routeKey"] == "PUT /v2/{item}"
    assert event["rawPath"] == "/v2/lamp" and event["rawQueryString"] == "a=1&a=2"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["cookies"] == ["s=1", "t=2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["pathParameters"] == {"item": "lamp"}
    assert event["body"] == "text body" and event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert http["method"] == "PUT" and http["path"] == "/v2/lamp"
    assert http["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["requestId"] and event["requestContext"]["timeEpoch"] > 0
    bare = _echo(httpx.put(served.url + "/v2/x"))["event"]
    for absent in ("body", "cookies", "queryStringParameters"):
        assert absent not in bare


def test_aws_sample_handler_and_multi_value_headers(served: Served) -> None:
    _fn(served, "sample", "sample", "/orders", "apigw-v1")
    r = httpx.post(served.url + "/orders", json={"item": "lamp"})
    assert r.status_code == 201 and r.json() == {"ordered": "lamp"}
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert httpx.get(served.url + "/orders").text == "hello"


def test_v2_shortcut_and_cookies(served: Served) -> None:
    _fn(served, "d", "shortcut_dict", "/short/dict", "apigw-v2")
    _fn(served, "t", "shortcut_text", "/short/text", "apigw-v2")
    _fn(served, "c", "v2_cookies", "/cookies", "apigw-v2")
    d = httpx.get(served.url + "/short/dict")
    assert d.status_code == 200 and d.json() == {"message": "hi", "path": "/short/dict"}
    assert d.headers["content-type"] == "application/json"
    t = httpx.get(served.url + "/short/text")
    assert t.status_code == 200 and t.text == "plain words"
    c = httpx.get(served.url + "/cookies", headers={"cookie": "in=1"})
    assert c.headers.get_list("set-cookie") == ["c1=v1; Path=/", "c2=v2"]
    assert c.headers["x-seen"] == "in=1" and c.text == "ok"


def test_v1_answer_without_status_is_a_502(served: Served) -> None:
    _fn(served, "m", "malformed", "/malformed", "apigw-v1")
    r = httpx.get(served.url + "/malformed")
    assert r.status_code == 502 and r.json()["error"]["type"] == "BadHandlerResponse"


def test_traceparent_reaches_the_context(served: Served) -> None:
    _fn(served, "tp", "echo", "/traced", "apigw-v1")
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    out = _echo(httpx.get(served.url + "/traced", headers={"traceparent": parent}))
    assert out["context"]["trace_parent"] == parent
    assert _echo(httpx.get(served.url + "/traced"))["context"]["trace_parent"] is None


def test_event_format_is_validated_and_defaults() -> None:
    spec = validate_trigger({"type": "http", "path": "/a"})
    assert spec["event_format"] == "default"
    assert validate_trigger(spec) == spec
    with pytest.raises(ValidationError) as err:
        validate_trigger({"type": "http", "path": "/a", "event_format": "lambda"})
    assert err.value.field == "trigger.event_format" and "'apigw-v2'" in str(err.value)


@pytest.mark.parametrize(
    ("path", "message"),
    [("/a/{proxy+}/b", "must be the last segment"), ("/a/{p}/{p+}", "appears twice")],
)
def test_greedy_path_rules(path: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_trigger({"type": "http", "path": path})


def test_greedy_route_is_tried_after_exact_and_parameter_routes(served: Served) -> None:
    _fn(served, "g", "echo", "/g/{proxy+}", "apigw-v1")
    _fn(served, "p", "echo", "/g/{one}", "apigw-v1")
    one = _echo(httpx.get(served.url + "/g/x"))["event"]
    assert one["resource"] == "/g/{one}"
    deep = _echo(httpx.get(served.url + "/g/x/y"))["event"]
    assert deep["resource"] == "/g/{proxy+}" and deep["pathParameters"] == {"proxy": "x/y"}
