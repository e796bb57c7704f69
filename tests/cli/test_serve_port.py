"""`constellation serve` binds its port first: a taken port is one line that suggests
--port, and "serving" is printed only once the port is ours."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .._support import wait_for_line, wait_until

CLI = str(Path(sys.executable).with_name("constellation"))


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "CONSTELLATION_HOME": str(home), "COLUMNS": "200"}


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60).status_code == 200
    except httpx.TransportError:
        return False


def test_a_taken_port_is_one_line_that_suggests_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [CLI, "serve", "--port", str(port)],
            env=_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: 127.0.0.1:{port} is taken (another server is on it): try --port {port + 1}, "
        "or --port 0 for any free port\n"
    )
    assert "serving" not in done.stdout


@pytest.mark.slow
def test_serving_is_printed_once_the_port_accepts_connections(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [CLI, "serve", "--port", "0", "--no-auth"],
            env=_env(tmp_path / "home"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        line = wait_for_line(log, "Constellation serving on http://127.0.0.1:")
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        assert port != 0  # the port it got, not the one asked for
        # no retry loop: the port already accepts connections when "serving" is printed
        with socket.create_connection(("127.0.0.1", port), timeout=60):
            pass
        # stop it only once uvicorn answers (its signal handlers are in place by then)
        wait_until(lambda: _healthy(port), interval=0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()
    assert log.read_text().count("serving on") == 1
