"""Fixtures for the deployments tests: real scripts, real processes, a fake clock."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from constellation.config import Settings
from constellation.deployments import DeploymentManager
from constellation.store import Store

from .._support import FakeClock

# Scripts the tests deploy. Each writes what the test needs to see into its cwd.
SCRIPTS = {
    # Runs until stopped; records its env and argv in <instance id>.json.
    "sleeper.py": """
        import json, os, sys, time
        keys = ("SECRET", "VERSION", "CONSTELLATION_DEPLOYMENT", "CONSTELLATION_INSTANCE_ID",
                "CONSTELLATION_INSTANCE_INDEX", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
                "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ZE_AFFINITY_MASK")
        record = {k: os.environ.get(k) for k in keys}
        record.update(argv=sys.argv, name=__name__, cwd=os.getcwd())
        path = os.environ["CONSTELLATION_INSTANCE_ID"] + ".json"
        with open(path + ".tmp", "w") as fh:
            json.dump(record, fh)
        os.replace(path + ".tmp", path)
        print("sleeper up", flush=True)
        while True:
            time.sleep(1)
    """,
    "crasher.py": """
        print("about to crash")
        1 / 0
    """,
    "exit0.py": """
        print("done")
    """,
    # Runs until a file named "crash-now" exists in its cwd, then exits with code 3.
    "flagged.py": """
        import os, sys, time
        while not os.path.exists("crash-now"):
            time.sleep(0.01)
        sys.exit(3)
    """,
    # Ignores SIGTERM, so only SIGKILL ends it; says so in a file once the handler is set.
    "stubborn.py": """
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(os.environ["CONSTELLATION_INSTANCE_ID"] + ".ready", "w").close()
        while True:
            time.sleep(1)
    """,
    # Starts a grandchild process and records its pid.
    "parent.py": """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.environ["CONSTELLATION_INSTANCE_ID"] + ".child", "w") as fh:
            fh.write(str(child.pid))
        while True:
            time.sleep(1)
    """,
    # Writes 5000 bytes of output, then a marker file, then idles.
    "chatty.py": """
        import os, sys, time
        for i in range(50):
            print(f"{i:04d} " + "x" * 94, flush=True)
        open(os.environ["CONSTELLATION_INSTANCE_ID"] + ".done", "w").close()
        while True:
            time.sleep(1)
    """,
}


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    folder = tmp_path / "scripts"
    folder.mkdir()
    for name, body in SCRIPTS.items():
        (folder / name).write_text(textwrap.dedent(body))
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home", restart_backoff_initial_s=0.05, restart_backoff_max_s=0.2
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store(settings.db_path) as s:
        yield s


@pytest.fixture
def make_manager(store: Store, settings: Settings) -> Iterator[Callable[..., DeploymentManager]]:
    """Build managers on the test's store; every one is closed at the end."""
    made: list[DeploymentManager] = []

    def make(**kwargs: object) -> DeploymentManager:
        kwargs.setdefault("stop_timeout_s", 2.0)
        manager = DeploymentManager(store, kwargs.pop("settings", settings), **kwargs)  # type: ignore[arg-type]
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


@pytest.fixture
def manager(make_manager: Callable[..., DeploymentManager]) -> DeploymentManager:
    """A supervised manager with short backoffs (0.05-0.2 s)."""
    return make_manager(poll_interval_s=0.02)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1024.0)


@pytest.fixture
def manual(make_manager: Callable[..., DeploymentManager], clock: FakeClock) -> DeploymentManager:
    """An unsupervised manager on a fake clock: the test calls poll() and advances time."""
    return make_manager(clock=clock, supervise=False, start_grace_s=1.0, stable_after_s=10.0)
