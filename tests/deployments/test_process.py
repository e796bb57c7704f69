"""The thin wrappers: InstanceProcess, Lifeline, Backoff, InstanceLog."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from constellation.deployments._instance import Backoff
from constellation.deployments._logs import InstanceLog
from constellation.deployments._process import (
    InstanceProcess,
    Lifeline,
    kill_orphan,
    process_identity,
)

from .._support import wait_until
from .conftest import pid_alive


def _start(scripts: Path, tmp_path: Path, name: str = "sleeper.py", **kw) -> InstanceProcess:
    env = {**os.environ, "CONSTELLATION_INSTANCE_ID": "dep-test-0"}
    return InstanceProcess(
        str(scripts / name), ["a"], env=env, cwd=str(scripts), log_path=tmp_path / "x.log", **kw
    )


def test_close_is_idempotent_and_a_context_manager(scripts: Path, tmp_path: Path) -> None:
    with _start(scripts, tmp_path) as proc:
        assert proc.alive and proc.poll() is None
        pid = proc.pid
    assert not pid_alive(pid)
    assert proc.returncode == -signal.SIGTERM
    assert proc.close() == -signal.SIGTERM  # again: same answer, nothing to do


def test_close_escalates_to_sigkill(scripts: Path, tmp_path: Path) -> None:
    proc = _start(scripts, tmp_path, "stubborn.py")
    wait_until(lambda: (scripts / "dep-test-0.ready").exists())
    assert proc.close(grace_s=0.2) == -signal.SIGKILL


def test_wait_times_out_on_a_live_process(scripts: Path, tmp_path: Path) -> None:
    with _start(scripts, tmp_path) as proc:
        assert proc.wait(0.05) is None and proc.wait(0) is None


def test_lifeline_close_ends_the_instance(scripts: Path, tmp_path: Path) -> None:
    lifeline = Lifeline()
    proc = _start(scripts, tmp_path, lifeline=lifeline, lifeline_grace_s=5.0)
    wait_until(lambda: (scripts / "dep-test-0.json").exists())  # launcher and script running
    assert proc.alive
    lifeline.close()
    lifeline.close()  # idempotent
    assert proc.wait(10.0) == -signal.SIGTERM
    proc.close()


def test_kill_orphan_checks_the_start_time(scripts: Path, tmp_path: Path) -> None:
    with _start(scripts, tmp_path) as proc:
        identity = process_identity(proc.pid)
        assert identity is not None
        assert not kill_orphan(proc.pid, "0")  # another process with a reused pid: spared
        assert not kill_orphan(proc.pid, None)
        assert proc.alive
        assert kill_orphan(proc.pid, identity)
        assert proc.wait(5.0) == -signal.SIGKILL
    assert process_identity(os.getpid()) is not None
    assert process_identity(2**22 + 1) is None


def test_backoff_doubles_to_the_cap_and_resets_after_a_stable_run() -> None:
    backoff = Backoff(0.5, 3.0, stable_after_s=10.0)
    assert [backoff.next_delay(0.1) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.next_delay(10.0) == 0.5
    assert Backoff(0.0, 3.0, 10.0).next_delay(0) == 0.0


def test_instance_log_rotates_past_its_bound(tmp_path: Path) -> None:
    log = InstanceLog(tmp_path / "logs" / "web", "dep-web-1", max_bytes=100)
    assert not log.rotate_if_needed()  # no file yet
    log.mark("started pid 1")
    assert not log.rotate_if_needed()
    log.path.write_text("y" * 150)
    assert log.rotate_if_needed()
    assert log.path.read_text() == "" and len(log.path.with_suffix(".log.1").read_text()) == 150


def test_launcher_runs_a_script_as_python_would(tmp_path: Path) -> None:
    import subprocess

    from constellation.deployments._process import LAUNCHER

    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "def f(x: int): pass\n"
        "print(__name__, f.__annotations__['x'] is int, sys.argv, sys.path[0] == "
        f"{str(tmp_path)!r}, sorted(k for k in globals() if not k.startswith('__')))\n"
        "if sys.argv[1] == 'raise':\n"
        "    raise ValueError('bad input')\n"
        "sys.exit(int(sys.argv[1]))\n"
    )
    for arg, code in (("7", 7), ("raise", 1)):
        done = subprocess.run(
            [sys.executable, LAUNCHER, str(script), arg], capture_output=True, text=True
        )
        assert done.returncode == code
        assert done.stdout == f"__main__ True [{str(script)!r}, {arg!r}] True ['f', 'sys']\n"
    assert done.stderr.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{script}", line 5, in <module>',
        "    raise ValueError('bad input')",
        "ValueError: bad input",
    ]
