"""schemathesis against /openapi.json on a live server: no 5xx; every answer's status,
content type, headers and body match the document; schema-invalid input is refused;
405s name the allowed methods; authentication is not ignored.

Runs the schemathesis CLI (a dev dependency) with all phases (examples, coverage,
fuzzing, stateful via the document's links) and a fixed seed. Queue and stream
triggers that it creates point at brokers that are not there, so that the run touches
no Redis or NATS that the machine may have.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import Served

# Every check but positive_data_acceptance: some schema-valid bodies are refused for
# reasons JSON Schema cannot state (min_instances above the stored max_instances, a
# base64 string that is not a zip, a dead-letter queue equal to its queue).
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance,negative_data_rejection,"
    "missing_required_header,unsupported_method,allow_header_conformance,use_after_free,"
    "ensure_resource_availability,ignored_auth"
)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSTELLATION_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CONSTELLATION_NATS_URL", "nats://127.0.0.1:1")
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
    summary = run.stdout.split("SUMMARY")[-1]
    assert "passed" in summary and "failed" not in summary and "errored" not in summary
    assert httpx.get(served.url + "/healthz").status_code == 200
