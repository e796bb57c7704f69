"""A real scrape, after invocations of every outcome, passes ``promtool check metrics``.

promtool comes with the Debian ``prometheus`` package (``.ci/run`` installs it). Where it
is missing the test skips, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import httpx
import pytest

from .conftest import HANDLERS, Served


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is not installed (apt-get install prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def test_a_scrape_after_every_outcome_is_clean(served: Served) -> None:
    promtool = _promtool()
    sls = served.platform.serverless
    f = sls.create_function("narrow", "python", "sleep", HANDLERS, concurrency=1, timeout_s=1)
    bad = sls.create_function("bad", "python", "fail", HANDLERS)
    outcomes = [sls.invoke_sync(f.id, {"seconds": 0}).status]  # a cold start
    outcomes.append(sls.invoke_sync(bad.id, 1).status)
    long_call = threading.Thread(target=sls.invoke_sync, args=(f.id, {"seconds": 0.5}))
    long_call.start()
    while [i.status for i in sls.list_instances("narrow")] != ["busy"]:
        threading.Event().wait(0.01)
    outcomes.append(sls.invoke_sync(f.id, {"seconds": 0}, timeout=50).status)
    long_call.join()
    outcomes.append(sls.invoke_sync(f.id, {"seconds": 5}).status)
    assert outcomes == ["success", "error", "throttled", "timeout"]

    text = httpx.get(served.url + "/metrics").text
    assert 'faas_timeouts_total{function="narrow",trigger="other"} 1.0' in text
    assert 'constellation_function_invocations_total{function="narrow",status="throttled"}' in text
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
