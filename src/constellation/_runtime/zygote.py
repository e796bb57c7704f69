"""The zygote: a pre-imported Python process that forks instances on request.

Started once per platform (``python -m constellation._runtime.zygote CTRL EVENTS``)
with the worker runtime already imported, so a new instance costs one ``fork`` instead
of a Python start-up. A zygote can also fork a *function zygote*: a child that imports
one function's module first, so that function's instances start with it loaded
(cold-start optimisation). Every zygote reaps its children and reports each exit as a
datagram ``{"pid", "status"}`` on the shared events socket, which tells the platform
why an instance died (a signal such as SIGSEGV, or an ``os._exit`` code).

A zygote exits when its control socket reaches EOF, i.e. when the platform (or the
parent zygote's owner) is gone. It never runs threads, so forking it is safe.
"""

from __future__ import annotations

import gc
import os
import selectors
import signal
import socket
import sys
import time
from typing import Any, NoReturn

import orjson

from .worker import load_handler, prepare_process, run_worker

__all__ = ["main"]


class _Zygote:
    def __init__(self, ctrl: socket.socket, events: socket.socket) -> None:
        self.ctrl = ctrl
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

    def serve(self) -> NoReturn:
        # Everything loaded so far moves to the permanent generation: the collector in a
        # forked child never walks (and so never copies) the pages it shares with us.
        gc.freeze()
        while True:
            for key, _ in self.selector.select():
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
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            try:
                self.events.send(orjson.dumps({"pid": pid, "status": status}), socket.MSG_DONTWAIT)
            except OSError:
                pass  # the platform is gone or behind; it then falls back to "exited"

    def _handle_control(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.ctrl, 1 << 20, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            os._exit(0)  # the platform closed us
        message: dict[str, Any] = orjson.loads(data)
        op = message["op"]
        if op == "ping":
            self.ctrl.send(b'{"pong":true}')
            return
        pid = os.fork()
        if pid == 0:
            try:
                self._become_child()
                if op == "fork_worker":
                    self.events.close()  # only zygotes report exits
                    run_worker(fds[0], message["spec"])
                else:
                    _run_function_zygote(socket.socket(fileno=fds[0]), self.events, message["spec"])
            finally:
                os._exit(70)
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
    _Zygote(ctrl, events).serve()


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    ctrl = socket.socket(fileno=int(args[0]))
    events = socket.socket(fileno=int(args[1]))
    os.setsid()  # keep terminal signals (Ctrl-C) for the platform, not its instances
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _Zygote(ctrl, events).serve()


if __name__ == "__main__":
    main()
