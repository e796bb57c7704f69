"""A sandbox per function: its zygote and workers under bubblewrap (docs/security.md).

Each Python function gets its own zygote process started by ``bwrap`` (Flatpak's
sandbox) in new pid, mount, ipc and uts namespaces (and, for a function created with
``network=False`` or everywhere with ``sandbox_network = 0``, a network namespace with
nothing in it). Inside, the file system is a read-only view of
the system's programs and libraries, the Python runtime with its site-packages and the
function's own code, a private memory-backed ``/tmp`` of ``sandbox_tmp_mb``, and its own
``/proc`` and ``/dev``: no ``$CONSTELLATION_HOME``, no store, no token, no other
function's code, no process of the platform. The environment is a minimal set; the
function's own variables are added by the worker runtime.

The zygote is the namespace's pid 1 (``--as-pid-1``): when it exits (the platform
closed its control socket, or died) the kernel kills every process in the namespace,
including ``setsid`` and double-forked descendants; from inside, it cannot be killed.

* Run as root: ``bwrap`` itself makes the namespaces; the zygote then drops to a uid of
  its own (one per function, from ``sandbox_uid_base``) with no capabilities and
  ``RLIMIT_NPROC = sandbox_max_pids``, so its files and processes are not the platform's.
* Run as another user: ``bwrap`` adds a user namespace (rootless); the processes keep
  the platform's uid on the host, hidden from it by the pid and mount namespaces. The
  zygote still sets ``RLIMIT_NPROC = sandbox_max_pids``: since Linux 5.14 the kernel
  counts a uid's processes per user namespace, so that limit is the function's own
  (on an older kernel it would count every process of the platform's uid: not set).

:func:`detect_isolation` says, once per process, which of these the machine allows.
"""

from __future__ import annotations

import functools
import glob
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import Settings
from ...errors import ConfigError

__all__ = [
    "FunctionSandbox",
    "Isolation",
    "UidPool",
    "detect_isolation",
    "make_readable",
    "nproc_counted_per_user_namespace",
    "sandbox_command",
]

# What a process in the sandbox finds in its environment before the function's own.
MINIMAL_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",  # the code is read-only anyway
}
# System folders shown read-only (a link where the host has a link, as with merged /usr).
_SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64")
# From /etc, only what name resolution, TLS and the C library need.
_ETC = (
    "resolv.conf",
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "gai.conf",
    "ssl",
    "ca-certificates",
    "pki",
    "localtime",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "passwd",
    "group",
    "protocols",
    "services",
    "mime.types",
    "alternatives",
)


@dataclass(frozen=True)
class Isolation:
    """What this machine gives each function: ``mode`` is ``"bubblewrap"`` (as root,
    with a uid per function), ``"bubblewrap-rootless"`` or ``"none"``."""

    mode: str
    detail: str

    @property
    def sandboxed(self) -> bool:
        return self.mode != "none"

    @property
    def per_function_uid(self) -> bool:
        return self.mode == "bubblewrap"

    @property
    def pid_limit(self) -> bool:
        """Whether each function's sandbox gets a process limit of its own: as root by
        its uid, rootless by its user namespace (where the kernel counts per namespace)."""
        if self.mode == "bubblewrap":
            return True
        return self.mode == "bubblewrap-rootless" and nproc_counted_per_user_namespace()

    def describe(self) -> str:
        """One line for the start-up log and ``constellation doctor``."""
        if self.mode == "bubblewrap":
            return (
                "isolation: bubblewrap sandbox per function (pid, mount, ipc namespaces; "
                f"a uid per function; {self.detail})"
            )
        if self.mode == "bubblewrap-rootless":
            limit = "a pid limit per function" if self.pid_limit else "no pid limit (kernel < 5.14)"
            return (
                "isolation: bubblewrap sandbox per function (user, pid, mount, ipc "
                f"namespaces; rootless: no per-function uid, {limit}; {self.detail})"
            )
        return f"isolation: none: functions run as the platform's user ({self.detail})"


def nproc_counted_per_user_namespace(release: str | None = None) -> bool:
    """Linux >= 5.14 counts RLIMIT_NPROC per (user namespace, uid) (ucounts): a limit set
    inside a rootless sandbox then bounds that sandbox's processes only."""
    release = platform.release() if release is None else release
    parts = release.split(".")
    try:
        return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= (5, 14)
    except (IndexError, ValueError):
        return False


def detect_isolation(setting: str) -> Isolation:
    """The isolation ``settings.sandbox`` asks for and this machine allows.
    ``"on"`` without a working sandbox is a ConfigError naming ``sandbox``."""
    if setting == "off":
        return Isolation("none", 'turned off: sandbox = "off"')
    found = _probe(os.geteuid() == 0)
    if not found.sandboxed and setting == "on":
        raise ConfigError("sandbox", f'"on" but no sandbox works here: {found.detail}')
    return found


@functools.cache
def _probe(as_root: bool) -> Isolation:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation("none", "bubblewrap (bwrap) is not installed")
    probe = [bwrap, *([] if as_root else ["--unshare-user"]), "--unshare-pid", "--unshare-ipc"]
    probe += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Isolation("none", f"bwrap did not run: {exc}")
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return Isolation("none", f"bwrap cannot make namespaces here: {why[0]}")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, check=False)
    detail = version.stdout.strip() or "bwrap"
    return Isolation("bubblewrap" if as_root else "bubblewrap-rootless", detail)


