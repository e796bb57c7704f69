"""A hostile tenant's escapes, each tried by a real handler; each must fail while a
neighbour function keeps answering (docs/security.md has the table)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from constellation.backends.local import _backend, _sandbox

from .._support import wait_until
from ..serverless.conftest import make_platform
from .conftest import HOSTILE, ISOLATION, MAX_PIDS, SECRET, Tenants, sandboxed

pytestmark = sandboxed


def test_a_handler_cannot_signal_the_platform(tenants: Tenants) -> None:
    out = tenants.attack("kill_server", {"server_pid": os.getpid()})
    assert out["results"]["server"].startswith("refused")  # type: ignore[index]
    assert os.getpid() not in out["seen"]  # type: ignore[index]
    # In its own pid namespace it sees only its own function's processes.
    assert len(out["seen"]) < 10  # type: ignore[index]
    tenants.neighbour_answers()
    tenants.attack("kill_server", {"server_pid": os.getpid()})  # its own zygote survived too


def test_a_handler_cannot_read_the_store_the_token_the_key_or_the_platform(
    tenants: Tenants,
) -> None:
    settings = tenants.platform.settings
    paths = [
        str(settings.db_path),
        str(tenants.home / "server.token"),
        str(settings.secrets_key_path),
        f"/proc/{os.getpid()}/environ",
        str(tenants.code_file("neighbour")),
        "/etc/shadow",
    ]
    out = tenants.attack("read_files", {"paths": paths})
    assert all(str(v).startswith("refused") for v in out.values()), out  # type: ignore[union-attr]
    tenants.neighbour_answers()


def test_a_handler_sees_no_other_environment(
    tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants.neighbour_answers()  # its worker (holding the secret) is running
    text = str(tenants.attack("read-all-environ", {}))
    assert SECRET not in text
    assert tenants.token not in text
    for key in ("CONSTELLATION_HOME", "VIRTUAL_ENV", "PYTEST_CURRENT_TEST"):
        assert key + "=" not in text and f"'{key}'" not in text


def test_a_handler_cannot_write_code_or_outside_tmp(tenants: Tenants) -> None:
    neighbour_code = tenants.code_file("neighbour")
    before = hashlib.sha256(neighbour_code.read_bytes()).hexdigest()
    marker = Path("/etc/constellation_probe_marker")
    marker.unlink(missing_ok=True)  # left by an unsandboxed run, if any
    paths = [
        str(neighbour_code),
        str(tenants.code_file("write-files")),
        str(marker),
        "/root/constellation_probe",
        "/usr/constellation_probe",
        str(tenants.home / "probe"),
        "/tmp/allowed",
    ]
    out = tenants.attack("write_files", {"paths": paths})
    assert out == {**{p: out[p] for p in paths[:-1]}, "/tmp/allowed": "done"}  # type: ignore[index]
    assert all(str(out[p]).startswith("refused") for p in paths[:-1]), out  # type: ignore[index]
    assert not marker.exists() and not (tenants.home / "probe").exists()
    assert hashlib.sha256(neighbour_code.read_bytes()).hexdigest() == before
    tenants.neighbour_answers()


@pytest.mark.skipif(
    not ISOLATION.pid_limit, reason=f"no pid limit per function here: {ISOLATION.describe()}"
)
def test_a_handler_cannot_fork_past_its_limit(tenants: Tenants) -> None:
    started = tenants.attack("fork_many", {"n": 4 * MAX_PIDS})
    assert 0 < started < MAX_PIDS  # type: ignore[operator]
    tenants.neighbour_answers()


def _processes_marked(mark: str) -> list[int]:
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mark.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _orphan(tenants: Tenants, name: str, timeout_s: int = 30, hang: bool = False) -> str:
    """Leave a setsid double-forked grandchild; its mark (a sleep's argument)."""
    sls = tenants.platform.serverless
    sls.create_function(name, "python", "leave_orphan", HOSTILE, timeout_s=timeout_s)
    mark = f"600.{random.randrange(10**12)}"
    result = sls.invoke_sync(name, {"mark": mark, "hang": hang})
    assert result.status == ("timeout" if hang else "success"), result
    return mark


def test_no_orphan_outlives_an_invocation_timeout(tenants: Tenants) -> None:
    mark = _orphan(tenants, "hangs", timeout_s=1, hang=True)
    wait_until(lambda: not _processes_marked(mark), what="the orphan killed")
    tenants.neighbour_answers()


def test_no_orphan_outlives_its_instance(tenants: Tenants) -> None:
    mark = _orphan(tenants, "leaves")
    assert _processes_marked(mark)  # alive while its instance lives
    tenants.platform.serverless.delete_function("leaves")  # the instance ends
    wait_until(lambda: not _processes_marked(mark), what="the orphan killed")
    tenants.neighbour_answers()


def test_no_orphan_outlives_the_platform(tenants: Tenants) -> None:
    mark = _orphan(tenants, "stays")
    assert _processes_marked(mark)
    tenants.platform.close()
    wait_until(lambda: not _processes_marked(mark), what="the orphan killed")


def test_a_function_without_network_reaches_nothing(tenants: Tenants) -> None:
    sls = tenants.platform.serverless
    sls.create_function("online", "python", "connect", HOSTILE)
    sls.create_function("offline", "python", "connect", HOSTILE, network=False)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert sls.invoke_sync("online", {"port": port}).output == "done"
        assert str(sls.invoke_sync("offline", {"port": port}).output).startswith("refused")
    # Turned on again: the function gets a new sandbox, with the network.
    sls.update_function("offline", {"network": True})
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert sls.invoke_sync("offline", {"port": port}).output == "done"
    tenants.neighbour_answers()


def test_idle_sandboxes_are_bounded(tenants: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    """Functions nobody calls keep no sandbox running past the idle cap (their next call
    starts one again)."""
    from constellation.backends.local import _backend

    monkeypatch.setattr(_backend, "IDLE_SANDBOXES", 2)
    sls = tenants.platform.serverless
    for n in range(5):
        sls.create_function(f"idle-{n}", "python", "echo", HOSTILE)
    running = [s for s in sls.launcher._sandboxes.values() if not s.zygote.closed]  # type: ignore[attr-defined]
    assert len([s for s in running if s.idle_since is not None]) <= 3
    assert sls.invoke_sync("idle-0", {"back": 1}).output == {"back": 1}
    tenants.neighbour_answers()


ROOTLESS = _sandbox._probe(as_root=False)  # what a platform run by another user gets


@pytest.mark.skipif(
    not ROOTLESS.pid_limit, reason=f"no rootless pid limit here: {ROOTLESS.describe()}"
)
def test_a_rootless_sandbox_sets_the_functions_pid_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rootless sandbox's zygote sets RLIMIT_NPROC too (root itself is exempt from
    it, so that the limit holds is the next test's, as an unprivileged user)."""
    monkeypatch.setattr(_backend, "detect_isolation", lambda setting: ROOTLESS)
    code = tmp_path / "limits.py"
    code.write_text(
        "import resource\n"
        "def nproc(event, context):\n"
        "    return list(resource.getrlimit(resource.RLIMIT_NPROC))\n"
    )
    with make_platform(tmp_path / "home", sandbox_max_pids=MAX_PIDS) as platform:
        sls = platform.serverless
        assert sls.launcher.isolation.mode == "bubblewrap-rootless"
        sls.create_function("limits", "python", "nproc", code)
        result = sls.invoke_sync("limits", {})
        assert result.status == "success", result.error
        assert result.output == [MAX_PIDS, MAX_PIDS]


# Forks up to 3x the limit with RLIMIT_NPROC set, reports how many worked, then holds
# its children until stdin closes.
_FORKER = """
import os, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
started = 0
for _ in range(3 * limit):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        sys.stdin.read()
        os._exit(0)
    started += 1
print(started, flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not (ROOTLESS.pid_limit and os.path.exists("/usr/bin/python3")),
    reason="needs root (to become nobody), the system's python3 and a rootless sandbox",
)
def test_rootless_sandboxes_of_one_uid_each_get_the_whole_limit() -> None:
    """What the rootless pid limit rests on: two sandboxes of one unprivileged uid, the
    first holding its children, each fork up to the limit (per user namespace), while
    the same uid outside a sandbox, with as many processes alive, gets none."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    bwrap = [shutil.which("bwrap") or "bwrap", "--unshare-user", "--unshare-pid"]
    bwrap += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    python = ["/usr/bin/python3", "-c", _FORKER, "20"]
    held = []
    try:
        counts = []
        for argv in (nobody + bwrap + python, nobody + bwrap + python, nobody + python):
            child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            held.append(child)
            assert child.stdout is not None
            counts.append(int(child.stdout.readline()))
        in_a, in_b, outside = counts
        assert 15 <= in_a < 20 and 15 <= in_b < 20, counts
        assert outside == 0, counts
    finally:
        for child in held:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)
            if child.stdout is not None:
                child.stdout.close()


@pytest.mark.parametrize(
    ("release", "counted"),
    [("5.13.19", False), ("5.14.0-rc1", True), ("6.18.44-fc-v1252", True), ("4.4.0", False)],
)
def test_rootless_pid_limits_need_a_kernel_that_counts_per_user_namespace(
    release: str, counted: bool
) -> None:
    assert _sandbox.nproc_counted_per_user_namespace(release) is counted
