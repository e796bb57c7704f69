"""Platform-side handles on zygote processes (their side: ``constellation._runtime.zygote``)."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ...errors import ClosedError
from .._errors import InstanceStartError

__all__ = [
    "ExitRegistry",
    "FunctionZygote",
    "RootZygote",
    "describe_exit",
    "sender_pid",
    "sender_pid_into",
]

_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


def _credentials_pid(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return _UCRED.unpack(payload[: _UCRED.size])[0] or None
    return None


def sender_pid(sock: socket.socket, size: int) -> tuple[bytes, int | None]:
    """Receive one message and the pid of the process that sent it, as this process
    sees it (SCM_CREDENTIALS: the kernel translates a pid from a sandbox's pid
    namespace, where the zygote's own reports would give the namespace's number)."""
    data, ancillary, _, _ = sock.recvmsg(size, socket.CMSG_SPACE(_UCRED.size))
    return data, _credentials_pid(ancillary)


def sender_pid_into(sock: socket.socket, buffer: memoryview) -> tuple[int, int | None]:
    """:func:`sender_pid` into ``buffer``: the bytes read and the sender's pid."""
    got, ancillary, _, _ = sock.recvmsg_into([buffer], socket.CMSG_SPACE(_UCRED.size))
    return got, _credentials_pid(ancillary)


_SIGNAL_NAMES = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGABRT: "abort",
    signal.SIGFPE: "floating-point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGKILL: "killed",
}


def describe_exit(status: int | None) -> str:
    """Human words for a ``waitpid`` status (None when it never arrived)."""
    if status is None:
        return "the worker process exited"
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"the worker process exited with code {code}"
    sig = signal.Signals(-code)
    meaning = _SIGNAL_NAMES.get(sig)
    return f"the worker process was killed by signal {sig.name}" + (
        f" ({meaning})" if meaning else ""
    )


class ExitRegistry:
    """Exit statuses reported by the zygotes, waited for by pid."""

    def __init__(self, keep: int = 4096) -> None:
        self._statuses: OrderedDict[int, int] = OrderedDict()
        self._keep = keep
        self._cond = threading.Condition()

    def put(self, pid: int, status: int) -> None:
        with self._cond:
            self._statuses[pid] = status
            while len(self._statuses) > self._keep:
                self._statuses.popitem(last=False)
            self._cond.notify_all()

    def wait(self, pid: int, timeout: float) -> int | None:
        with self._cond:
            self._cond.wait_for(lambda: pid in self._statuses, timeout)
            return self._statuses.pop(pid, None)


