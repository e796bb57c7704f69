"""schemathesis against /openapi.json: no 5xx, and every answer matches the document.

Runs the schemathesis CLI (a dev dependency) against a live server; all phases
(examples, coverage, fuzzing, stateful via the document's links), a fixed seed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import Served

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    served: Served, tmp_path: Path
) -> None:
    served.create("echo", "echo", triggers=[{"type": "http", "path": "/echo"}])
    cli = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(
        [
            str(cli),
            "run",
            served.url + "/openapi.json",
            "--header",
            f"Authorization: Bearer {served.token}",
            "--max-examples",
            "20",
            "--seed",
            "20261128",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--checks",
            CHECKS,
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1]
    assert httpx.get(served.url + "/healthz").status_code == 200
