"""One warm worker process, seen from the platform: a thin wrapper with an idempotent close."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..._runtime.protocol import ChannelClosed, Receiver, frame
from .._errors import InstanceDied, InstanceTimedOut
from ._zygote_client import ExitRegistry, describe_exit, sender_pid_into

__all__ = ["SpinGate", "WorkerInstance"]

_TIMEVAL = struct.Struct("@ll")


class SpinGate:
    """Whether a call may poll instead of sleeping, for the calls of one process.

    Polling for a reply (and, in the worker, for its next request) saves the wake-up of a
    sleeping process, but only when a core is free to poll on: with more calls in flight
    than cores to spare, pollers take the CPU from the processes they wait for (on two
    cores, four polling workers cost the HTTP gateway a sixth of its throughput). Past
    ``slots`` calls in flight, callers sleep, and ask their worker to (the ``QUIET`` bit
    of ``_runtime.protocol``).
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.in_flight = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """One more call in flight; True when it may poll."""
        with self._lock:
            self.in_flight += 1
            return self.in_flight <= self.slots

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


# One core is the caller's; the rest may poll.
SPIN_GATE = SpinGate(max(1, len(os.sched_getaffinity(0)) - 1))


class WorkerInstance:
    """A worker process serving one function, one invocation at a time.

    Called from a thread (:meth:`invoke_raw`), it blocks on the worker's socket. Called
    from an event loop (:meth:`invoke_awaitable`), the socket stays registered with that
    loop between calls, so a call costs the loop no registration of its own; the
    registration ends when a thread's call wakes it (the thread reads its own reply) and
    before the socket is closed, on the loop's own thread.
    """

    node = "local"  # where it runs (a Ray instance gives its node's id)

    __slots__ = (
        "_closed",
        "_exit_pid",
        "_exits",
        "_loop",
        "_receiver",
        "_sock",
        "_timeout",
        "_waiter",
        "created_at",
        "function_id",
        "generation",
        "id",
        "idle_since",
        "init_ms",
        "invocations",
        "on_close",
        "pid",
    )

    def __init__(
        self,
        instance_id: str,
        function_id: str,
        generation: int,
        pid: int,
        sock: socket.socket,
        exits: ExitRegistry,
        now: float,
    ) -> None:
        self.id = instance_id
        self.function_id = function_id
        self.generation = generation
        self.pid = pid  # as the zygote saw it; wait_ready makes it this process's view
        self._exit_pid = pid  # the number the zygote reports its exit under
        self._sock = sock
        self._receiver = Receiver(sock)
        self._exits = exits
        self._closed = False
        self._timeout = -1.0
        # The loop the socket is registered with, and the reply it waits for there.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[int] | None = None
        self.created_at = now
        self.idle_since = now
        self.init_ms = 0.0
        self.invocations = 0
        self.on_close: Callable[[], None] | None = None  # e.g. give its GPUs back

    @staticmethod
    def new_id() -> str:
        return "fi-" + uuid.uuid4().hex[:12]

    @property
    def spin_s(self) -> float:
        """How long :meth:`invoke_raw` polls for the reply before it sleeps."""
        return self._receiver.spin_s

    @spin_s.setter
    def spin_s(self, seconds: float) -> None:
        self._receiver.spin_s = seconds

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """The worker's first message: ``{"ready": true, "init_ms"}`` or an error."""
        if self._sock.gettimeout() is not None:  # socket.setdefaulttimeout() was called
            self._sock.settimeout(None)  # blocking: reads time out by SO_RCVTIMEO
        self._receive_timeout(timeout)
        try:
            message: dict[str, Any] = self._first_message()
        except ChannelClosed:
            message = {"ready": False, "error": self._death("while starting")}
        except BlockingIOError:  # SO_RCVTIMEO expired
            self.kill()
            message = {
                "ready": False,
                "error": f"the instance did not start within {timeout:.0f} s",
            }
        self.init_ms = float(message.get("init_ms", 0.0))
        return message

    def _first_message(self) -> Any:
        """Read the worker's first message. If the zygote handle asked for credentials,
        the pid the kernel attached to it is the worker's as this process sees it (in a
        sandbox's pid namespace the zygote's number differs)."""
        sock = self._sock
        receiver = Receiver(sock, 4096)
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED):
            return receiver.recv()
        got, pid = sender_pid_into(sock, receiver.view)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
        if pid is not None:
            self.pid = pid
        return receiver.recv(already=got)

    def _receive_timeout(self, timeout: float) -> None:
        """A kernel receive timeout on the blocking socket: no poll() or fcntl() per read;
        a read past it raises BlockingIOError."""
        seconds = int(timeout)
        micros = max(int((timeout - seconds) * 1e6), 0 if seconds else 1)  # 0 would mean none
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL.pack(seconds, micros))
        self._timeout = timeout

    def invoke_raw(self, body: bytes, timeout: float) -> dict[str, Any]:
        """Send one request (already encoded as JSON) and wait for its reply, at most ``timeout`` seconds."""
        sock = self._sock
        if timeout != self._timeout:
            self._receive_timeout(timeout)
        spin = SPIN_GATE.enter()
        try:
            sock.sendall(frame(body, quiet=not spin))
            reply: dict[str, Any] = self._receiver.recv(spin=spin)
        except BlockingIOError:  # SO_RCVTIMEO expired
            self.kill()
            raise InstanceTimedOut() from None
        except (ChannelClosed, ConnectionError):
            raise InstanceDied(self._death("during the invocation")) from None
        finally:
            SPIN_GATE.leave()
        self.invocations += 1
        return reply

    async def invoke_awaitable(self, body: bytes, timeout: float) -> dict[str, Any]:
        """:meth:`invoke_raw` for an asyncio loop: the loop waits for the reply instead of a
        thread blocking on it."""
        loop = asyncio.get_running_loop()
        if self._loop is None or (self._loop is not loop and self._loop.is_closed()):
            self._loop = loop
            loop.add_reader(self._sock.fileno(), self._on_readable, loop)
            self._sock.setblocking(True)  # libuv made it non-blocking; invoke_raw blocks
        spin = SPIN_GATE.enter()  # here only to tell the worker whether to poll afterwards
        message = frame(body, quiet=not spin)
        try:
            if self._loop is loop:
                waiter = self._waiter = loop.create_future()
                timer = loop.call_later(timeout, _expire, waiter)
                try:
                    self._sock.sendall(message)
                    # The first bytes, read by _on_readable; the rest (if the reply is
                    # long) read blocking below, as it is already on its way.
                    got = await waiter
                finally:
                    timer.cancel()
                    self._waiter = None
            else:
                # Still registered with another loop, which alone may undo that (it does
                # when this call's reply wakes it): this call waits the one-off way.
                got = await self._recv_once(loop, message, timeout)
        except TimeoutError:
            self.kill()
            raise InstanceTimedOut() from None
        except ConnectionError:
            raise InstanceDied(self._death("during the invocation")) from None
        finally:
            SPIN_GATE.leave()
        return self._reply(got)

    async def _recv_once(
        self, loop: asyncio.AbstractEventLoop, message: bytes, timeout: float
    ) -> int:
        sock = self._sock
        sock.sendall(message)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                return await loop.sock_recv_into(sock, self._receiver.view)
        finally:
            if not self._closed:
                sock.setblocking(True)

    def _reply(self, got: int) -> dict[str, Any]:
        try:
            reply: dict[str, Any] = self._receiver.recv(already=got)
        except (ChannelClosed, ConnectionError):
            raise InstanceDied(self._death("during the invocation")) from None
        self.invocations += 1
        return reply

    def _on_readable(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the registered loop's thread: the worker wrote to the socket."""
        waiter = self._waiter
        if waiter is None or waiter.done() or self._loop is not loop:
            # Not a reply this loop waits for: a thread's call (which reads its own reply),
            # one that timed out, or one waited for elsewhere. Stop watching; the next call
            # from this loop registers again.
            self._unregister(loop)
            return
        try:
            got = self._sock.recv_into(self._receiver.view, 0, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError as exc:
            waiter.set_exception(exc)
            return
        waiter.set_result(got)

    def _unregister(self, loop: asyncio.AbstractEventLoop) -> None:
        """End the socket's registration with ``loop`` (on that loop's thread, or while it
        is not running); a closed instance's socket is closed once nothing watches it."""
        if self._loop is loop:
            if not loop.is_closed():
                loop.remove_reader(self._sock.fileno())
            self._loop = None  # after the removal: close() may then close the socket itself
        if self._closed:
            self._sock.close()

    def _death(self, when: str) -> str:
        self.close()
        status = self._exits.wait(self._exit_pid, timeout=2.0)
        return f"{describe_exit(status)} {when}"

    def kill(self) -> None:
        """End the process now (SIGKILL) and close the socket."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.close()

    def close(self) -> None:
        """Close the socket; the worker sees EOF and exits. Idempotent.

        A socket registered with an event loop is closed only after the loop stops
        watching it (a closed descriptor's number is soon reused, and a loop would go on
        watching the new one): on that loop's thread, or here when the loop is idle."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            self._sock.close()
        elif loop is asyncio._get_running_loop() or not loop.is_running():
            self._unregister(loop)
        else:
            try:
                loop.call_soon_threadsafe(self._unregister, loop)
            except RuntimeError:  # it closed meanwhile
                self._sock.close()
        self._ended()

    def _ended(self) -> None:
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_seconds(self, now: float) -> float:
        return max(0.0, now - self.idle_since)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<WorkerInstance {self.id} pid={self.pid} {state} at {time.ctime(self.created_at)}>"


def _expire(waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
