"""The command line, end to end: against the state on disk and a running platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from constellation.cli import main

from ._support import wait_until

HANDLERS = str(Path(__file__).resolve().parent / "fixtures" / "serverless" / "handlers.py")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_help_lists_the_command_groups() -> None:
    code, out = _run("--help")
    assert code == 0
    for group in ("functions", "instances", "run", "gpu"):
        assert group in out


def test_functions_lifecycle_through_the_cli(tmp_home: Path) -> None:
    assert (
        _run(
            "functions",
            "create",
            "order",
            "--code",
            HANDLERS,
            "--handler",
            "chatty",
            "--env",
            "API_KEY=hunter2",
        )[0]
        == 0
    )
    code, out = _run("functions", "list")
    assert code == 0 and "order" in out and "hunter2" not in out
    code, out = _run("functions", "invoke", "order", "--data", '{"spam": 0}')
    result = json.loads(out)
    assert code == 0 and result["status"] == "success" and result["output"] == "done"
    code, out = _run("functions", "logs", "order")
    assert code == 0 and "processing {'spam': 0}" in out
    code, out = _run("functions", "metrics", "order")
    assert code == 0 and "total_invocations" in out
    code, out = _run("functions", "billing", "order")
    assert code == 0 and "estimated cost USD" in out
    code, out = _run("functions", "set", "order", "--memory", "99999")
    assert code == 1 and "memory_mb: 99999 is out of range; expected 128-10240 MB" in out
    code, out = _run(
        "functions", "set", "order", "--num-gpus", "0.5", "--resource", "fast_disk=1", "--json"
    )
    resources = json.loads(out)["resources"]
    assert code == 0 and resources["num_gpus"] == 0.5 and resources["custom"] == {"fast_disk": 1.0}
    code, out = _run("functions", "set", "order", "--num-gpus", "1.5", "--memory", "256")
    assert code == 1 and "resources.num_gpus: 1.5: a fraction is allowed only below 1" in out
    assert json.loads(_run("functions", "get", "order", "-o", "json")[1])["memory_mb"] == 128
    code, out = _run("functions", "set", "order", "--resource", "fast_disk")
    assert code == 2 and "'fast_disk' is not NAME=AMOUNT" in out
    code, out = _run("functions", "dlq")
    assert code == 0 and out.split() == [
        "request",
        "id",
        "function",
        "attempts",
        "last",
        "try",
        "(UTC)",
        "error",
    ]
    assert _run("functions", "delete", "order")[0] == 0
    code, out = _run("functions", "invoke", "order")
    assert code == 1 and "function 'order' not found" in out


def test_waiting_for_instances_without_a_running_platform_says_why(tmp_home: Path) -> None:
    assert _run("functions", "create", "cold", "--code", HANDLERS, "--handler", "count")[0] == 0
    code, out = _run("functions", "deploy", "cold", "--wait", "0")
    assert code == 1
    assert "cold: 0 of 1 instance(s) up after 0 s (is a platform running" in out


def test_bad_input_gives_a_clear_error(tmp_home: Path) -> None:
    code, out = _run("functions", "create", "Bad_Name", "--code", HANDLERS)
    assert code == 1 and "name: 'Bad_Name' is not a DNS label" in out
    code, out = _run("functions", "create", "ok", "--code", HANDLERS, "--runtime", "rads")
    assert code == 1 and "runtime: 'rads' is not supported" in out
    code, out = _run("functions", "create", "ok", "--code", HANDLERS, "--env", "NOEQUALS")
    assert code == 2 and "NAME=VALUE" in out


@pytest.mark.slow
def test_instances_of_a_running_platform(tmp_home: Path) -> None:
    env = {**os.environ, "CONSTELLATION_HOME": str(tmp_home)}
    assert _run("functions", "create", "warm", "--code", HANDLERS, "--handler", "count")[0] == 0
    server = subprocess.Popen(
        [sys.executable, "-m", "constellation.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _run("functions", "deploy", "warm")[0] == 0
        assert _run("functions", "set", "warm", "--prewarm", "2")[0] == 0
        code, out = _run("functions", "deploy", "warm", "--wait", "600")
        assert code == 0, out  # returns once both prewarmed instances are published
        listed = json.loads(_run("functions", "instances", "warm", "-o", "json")[1])
        assert len(listed) == 2 and all(i["function_name"] == "warm" for i in listed)

        def two_rows() -> list[str] | None:
            out = _run("instances", "list")[1]
            found = [line for line in out.splitlines() if "fi-" in line]
            return found if len(found) == 2 else None

        rows = wait_until(two_rows, interval=0.2)
        instance_id = rows[0].split()[0]
        code, out = _run("instances", "restart", instance_id)
        assert code == 0 and "restarted" in out
        code, out = _run("instances", "restart", "fi-doesnotexist")
        assert code == 1 and "not found" in out
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode == 0