class UidPool:
    """One uid per function, from the configured range, reused when it wraps around."""

    def __init__(self, base: int, count: int) -> None:
        self._base = base
        self._count = count
        self._next = 0
        self._given: dict[str, int] = {}
        self._lock = threading.Lock()

    def uid_for(self, function_id: str) -> int:
        with self._lock:
            uid = self._given.get(function_id)
            if uid is None:
                uid = self._given[function_id] = self._base + self._next % self._count
                self._next += 1
            return uid


def _python_path() -> list[str]:
    """The platform's own PYTHONPATH (where it was started with one): its sandboxes get it
    too, or the zygote could not import the runtime."""
    return [e for e in os.environ.get("PYTHONPATH", "").split(":") if e and Path(e).is_dir()]


def runtime_paths() -> list[Path]:
    """The Python runtime, its site-packages and the folder ``constellation`` imports from."""
    package_parent = Path(__file__).resolve().parents[3]  # .../constellation/backends/local
    paths = {Path(sys.base_prefix), Path(sys.prefix), package_parent}
    for entry in sys.path:
        if entry and any(Path(entry).is_relative_to(p) for p in (sys.prefix, sys.base_prefix)):
            paths.add(Path(entry))
    paths.update(Path(e) for e in _python_path())
    found = sorted(p.resolve() for p in paths if p.is_dir())
    # A folder inside another is covered by the outer bind.
    return [p for p in found if not any(p != q and p.is_relative_to(q) for q in found)]


def sandbox_command(
    settings: Settings,
    isolation: Isolation,
    code_root: Path,
    uid: int | None,
    network: bool,
    gpu: bool = False,
) -> list[str]:
    """The ``bwrap ... --`` prefix that runs a function's zygote in its sandbox; without
    ``network`` it gets a network namespace of its own with nothing in it; with ``gpu``
    (a function with a GPU request) it sees the GPU devices and ``/sys`` (read-only),
    which CUDA and NVML need."""
    argv = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not isolation.per_function_uid:
        argv.append("--unshare-user")
    if not network:
        argv.append("--unshare-net")
    argv += ["--as-pid-1", "--new-session", "--hostname", "constellation-function"]
    if uid is not None:  # the zygote needs these two to become its uid, then has none
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    # First the private /proc, /dev and /tmp: the binds below may lie inside /tmp.
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(settings.sandbox_tmp_mb << 20), "--tmpfs", "/tmp"]
    for name in _SYSTEM:
        host = Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    for name in _ETC:
        if (Path("/etc") / name).exists():
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    binds = [*runtime_paths(), code_root]
    shown = [Path("/") / n for n in _SYSTEM] + binds
    parents = {a for p in binds for a in p.parents if a != Path("/")}
    for parent in sorted(parents, key=lambda a: len(a.parts)):
        if not any(parent.is_relative_to(s) for s in shown):
            # bwrap would make it 0700: the function's own uid could not walk through
            argv += ["--perms", "0755", "--dir", str(parent)]
    for path in binds:
        argv += ["--ro-bind", str(path), str(path)]
    home = settings.home.resolve()
    if any(home.is_relative_to(p) for p in runtime_paths()):
        argv += ["--tmpfs", str(home)]  # the platform's home is never in view
    if gpu:
        for device in sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri")):
            argv += ["--dev-bind", device, device]
        argv += ["--ro-bind", "/sys", "/sys"]
    argv += ["--chdir", "/tmp", "--clearenv"]
    for key, value in MINIMAL_ENV.items():
        argv += ["--setenv", key, value]
    if _python_path():
        argv += ["--setenv", "PYTHONPATH", ":".join(_python_path())]
    libraries = os.environ.get("LD_LIBRARY_PATH", "")
    if gpu and libraries:  # where the driver's libraries are found (CUDA images set it)
        for folder in libraries.split(":"):
            if folder and Path(folder).is_dir() and not Path(folder).is_relative_to("/usr"):
                argv += ["--ro-bind", folder, folder]
        argv += ["--setenv", "LD_LIBRARY_PATH", libraries]
    return [*argv, "--"]


def make_readable(code_root: Path) -> None:
    """Let a sandbox's own uid read the stored code (the store makes its folder 0700).
    Nobody in a sandbox can write it: it is bound read-only."""
    for dirpath, _, filenames in os.walk(code_root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o555)


class FunctionSandbox:
    """One function's sandboxed root zygote (a thin wrapper with an idempotent close).

    Its instances hold it (:meth:`hold` returns what lets go). When the function's code
    changes or the function is dropped it is *retired*: it ends (and with it every process
    in its pid namespace) once its last instance has ended, so calls in flight on the old
    instances finish first."""

    def __init__(self, key: tuple[str, bool, bool], zygote: Any) -> None:
        self.key = key  # (code hash, network, gpu): a change needs a new sandbox
        self.zygote = zygote  # a RootZygote started with sandbox_command's prefix
        self._holders = 0
        self._retired = False
        self._lock = threading.Lock()
        self.idle_since: float | None = None  # since when nothing holds it

    @property
    def usable(self) -> bool:
        return not self._retired and not self.zygote.closed

    def hold(self) -> Callable[[], None]:
        with self._lock:
            self._holders += 1
            self.idle_since = None
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self._holders -= 1
                if self._holders == 0:
                    self.idle_since = time.monotonic()
                done = self._retired and self._holders == 0
            if done:
                self.zygote.close()

        return release

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            done = self._holders == 0
        if done:
            self.zygote.close()

    def close(self) -> None:
        with self._lock:
            self._retired = True
        self.zygote.close()
