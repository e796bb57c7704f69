"""The zygote: a pre-imported Python process that forks instances on request.

Started once per platform (``python -m constellation._runtime.zygote CTRL EVENTS``)
with the worker runtime already imported, so a new instance costs one ``fork`` instead
of a Python start-up. A zygote can also fork a *function zygote*: a child that imports
one function's module first, so that function's instances start with it loaded
(cold-start optimisation). Every zygote reaps its children and reports each exit as a
datagram ``{"pid", "status"}`` on the shared events socket, which tells the platform
why an instance died (a signal such as SIGSEGV, or an ``os._exit`` code).

A root zygote exits when its control socket reaches EOF, i.e. when the platform is gone
or done, and kills every process below it first; a function zygote at EOF forks no more
and exits once its workers have. A zygote never runs threads, so forking it is safe.

Processes end with their instance: every zygote and worker is a *child subreaper*, so a
worker's descendants (forks, ``setsid``, double forks) stay below it while it lives and
come to its zygote when it ends, which kills them (a child the zygote did not fork itself
is such an orphan). A function zygote looks for them as soon as a worker ended. The root
zygote, which forks every instance without cold-start optimisation, looks once it has
been idle for ``ORPHAN_CHECK_IDLE_S`` after a worker ended, or ``ORPHAN_CHECK_LATEST_S``
after it at the latest: off the path of the next fork, and once for many ended workers
when busy. In a sandbox (``backends.local._sandbox``) the root
zygote is the pid namespace's init and may first drop to the function's own uid with a
process limit (``--uid UID --max-pids N``).
"""

from __future__ import annotations

import gc
import itertools
import os
import resource
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn

import orjson

from ._prctl import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, prctl
from .worker import load_handler, prepare_process, run_worker

__all__ = ["main"]

# When to look for a dead worker's orphans: once the zygote has been idle this long ...
ORPHAN_CHECK_IDLE_S = 0.005
# ... or this long after the first worker that ended since the last look, however busy.
ORPHAN_CHECK_LATEST_S = 0.1


