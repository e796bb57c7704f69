"""The CLI driving a real server through its REST API (``--server URL --token T``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from constellation import anomaly
from constellation.platform import Constellation

from .conftest import HANDLERS, Served, cli

HELLO = "def handler(event, context):\n    print('got', event)\n    return {'hello': event}\n"
FAILING = "import json\n\n\ndef handler(event, context):\n    return json.loads('{bad')\n"


def _local_functions(home: Path) -> list[str]:
    with Constellation(home) as platform:
        return [f.name for f in platform.serverless.list_functions()]


def test_a_function_lifecycle_over_the_rest_api(
    served: Served, tmp_path: Path, tmp_home: Path
) -> None:
    code = tmp_path / "hello.py"
    code.write_text(HELLO)
    done = served.cli(
        "functions", "create", "hello", "--code", str(code),
        "--http", "/hello", "--schedule", "*/5 * * * *", "--queue", "orders",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "created hello" in done.stdout and "http /hello" in done.stdout
    # it lives on the server, not in the local store
    assert served.platform.serverless.get_function("hello").name == "hello"
    assert _local_functions(tmp_home) == []

    listed = served.cli("functions", "list")
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("hello "))
    info = json.loads(served.cli("functions", "get", "hello", "-o", "json").stdout)
    assert info["id"] in line
    kinds = sorted(t["type"] for t in info["triggers"])
    assert kinds == ["http", "queue", "timer"]

    # the HTTP trigger the CLI added answers on the server
    assert httpx.post(served.url + "/hello", json=7).json()["hello"]["body"] == 7
    invoked = served.cli("functions", "invoke", "hello", "--data", '{"a": 1}')
    assert invoked.exit_code == 0, invoked.output
    assert json.loads(invoked.stdout)["output"] == {"hello": {"a": 1}}

    stats = json.loads(served.cli("functions", "stats", "--json").stdout)
    assert stats["functions"] == 1
    metrics = json.loads(served.cli("functions", "metrics", "hello", "--json").stdout)
    assert metrics["total_invocations"] == 2
    request_id = json.loads(invoked.stdout)["request_id"]
    invocation = json.loads(served.cli("functions", "invocation", request_id, "--json").stdout)
    assert invocation["request_id"] == request_id
    bill = json.loads(served.cli("functions", "billing", "hello", "--all", "--json").stdout)
    assert bill["invocation_count"] == 2
    assert "estimated cost USD" in served.cli("functions", "billing", "hello").stdout
    logs = json.loads(served.cli("functions", "logs", "hello", "-o", "json").stdout)
    assert request_id in [entry["request_id"] for entry in logs]
    assert served.cli("functions", "scaling", "hello", "--json").exit_code == 0
    assert json.loads(served.cli("functions", "dlq", "hello", "--json").stdout) == []
    changed = json.loads(
        served.cli("functions", "set", "hello", "--memory", "256", "--json").stdout
    )
    assert changed["memory_mb"] == 256
    assert served.platform.serverless.get_function("hello").memory_mb == 256
    triggers = json.loads(served.cli("functions", "triggers", "hello", "-o", "json").stdout)
    http_id = next(t["id"] for t in triggers if t["type"] == "http")
    assert served.cli("functions", "remove-trigger", http_id).exit_code == 0
    assert httpx.post(served.url + "/hello", json=7).status_code == 404
    deployed = json.loads(served.cli("functions", "deploy", "hello", "--json").stdout)
    assert deployed["status"] == "deployed"
    assert served.cli("functions", "delete", "hello").exit_code == 0
    gone = served.cli("functions", "get", "hello")
    assert gone.exit_code == 1 and gone.stderr == "Error: function 'hello' not found\n"


def test_bad_input_is_named_the_same_way_remotely(served: Served) -> None:
    done = served.cli("functions", "create", "ok", "--code", HANDLERS, "--memory", "99999")
    assert done.exit_code == 1
    assert done.stderr.startswith("Error: memory_mb: ") and done.stderr.count("\n") == 1
    assert served.cli("functions", "list", "-o", "json").stdout.strip() == "[]"


def test_a_directory_is_uploaded_as_a_zip(served: Served, tmp_path: Path) -> None:
    package = tmp_path / "app"
    (package / "shop").mkdir(parents=True)
    (package / "shop" / "__init__.py").write_text("")
    (package / "shop" / "prices.py").write_text("PRICE = 3\n")
    (package / "main.py").write_text(
        "from shop.prices import PRICE\n\ndef handle(event, context):\n    return PRICE * event\n"
    )
    done = served.cli(
        "functions", "create", "shop", "--code", str(package), "--handler", "main.handle"
    )
    assert done.exit_code == 0, done.output
    invoked = served.cli("functions", "invoke", "shop", "--data", "5")
    assert json.loads(invoked.stdout)["output"] == 15


def test_a_failed_handler_prints_a_traceback_at_its_own_file(
    served: Served, tmp_path: Path
) -> None:
    code = tmp_path / "broken.py"
    code.write_text(FAILING)
    assert served.cli("functions", "create", "broken", "--code", str(code)).exit_code == 0
    done = served.cli("functions", "invoke", "broken")
    assert done.exit_code == 1
    result = json.loads(done.stdout)  # stdout stays JSON; the traceback is on stderr
    assert result["status"] == "error" and "traceback" not in result
    lines = done.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    # the handler's own line, by the code's own name, not the server's stored copy
    assert '  File "main.py", line 5, in handler' in lines
    assert not any("_runtime" in ln or "uploads" in ln for ln in lines)
    assert lines[-1].startswith("json.decoder.JSONDecodeError")


def test_the_environment_names_the_server(served: Served) -> None:
    env = {"CONSTELLATION_URL": served.url, "CONSTELLATION_TOKEN": served.token}
    served.platform.serverless.create_function("remote", "python", "chatty", HANDLERS)
    done = cli("functions", "list", env=env)
    assert done.exit_code == 0 and done.stdout.splitlines()[1].startswith("remote ")


def test_a_bad_token_is_one_clear_line(served: Served) -> None:
    done = cli("--server", served.url, "--token", "wrong", "functions", "list")
    assert done.exit_code == 1
    assert done.stderr.count("\n") == 1
    assert "refused the token (401)" in done.stderr and "CONSTELLATION_TOKEN" in done.stderr


def test_a_server_that_is_down_is_one_clear_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = cli("--server", url, "--token", "t", "functions", "list")
    assert done.exit_code == 1
    assert done.stderr == (
        f"Error: cannot reach the server at {url}: is `constellation serve` running there?\n"
    )


def test_commands_of_this_machine_refuse_a_server(served: Served) -> None:
    done = served.cli("gpu", "list")
    assert done.exit_code == 2 and "works on this machine only" in done.stderr
    done = served.cli("serve")
    assert done.exit_code == 2 and "`serve` runs on this machine: drop --server" in done.stderr
    done = cli("--server", "ftp://x", "functions", "list")
    assert done.exit_code == 1 and "is not an http:// or https:// URL" in done.stderr


def test_anomalies_over_the_api(served: Served) -> None:
    previous = anomaly.set_registry(served.platform.anomaly)  # as Constellation.start() does
    try:
        recorded = served.platform.anomaly.record(
            metric_name="disk_used", detected_value=97.0, expected_value=60.0,
            severity="critical", type="threshold",
        )  # fmt: skip
        listed = served.cli("anomaly", "list")
        assert listed.exit_code == 0, listed.output
        assert recorded.id in listed.stdout and "disk_used" in listed.stdout
        assert served.cli("anomaly", "resolve", recorded.id).exit_code == 0
        assert json.loads(served.cli("anomaly", "list", "--json").stdout) == []
        history = json.loads(served.cli("anomaly", "list", "--all", "--json").stdout)
        assert [a["id"] for a in history] == [recorded.id]
    finally:
        anomaly.set_registry(previous)


def test_a_bad_trigger_is_named_alike_locally_and_remotely(served: Served) -> None:
    args = ["functions", "create", "x", "--code", HANDLERS, "--handler", "chatty"]
    args += ["--http", "/x", "--schedule", "every tuesday"]
    remote = served.cli(*args)
    local = cli(*args)
    assert remote.exit_code == local.exit_code == 1
    for done in (remote, local):  # the server words the cron rule in its own way
        assert done.stderr.startswith("Error: triggers[1].")
        assert "'every tuesday'" in done.stderr and "cron" in done.stderr
    assert served.cli("functions", "list", "--json").stdout.strip() == "[]"  # nothing made
    assert cli("functions", "list", "--json").stdout.strip() == "[]"