class _ZygoteHandle:
    """One zygote's control socket; fork requests are serialised by a lock."""

    def __init__(self, ctrl: socket.socket, pid: int, own_pid_namespace: bool) -> None:
        self.ctrl = ctrl
        self.pid = pid
        # In its own pid namespace (a sandbox) the zygote's pids are not ours: a child's
        # first message then carries its pid as this process sees it (SO_PASSCRED).
        self.own_pid_namespace = own_pid_namespace
        self._lock = threading.Lock()
        self.closed = False

    def _request(self, op: str, spec: dict[str, Any]) -> tuple[int, socket.socket]:
        kind = socket.SOCK_STREAM if op == "fork_worker" else socket.SOCK_SEQPACKET
        ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
        # A function zygote's first message always carries its pid: it is what kills it.
        if self.own_pid_namespace or op == "fork_zygote":
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            with self._lock:
                if self.closed:
                    raise ClosedError("zygote is closed")
                socket.send_fds(
                    self.ctrl, [orjson.dumps({"op": op, "spec": spec})], [theirs.fileno()]
                )
                reply = self.ctrl.recv(4096)
        except OSError as exc:
            ours.close()
            self.closed = True  # the next start makes a new zygote
            raise InstanceStartError(f"zygote {self.pid} is gone: {exc}") from None
        except BaseException:  # closed meanwhile (ClosedError), or interrupted
            ours.close()
            raise
        finally:
            theirs.close()
        if not reply:
            ours.close()
            self.closed = True
            raise InstanceStartError(f"zygote {self.pid} exited")
        answer = orjson.loads(reply)
        if "pid" not in answer:
            ours.close()
            raise InstanceStartError(f"zygote {self.pid}: {answer.get('error', answer)}")
        return int(answer["pid"]), ours

    def fork_worker(self, spec: dict[str, Any]) -> tuple[int, socket.socket]:
        """A new worker process; returns its pid and the platform's end of its socket."""
        return self._request("fork_worker", spec)

    def fork_zygote(self, spec: dict[str, Any], timeout: float) -> FunctionZygote:
        """A child zygote with the function's module imported (cold-start optimisation)."""
        _, ctrl = self._request("fork_zygote", spec)
        ctrl.settimeout(timeout)
        host_pid = None
        try:
            data, host_pid = sender_pid(ctrl, 1 << 16)
            ready = orjson.loads(data or b'{"ready": false, "error": "exited"}')
        except (TimeoutError, OSError) as exc:
            ready = {"ready": False, "error": f"function zygote did not start: {exc}"}
        ctrl.settimeout(None)
        ctrl.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
        if not ready.get("ready") or host_pid is None:
            ctrl.close()  # EOF: it exits once it reads its control socket
            if host_pid is not None:
                _kill(host_pid)
            raise InstanceStartError(ready.get("error", "function zygote failed"))
        return FunctionZygote(
            ctrl, host_pid, self.own_pid_namespace, float(ready.get("init_ms", 0.0))
        )

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self.ctrl.close()  # EOF: the zygote exits (closing twice does nothing)


class FunctionZygote(_ZygoteHandle):
    """A zygote that already imported one function's module."""

    def __init__(
        self, ctrl: socket.socket, pid: int, own_pid_namespace: bool, init_ms: float
    ) -> None:
        super().__init__(ctrl, pid, own_pid_namespace)
        self.init_ms = init_ms
        self.exits: ExitRegistry | None = None  # its root zygote's
        self.on_close: Callable[[], None] | None = None  # e.g. let go of its sandbox

    def close(self) -> None:
        """EOF: it forks no more and exits once its workers have (their calls finish)."""
        super().close()
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()


class RootZygote(_ZygoteHandle):
    """The platform's zygote process, started with the worker runtime imported."""

    def __init__(
        self,
        exits: ExitRegistry,
        *,
        prefix: Sequence[str] = (),
        options: Sequence[str] = (),
    ) -> None:
        """``prefix`` starts it elsewhere (a sandbox's ``bwrap ... --``); ``options`` go to
        the zygote (``--uid UID --max-pids N``)."""
        ctrl, child_ctrl = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._events, child_events = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        fds = (child_ctrl.fileno(), child_events.fileno())
        command = [sys.executable, "-m", "constellation._runtime.zygote", *map(str, fds)]
        try:
            self._process = subprocess.Popen(
                [*prefix, *command, *options], pass_fds=fds, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            for sock in (ctrl, child_ctrl, self._events, child_events):
                sock.close()
            raise InstanceStartError(f"the zygote did not start: {exc}") from None
        child_ctrl.close()
        child_events.close()
        super().__init__(ctrl, self._process.pid, own_pid_namespace=bool(prefix))
        self._exits = self.exits = exits
        self._ended = False
        self._reader = threading.Thread(target=self._read_events, name="zygote-events", daemon=True)
        self._reader.start()

    def _read_events(self) -> None:
        while True:
            try:
                data = self._events.recv(4096)
            except OSError:
                return
            if not data:
                return
            event = orjson.loads(data)
            self._exits.put(event["pid"], event["status"])

    def close(self) -> None:
        if self._ended:  # not ``closed``: a failed request sets that, and ends nothing
            return
        self._ended = True
        super().close()
        try:
            self._process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        try:
            self._events.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._events.close()
        self._reader.join(timeout=2.0)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
