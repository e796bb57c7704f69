"""The management REST API, over a real socket."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest

from .._support import wait_until
from .conftest import Served

SOURCE = "def handle(event, context):\n    return {'doubled': event['n'] * 2}\n"


def _zip(files: dict[str, str]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return base64.b64encode(buffer.getvalue()).decode()


def test_create_from_source_then_get_list_deploy_invoke(served: Served) -> None:
    c = served.client
    r = c.post(
        "/api/v1/functions",
        json={
            "name": "double",
            "handler": "calc.handle",
            "code": SOURCE,
            "memory_mb": 256,
            "env": {"SECRET": "x"},
            "scaling_policy": {"max_instances": 3},
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "double" and created["memory_mb"] == 256
    assert created["env"] == {"SECRET": "****"} and created["triggers"] == []
    assert created["scaling_policy"]["max_instances"] == 3
    assert c.get("/api/v1/functions/double").json()["id"] == created["id"]
    assert [f["name"] for f in c.get("/api/v1/functions").json()["functions"]] == ["double"]
    deployed = c.post("/api/v1/functions/double/deploy")
    assert deployed.status_code == 200 and deployed.json()["status"] == "deployed"
    result = c.post("/api/v1/functions/double/invoke", json={"n": 21})
    assert result.status_code == 200
    assert result.json()["output"] == {"doubled": 42} and result.json()["status"] == "success"
    assert result.headers["x-request-id"] == result.json()["request_id"]


def test_create_from_a_base64_zip(served: Served) -> None:
    code = _zip({"pkg/__init__.py": "", "pkg/mod.py": SOURCE})
    r = served.client.post(
        "/api/v1/functions", json={"name": "zipped", "handler": "pkg.mod.handle", "code_zip": code}
    )
    assert r.status_code == 201, r.text
    out = served.client.post("/api/v1/functions/zipped/invoke", json={"n": 2}).json()
    assert out["output"] == {"doubled": 4}


@pytest.mark.parametrize(
    ("member", "message"), [("../evil.py", "leaves the archive"), ("/abs.py", "leaves the archive")]
)
def test_a_zip_that_escapes_is_refused(served: Served, member: str, message: str) -> None:
    r = served.client.post(
        "/api/v1/functions",
        json={"name": "evil", "handler": "evil.handle", "code_zip": _zip({member: SOURCE})},
    )
    assert r.status_code == 400 and message in r.json()["error"]["message"]
    assert served.client.get("/api/v1/functions/evil").status_code == 404


def test_bad_fields_are_named_and_nothing_is_created(served: Served) -> None:
    c = served.client
    cases = [
        ({"name": "Bad_Name", "code": SOURCE}, "name"),
        ({"name": "ok", "code": SOURCE, "memory_mb": 1}, "memory_mb"),
        ({"name": "ok", "code": SOURCE, "colour": "red"}, "colour"),
        ({"name": "ok", "code": "def oops(:\n", "handler": "m.handle"}, "code"),
        (
            {
                "name": "ok",
                "code": SOURCE,
                "handler": "calc.handle",
                "triggers": [{"type": "timer", "schedule": "every day"}],
            },
            "triggers[0].trigger.schedule",
        ),
        ({"name": "ok"}, "code"),
        ({"name": "ok", "code": SOURCE, "code_zip": "eA=="}, "code"),
        ({"name": "ok", "code_zip": "not base64!"}, "code_zip"),
        ({"name": "ok", "code": SOURCE, "resources": {"num_gpus": 1.5}}, "resources.num_gpus"),
    ]
    for body, field in cases:
        r = c.post("/api/v1/functions", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field, r.text
    assert c.get("/api/v1/functions").json()["functions"] == []


def test_a_conflicting_route_at_create_leaves_nothing_behind(served: Served) -> None:
    served.create("first", "echo", triggers=[{"type": "http", "path": "/orders", "method": "POST"}])
    r = served.client.post(
        "/api/v1/functions",
        json={
            "name": "second",
            "handler": "calc.handle",
            "code": SOURCE,
            "triggers": [{"type": "http", "path": "/orders/", "method": "ANY"}],
        },
    )
    assert r.status_code == 409 and "conflicts" in r.json()["error"]["message"]
    assert served.client.get("/api/v1/functions/second").status_code == 404


def test_duplicate_name_is_a_conflict(served: Served) -> None:
    served.create("dup", "echo")
    r = served.client.post("/api/v1/functions", json={"name": "dup", "code": SOURCE})
    assert r.status_code == 409


def test_patch_checks_every_value_before_applying_any(served: Served) -> None:
    served.create("tune", "echo")
    c = served.client
    bad = c.patch("/api/v1/functions/tune", json={"memory_mb": 512, "timeout_s": 0})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "timeout_s"
    assert c.get("/api/v1/functions/tune").json()["memory_mb"] == 128
    good = c.patch(
        "/api/v1/functions/tune",
        json={"memory_mb": 512, "timeout_s": 5, "env": {"K": "v"}, "prewarm_instances": 0},
    )
    assert good.status_code == 200
    assert good.json()["memory_mb"] == 512 and good.json()["env"] == {"K": "****"}
    unset = c.patch("/api/v1/functions/tune", json={"env": {"K": None}})
    assert unset.status_code == 200 and unset.json()["env"] == {}
    again = c.patch("/api/v1/functions/tune", json={"env": {"K": None}})
    assert again.status_code == 400 and again.json()["error"]["field"] == "env.K"


def test_resources_are_set_at_create_and_patched(served: Served) -> None:
    c = served.client
    r = c.post(
        "/api/v1/functions",
        json={
            "name": "res",
            "handler": "calc.handle",
            "code": SOURCE,
            "resources": {"num_gpus": 0.5},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["resources"] == {"num_cpus": None, "num_gpus": 0.5, "custom": {}}
    bad = c.patch(
        "/api/v1/functions/res", json={"memory_mb": 256, "resources": {"custom": {"x": 0}}}
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "resources.custom.x"
    assert c.get("/api/v1/functions/res").json()["memory_mb"] == 128  # nothing applied
    good = c.patch("/api/v1/functions/res", json={"resources": {"num_cpus": 2}})
    assert good.status_code == 200
    assert good.json()["resources"] == {"num_cpus": 2, "num_gpus": 0.5, "custom": {}}


def test_async_invoke_gives_a_request_id_to_look_up(served: Served) -> None:
    served.create("echo", "echo")
    r = served.client.post("/api/v1/functions/echo/invoke?async=true", json={"x": 1})
    assert r.status_code == 202
    rid = r.json()["request_id"]
    assert r.headers["location"] == f"/api/v1/invocations/{rid}"

    def succeeded() -> dict[str, object] | None:
        found: dict[str, object] = served.client.get(f"/api/v1/invocations/{rid}").json()
        return found if found["state"] == "succeeded" else None

    inv = wait_until(succeeded)
    assert inv["result"]["output"]["event"] == {"x": 1}
    assert served.client.get("/api/v1/invocations/nope").status_code == 404


def test_metrics_billing_logs_instances_stats(served: Served) -> None:
    served.create("chatty", "chatty")
    c = served.client
    for _ in range(3):
        assert c.post("/api/v1/functions/chatty/invoke", json={}).json()["status"] == "success"
    m = c.get("/api/v1/functions/chatty/metrics").json()
    assert m["total_invocations"] == 3 and m["success_rate"] == 1.0 and m["cold_starts"] == 1
    b = c.get("/api/v1/functions/chatty/billing", params={"start": 0, "end": 4e9}).json()
    assert b["invocation_count"] == 3 and b["compute_time_ms"] >= 3
    assert c.get("/api/v1/functions/chatty/billing?start=2&end=1").status_code == 400
    assert c.get("/api/v1/functions/chatty/billing?start=yesterday").status_code == 400
    logs = c.get("/api/v1/functions/chatty/logs?limit=2").json()["logs"]
    assert len(logs) == 2 and "processing" in logs[0]["logs"]
    assert len(c.get("/api/v1/functions/chatty/instances").json()["instances"]) == 1
    assert c.get("/api/v1/stats").json()["total_invocations"] == 3


def test_scaling_decisions_are_served(served: Served) -> None:
    sls = served.platform.serverless
    sls.autoscaler.close()  # the test ticks by hand: no real-time ticks of the loop's own
    served.create("scaled", "echo")
    c = served.client
    assert c.post("/api/v1/functions/scaled/invoke", json={}).json()["status"] == "success"
    assert c.get("/api/v1/functions/scaled/scaling").json() == {"decisions": []}
    first = sls.autoscaler.tick()
    sls.autoscaler.tick()  # the same decision again: logged once
    sls.prewarm_function("scaled", instances=2)
    second = sls.autoscaler.tick()  # two instances now: a new entry
    decisions = c.get("/api/v1/functions/scaled/scaling").json()["decisions"]
    fid = sls.get_function("scaled").id
    assert [d["current"] for d in decisions] == [1, 2]
    assert [d["desired"] for d in decisions] == [first[fid].desired, second[fid].desired]
    assert {"current", "reactive", "predicted", "panic", "reason"} <= set(decisions[-1])
    one = c.get("/api/v1/functions/scaled/scaling?limit=1").json()["decisions"]
    assert one == decisions[-1:]
    assert c.get("/api/v1/functions/scaled/scaling?limit=0").json()["error"]["field"] == "limit"
    assert c.get("/api/v1/functions/nope/scaling").status_code == 404


def test_triggers_endpoint_add_list_get_delete(served: Served) -> None:
    served.create("t", "echo")
    c = served.client
    r = c.post("/api/v1/functions/t/triggers", json={"type": "timer", "schedule": "@hourly"})
    assert r.status_code == 201
    trigger = r.json()
    assert trigger["spec"]["timezone"] == "UTC" and trigger["function_name"] == "t"
    assert c.get("/api/v1/functions/t/triggers").json()["triggers"] == [trigger]
    assert c.get(f"/api/v1/triggers/{trigger['id']}").json() == trigger
    assert c.delete(f"/api/v1/triggers/{trigger['id']}").status_code == 204
    assert c.get("/api/v1/triggers").json()["triggers"] == []
    bad = c.post("/api/v1/functions/t/triggers", json={"type": "carrier-pigeon"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "trigger.type"


def test_delete_removes_the_function_and_its_triggers(served: Served) -> None:
    served.create("gone", "echo", triggers=[{"type": "http", "path": "/gone"}])
    assert served.client.get("/gone").status_code == 200
    assert served.client.delete("/api/v1/functions/gone").status_code == 204
    assert served.client.get("/api/v1/functions/gone").status_code == 404
    assert served.client.get("/api/v1/triggers").json()["triggers"] == []
    assert served.client.get("/gone").status_code == 404


def test_body_errors_on_the_api(served: Served) -> None:
    served.create("echo", "echo")
    c = served.client
    r = c.post("/api/v1/functions", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "InvalidJSON"
    r = c.post("/api/v1/functions", content=b"name=x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = c.post("/api/v1/functions", json=[1, 2])
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    r = c.post("/api/v1/functions/echo/invoke?async=maybe", json={})
    assert r.status_code == 400 and r.json()["error"]["field"] == "async"
    assert c.post("/api/v1/functions/nope/invoke", json={}).status_code == 404
