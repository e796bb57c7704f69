"""Joining a Ray cluster: addresses, unreachable clusters, Ray missing, a real join.

Each join runs in a fresh Python process: ``ray.init`` happens once per process, and
this test process is already joined to the ``ray_cluster`` fixture's cluster.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from constellation.backends import BackendUnreachable
from constellation.backends.ray._connect import parse_address

HANDLERS = str(Path(__file__).resolve().parents[1] / "fixtures" / "serverless" / "handlers.py")

SCRIPT = """
import sys, time
{prelude}
from constellation.platform import Constellation
started = time.monotonic()
try:
    with Constellation(sys.argv[1], backend="ray", ray_address=sys.argv[2]) as platform:
        sls = platform.serverless
        sls.init()
        f = sls.create_function("echo", "python", "echo", sys.argv[3])
        sls.deploy_function(f.id)
        result = sls.invoke_sync(f.id, {{"x": 1}})
        print("RESULT", result.status, result.output["event"], sls.list_instances()[0].node)
except Exception as exc:
    print("ERROR", type(exc).__name__, exc)
print("SECONDS", time.monotonic() - started)
"""


def _run(tmp_path: Path, address: str, prelude: str = "") -> tuple[str, float]:
    script = textwrap.dedent(SCRIPT.format(prelude=prelude))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "home"), address, HANDLERS],
        capture_output=True,
        text=True,
        timeout=90,
    )
    lines = done.stdout.splitlines()
    outcome = next((ln for ln in lines if ln.startswith(("RESULT", "ERROR"))), done.stderr[-2000:])
    seconds = float(next(ln for ln in lines if ln.startswith("SECONDS")).split()[1])
    return outcome, seconds


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("", None),
        ("auto", None),
        ("10.0.0.5:6379", ("10.0.0.5", 6379)),
        ("head.example:7000", ("head.example", 7000)),
        ("ray://head.example", ("head.example", 10001)),
        ("ray://10.0.0.5:10001", ("10.0.0.5", 10001)),
        ("[::1]:6379", ("::1", 6379)),
    ],
)
def test_parse_address(address: str, expected: tuple[str, int] | None) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["host:port", "ray://:10001", "host:70000", ":6379"])
def test_a_malformed_address_says_what_is_allowed(address: str) -> None:
    with pytest.raises(BackendUnreachable, match="is not an address; use ''"):
        parse_address(address)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (no Ray there)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.ray
def test_an_unreachable_address_fails_within_ten_seconds(
    ray_cluster: Any, tmp_path: Path, silent_server: int
) -> None:
    outcome, seconds = _run(tmp_path, "127.0.0.1:1")
    assert outcome.startswith("ERROR BackendUnreachable cannot reach the Ray cluster at")
    assert "Connection refused" in outcome and seconds < 10
    outcome, seconds = _run(tmp_path, f"ray://127.0.0.1:{silent_server}")
    assert outcome.startswith("ERROR BackendUnreachable the Ray cluster at")
    assert "did not answer within" in outcome and seconds < 10


def test_ray_not_installed_says_how_to_install_it(tmp_path: Path) -> None:
    outcome, _ = _run(tmp_path, "auto", prelude="sys.modules['ray'] = None")
    assert outcome.startswith("ERROR BackendNotInstalled the ray backend needs Ray")
    assert "pip install 'constellation[ray]'" in outcome


@pytest.mark.ray
def test_a_fresh_process_joins_a_running_cluster(ray_cluster: Any, tmp_path: Path) -> None:
    outcome, _ = _run(tmp_path, ray_cluster.address)
    assert outcome.startswith("RESULT success {'x': 1} "), outcome
    node = outcome.split()[-1]
    import ray

    assert node in {n["NodeID"] for n in ray.nodes()}


@pytest.mark.ray
def test_no_address_starts_a_ray_of_its_own(ray_cluster: Any, tmp_path: Path) -> None:
    # Even with another cluster running on this machine (the fixture's), "" means a
    # private local Ray, not whichever cluster was started last.
    outcome, _ = _run(tmp_path, "")
    assert outcome.startswith("RESULT success {'x': 1} "), outcome
    import ray

    assert outcome.split()[-1] not in {n["NodeID"] for n in ray.nodes()}
