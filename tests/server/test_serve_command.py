"""`constellation serve` as a real process: token printed once, serving, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from constellation.server import read_token

from .._support import wait_until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {**os.environ, "CONSTELLATION_HOME": str(home), "COLUMNS": "200"}
    cli = Path(sys.executable).with_name("constellation")
    proc = subprocess.Popen(
        [str(cli), "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.communicate()[0]}")
        try:
            return httpx.get(url + "/healthz", timeout=60).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, interval=0.1)
    except AssertionError:
        proc.kill()
        raise
    return proc, url


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


@pytest.mark.slow
def test_serve_prints_the_token_once_and_serves(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, url = _serve(home)
    token = read_token(home)
    assert token is not None
    auth = {"authorization": f"Bearer {token}"}
    assert httpx.get(url + "/api/v1/functions").status_code == 401
    code = "def handler(event, context):\n    return {'hi': event.get('body')}\n"
    created = httpx.post(
        url + "/api/v1/functions",
        headers=auth,
        json={"name": "hi", "code": code, "triggers": [{"type": "http", "path": "/hi"}]},
    )
    assert created.status_code == 201, created.text
    assert httpx.post(url + "/hi", json={"a": 1}).json() == {"hi": {"a": 1}}
    timer = {"type": "timer", "schedule": "rate(1 second)", "event": {"from": "timer"}}
    assert httpx.post(url + "/api/v1/functions/hi/triggers", headers=auth, json=timer).is_success

    def ran() -> int:
        metrics = httpx.get(url + "/api/v1/functions/hi/metrics", headers=auth, timeout=60)
        return int(metrics.json()["total_invocations"])

    wait_until(lambda: ran() >= 2, interval=0.2)  # the HTTP call, then the timer's
    first = _stop(proc)
    assert token in first
    proc, url = _serve(home)
    assert httpx.get(url + "/api/v1/functions/hi", headers=auth).status_code == 200
    assert httpx.post(url + "/hi", json=2).json() == {"hi": 2}  # triggers survive a restart
    assert token not in _stop(proc)


@pytest.mark.slow
def test_serve_no_auth_on_loopback(tmp_path: Path) -> None:
    proc, url = _serve(tmp_path / "home", "--no-auth")
    try:
        assert httpx.get(url + "/api/v1/functions").status_code == 200
    finally:
        out = _stop(proc)
    assert "authentication is OFF" in out
    assert read_token(tmp_path / "home") is None


@pytest.mark.slow
@pytest.mark.ray
def test_serve_on_a_ray_cluster(ray_cluster: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, url = _serve(home, "--no-auth", "--backend", "ray", "--address", ray_cluster.address)
    code = "import os\ndef handler(event, context):\n    return {'pid': os.getpid()}\n"
    created = httpx.post(
        url + "/api/v1/functions",
        json={
            "name": "where",
            "code": code,
            "deploy": True,
            "triggers": [{"type": "http", "path": "/where"}],
        },
        timeout=60,
    )
    assert created.status_code == 201, created.text
    answer = httpx.post(url + "/where", timeout=60)
    assert answer.status_code == 200, answer.text
    listed = httpx.get(url + "/api/v1/functions/where/instances").json()["instances"]
    import ray

    assert [i["pid"] for i in listed] == [answer.json()["pid"]]
    assert listed[0]["node"] in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    out = _stop(proc)
    assert "instances run on: ray" in out


def test_serve_refuses_an_address_without_the_ray_backend(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("constellation")
    env = {**os.environ, "CONSTELLATION_HOME": str(tmp_path / "home")}
    env.pop("CONSTELLATION_BACKEND", None)
    done = subprocess.run(
        [str(cli), "serve", "--address", "auto"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Invalid value for --address: is only used with --backend ray" in done.stderr
