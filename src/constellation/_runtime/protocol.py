"""Wire format between the platform and its worker and zygote processes.

Worker channel (``SOCK_STREAM`` socketpair): each message is a 4-byte little-endian
length followed by that many bytes of JSON (orjson). The platform owns one end per
worker and talks to it from the invoking thread, so a warm invocation is one
``sendall`` and one ``recv`` on each side: no thread hand-off on the hot path. Bit 31
of the length word (:data:`QUIET`) asks the receiver to sleep in its next read rather
than poll for it: the sender has no core to spare for polling.

Zygote control channel (``SOCK_SEQPACKET``): one JSON message per packet, with the new
worker's socket passed as ancillary data (``SCM_RIGHTS``). Zygote events
(``SOCK_DGRAM``): one JSON datagram per child exit, shared by every zygote.
"""

from __future__ import annotations

import socket
import struct
from time import perf_counter as _perf
from typing import Any

import orjson

__all__ = ["QUIET", "ChannelClosed", "Receiver", "frame", "send_message", "send_raw"]

_HEADER = struct.Struct("<I")
MAX_MESSAGE = 64 * 1024 * 1024
QUIET = 1 << 31
_SIZE = QUIET - 1


class ChannelClosed(EOFError):
    """The peer closed its end (it exited or was killed)."""


def frame(body: bytes, quiet: bool = False) -> bytes:
    """``body`` (JSON) with its length word, :data:`QUIET` set when asked."""
    return _HEADER.pack(len(body) | QUIET if quiet else len(body)) + body


def encode(message: Any) -> bytes:
    return frame(orjson.dumps(message))


def send_message(sock: socket.socket, message: Any) -> None:
    sock.sendall(encode(message))


def send_raw(sock: socket.socket, body: bytes, quiet: bool = False) -> None:
    sock.sendall(frame(body, quiet))


class Receiver:
    """Reads framed messages from one socket into a reused buffer (no allocation per call)."""

    __slots__ = ("_buf", "_view", "quiet", "sock", "spin_s")

    def __init__(self, sock: socket.socket, size: int = 16384, spin_s: float = 0.0) -> None:
        self.sock = sock
        # Poll this long before sleeping in recv(): an answer that comes within it is read
        # without the wake-up of a sleeping thread (on an idle VM, tens of microseconds).
        self.spin_s = spin_s
        self.quiet = False  # the last message had QUIET set: sleep in the next read
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)

    def _spin_recv(self) -> int:
        sock, view = self.sock, self._view
        deadline = _perf() + self.spin_s
        while True:
            try:
                return sock.recv_into(view, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if _perf() > deadline:
                    return sock.recv_into(view)

    @property
    def view(self) -> memoryview:
        """The buffer, for a caller that reads the first bytes itself (``recv(already=n)``)."""
        return self._view

    def recv(self, already: int | None = None, spin: bool = True) -> Any:
        """Read one message; raises :class:`ChannelClosed` on EOF.

        ``already``: that many bytes were read into :attr:`view` by the caller. ``spin``:
        poll for up to :attr:`spin_s` first, unless the last message was :data:`QUIET`.
        Socket timeouts propagate (``TimeoutError``, or ``BlockingIOError`` when the
        socket is blocking with ``SO_RCVTIMEO`` set).
        """
        sock, view = self.sock, self._view
        if already is not None:
            got = already
        elif spin and self.spin_s > 0.0 and not self.quiet:
            got = self._spin_recv()
        else:
            got = sock.recv_into(view)
        if not got:
            raise ChannelClosed("peer closed the channel")
        while got < 4:
            more = sock.recv_into(view[got:])
            if not more:
                raise ChannelClosed("peer closed the channel mid-message")
            got += more
        (word,) = _HEADER.unpack_from(view)
        size = word & _SIZE
        self.quiet = word != size
        if size > MAX_MESSAGE:
            raise ChannelClosed(f"message of {size} bytes exceeds the {MAX_MESSAGE} byte limit")
        end = 4 + size
        if got >= end:
            return orjson.loads(view[4:end])
        if end > len(self._buf):  # a large message: read it into its own buffer
            big = bytearray(end)
            big[:got] = view[:got]
            view = memoryview(big)
        while got < end:
            more = sock.recv_into(view[got:end])
            if not more:
                raise ChannelClosed("peer closed the channel mid-message")
            got += more
        return orjson.loads(view[4:end])
