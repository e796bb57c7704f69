"""One warm worker process, seen from the platform: a thin wrapper with an idempotent close."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

from .._runtime.protocol import _HEADER, ChannelClosed, Receiver
from ._zygote_client import ExitRegistry, describe_exit

__all__ = ["InstanceDied", "InstanceTimedOut", "WorkerInstance"]

_TIMEVAL = struct.Struct("@ll")


class InstanceTimedOut(Exception):
    """The handler did not answer in time; the worker has been killed."""


class InstanceDied(Exception):
    """The worker process ended during an invocation; the message says how."""


class WorkerInstance:
    """A worker process serving one function, one invocation at a time."""

    node = "local"  # where it runs (a Ray instance gives its node's id)

    __slots__ = (
        "_closed",
        "_exits",
        "_receiver",
        "_sock",
        "_timeout",
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
        self.pid = pid
        self._sock = sock
        self._receiver = Receiver(sock)
        self._exits = exits
        self._closed = False
        self._timeout = -1.0
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
        self._sock.settimeout(timeout)
        try:
            message: dict[str, Any] = Receiver(self._sock, 4096).recv()
            self._sock.settimeout(None)  # blocking from now on: invoke_raw uses SO_RCVTIMEO
        except ChannelClosed:
            message = {"ready": False, "error": self._death("while starting")}
        except TimeoutError:
            self.kill()
            message = {
                "ready": False,
                "error": f"the instance did not start within {timeout:.0f} s",
            }
        self.init_ms = float(message.get("init_ms", 0.0))
        return message

    def invoke_raw(self, body: bytes, timeout: float) -> dict[str, Any]:
        """Send one request (already encoded as JSON) and wait for its reply, at most ``timeout`` seconds."""
        sock = self._sock
        if timeout != self._timeout:
            # A kernel receive timeout on a blocking socket: no poll() or fcntl() per call.
            seconds = int(timeout)
            sock.setsockopt(
                socket.SOL_SOCKET,
                socket.SO_RCVTIMEO,
                _TIMEVAL.pack(seconds, int((timeout - seconds) * 1e6)),
            )
            self._timeout = timeout
        try:
            sock.sendall(_HEADER.pack(len(body)) + body)
            reply: dict[str, Any] = self._receiver.recv()
        except BlockingIOError:  # SO_RCVTIMEO expired
            self.kill()
            raise InstanceTimedOut() from None
        except (ChannelClosed, ConnectionError):
            raise InstanceDied(self._death("during the invocation")) from None
        self.invocations += 1
        return reply

    async def invoke_awaitable(self, body: bytes, timeout: float) -> dict[str, Any]:
        """:meth:`invoke_raw` for an asyncio loop: the loop waits for the reply instead of a
        thread blocking on it."""
        loop = asyncio.get_running_loop()
        sock = self._sock
        try:
            sock.sendall(_HEADER.pack(len(body)) + body)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(timeout):
                    # The first bytes, waited for by the loop; the rest (if the reply is
                    # long) read blocking below, as it is already on its way.
                    got = await loop.sock_recv_into(sock, self._receiver.view)
            finally:
                if not self._closed:
                    sock.setblocking(True)
        except TimeoutError:
            self.kill()
            raise InstanceTimedOut() from None
        except ConnectionError:
            raise InstanceDied(self._death("during the invocation")) from None
        try:
            reply: dict[str, Any] = self._receiver.recv(already=got)
        except (ChannelClosed, ConnectionError):
            raise InstanceDied(self._death("during the invocation")) from None
        self.invocations += 1
        return reply

    def _death(self, when: str) -> str:
        self._closed = True
        self._sock.close()
        self._ended()
        status = self._exits.wait(self.pid, timeout=2.0)
        return f"{describe_exit(status)} {when}"

    def kill(self) -> None:
        """End the process now (SIGKILL) and close the socket."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.close()

    def close(self) -> None:
        """Close the socket; the worker sees EOF and exits. Idempotent."""
        if not self._closed:
            self._closed = True
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