class _Zygote:
    def __init__(self, ctrl: socket.socket, events: socket.socket, drain: bool = False) -> None:
        self.ctrl = ctrl
        self.drain = drain  # on EOF: wait for the workers (True) or kill them (False)
        self.draining = False
        self.events = events
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.selector = selectors.DefaultSelector()
        self.selector.register(ctrl, selectors.EVENT_READ, "ctrl")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.forked: set[int] = set()  # our own children; any other child is an orphan
        self.orphan_check_by: float | None = None  # a worker ended: look for orphans by then
        _set_child_subreaper()

    def serve(self) -> NoReturn:
        # Everything loaded so far moves to the permanent generation: the collector in a
        # forked child never walks (and so never copies) the pages it shares with us.
        gc.freeze()
        while True:
            idle_wait = None
            if self.orphan_check_by is not None:
                latest = self.orphan_check_by - time.monotonic()
                idle_wait = max(0.0, min(ORPHAN_CHECK_IDLE_S, latest))
            ready = self.selector.select(idle_wait)
            if self.orphan_check_by is not None and (
                not ready or time.monotonic() >= self.orphan_check_by
            ):
                self.orphan_check_by = None
                self._kill_orphans()
            # A fork request first: reaping can wait.
            for key, _ in sorted(ready, key=lambda event: event[0].data != "ctrl"):
                if key.data == "wake":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    self._reap()
                else:
                    self._handle_control()

    def _reap(self) -> None:
        worker_ended = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid not in self.forked:
                continue  # an orphan we killed: nobody waits for it
            self.forked.discard(pid)
            worker_ended = True
            try:
                self.events.send(orjson.dumps({"pid": pid, "status": status}), socket.MSG_DONTWAIT)
            except OSError:
                pass  # the platform is gone or behind; it then falls back to "exited"
        if worker_ended:
            if self.drain:  # a function zygote: at once (measured faster there)
                self._kill_orphans()
            elif self.orphan_check_by is None:  # the root: off the next fork's path
                self.orphan_check_by = time.monotonic() + ORPHAN_CHECK_LATEST_S
        self._exit_if_drained()

    def _closed(self) -> None:
        """The control socket is at EOF. A root zygote's owner (the platform) is gone or
        done: every process below it ends now. A function zygote is replaced: it forks
        no more, and exits once its workers have (their calls in flight finish)."""
        if not self.drain:
            for child in _children(os.getpid()):
                _kill_tree(child)
            os._exit(0)
        self.selector.unregister(self.ctrl)
        self.draining = True
        self._exit_if_drained()

    def _exit_if_drained(self) -> None:
        if self.draining and not self.forked:
            os._exit(0)

    def _kill_orphans(self) -> None:
        """Kill what an ended worker left behind (reparented to us, the subreaper)."""
        me = os.getpid()
        for child in _children(me, single_threaded=True):
            if child not in self.forked:
                _kill_tree(child)

    def _handle_control(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.ctrl, 1 << 20, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            self._closed()
            return
        message: dict[str, Any] = orjson.loads(data)
        op = message["op"]
        if op == "ping":
            self.ctrl.send(b'{"pong":true}')
            return
        try:
            pid = os.fork()
        except OSError as exc:  # e.g. the function's process limit (RLIMIT_NPROC)
            for fd in fds:
                os.close(fd)
            self.ctrl.send(orjson.dumps({"error": f"cannot fork: {exc.strerror}"}))
            return
        if pid == 0:
            try:
                self._become_child()
                if op == "fork_worker":
                    self.events.close()  # only zygotes report exits
                    _set_child_subreaper()  # its descendants stay below it while it lives
                    run_worker(fds[0], message["spec"])
                else:
                    _run_function_zygote(socket.socket(fileno=fds[0]), self.events, message["spec"])
            except BaseException:
                traceback.print_exc()  # a bug of ours, not the function's: say where
            finally:
                os._exit(70)
        self.forked.add(pid)
        for fd in fds:
            os.close(fd)
        self.ctrl.send(orjson.dumps({"pid": pid}))

    def _become_child(self) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        self.ctrl.close()


def _run_function_zygote(
    ctrl: socket.socket, events: socket.socket, spec: dict[str, Any]
) -> NoReturn:
    started = time.perf_counter()
    try:
        prepare_process(spec)
        load_handler(spec)
    except ValueError as exc:
        ctrl.send(orjson.dumps({"ready": False, "error": str(exc)}))
        os._exit(0)
    init_ms = (time.perf_counter() - started) * 1000.0
    ctrl.send(orjson.dumps({"ready": True, "init_ms": init_ms, "pid": os.getpid()}))
    _Zygote(ctrl, events, drain=True).serve()


def _set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def _children(pid: int, single_threaded: bool = False) -> list[int]:
    """The live children of ``pid`` (Linux's ``/proc/PID/task/TID/children``); a zygote
    knows it has one thread, whose id is its pid."""
    found: list[int] = []
    try:
        tasks = [str(pid)] if single_threaded else os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as listing:
                found.extend(int(c) for c in listing.read().split())
        except OSError:
            continue
    return found


def _descendants(pid: int) -> Iterator[int]:
    for child in _children(pid):
        yield child
        yield from _descendants(child)


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and everything below it. The tree is stopped first, so nothing in
    it forks between the listing and the kill."""
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        # Lazily: each process is stopped before its own children are listed.
        for target in itertools.chain((pid,), _descendants(pid)):
            try:
                os.kill(target, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _become_uid(uid: int) -> None:
    """In a sandbox started by root: the function's own uid, with no capabilities left
    (a change away from uid 0 clears them)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # A uid change made us non-dumpable: /proc/self would stay root's, and workers need
    # their own (clear_refs, status). Only the function's own processes share this uid.
    prctl(PR_SET_DUMPABLE, 1)


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    ctrl = socket.socket(fileno=int(args[0]))
    events = socket.socket(fileno=int(args[1]))
    options = dict(zip(args[2::2], args[3::2], strict=True))
    if "--uid" in options:
        _become_uid(int(options["--uid"]))
    if "--max-pids" in options:
        # Counted per uid (as root: the function's own) or per user namespace (rootless).
        max_pids = int(options["--max-pids"])
        resource.setrlimit(resource.RLIMIT_NPROC, (max_pids, max_pids))
    try:
        os.setsid()  # keep terminal signals (Ctrl-C) for the platform, not its instances
    except PermissionError:
        pass  # already a session leader (bwrap --new-session)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _Zygote(ctrl, events).serve()


if __name__ == "__main__":
    main()
