"""Wire format between the platform and its worker and zygote processes.

Worker channel (``SOCK_STREAM`` socketpair): each message is a 4-byte little-endian
length followed by that many bytes of JSON (orjson). The platform owns one end per
worker and talks to it from the invoking thread, so a warm invocation is one
``sendall`` and one ``recv`` on each side: no thread hand-off on the hot path.

Zygote control channel (``SOCK_SEQPACKET``): one JSON message per packet, with the new
worker's socket passed as ancillary data (``SCM_RIGHTS``). Zygote events
(``SOCK_DGRAM``): one JSON datagram per child exit, shared by every zygote.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import orjson

__all__ = ["ChannelClosed", "recv_message", "send_message"]

_HEADER = struct.Struct("<I")
MAX_MESSAGE = 64 * 1024 * 1024


class ChannelClosed(EOFError):
    """The peer closed its end (it exited or was killed)."""


def encode(message: Any) -> bytes:
    body = orjson.dumps(message)
    return _HEADER.pack(len(body)) + body


def send_message(sock: socket.socket, message: Any) -> None:
    sock.sendall(encode(message))


def send_raw(sock: socket.socket, body: bytes) -> None:
    sock.sendall(_HEADER.pack(len(body)) + body)


def recv_message(sock: socket.socket) -> Any:
    """Read one message; raises :class:`ChannelClosed` on EOF, socket.timeout on timeout."""
    chunk = sock.recv(65536)
    if not chunk:
        raise ChannelClosed("peer closed the channel")
    while len(chunk) < 4:
        more = sock.recv(65536)
        if not more:
            raise ChannelClosed("peer closed the channel mid-message")
        chunk += more
    (size,) = _HEADER.unpack_from(chunk)
    if size > MAX_MESSAGE:
        raise ChannelClosed(f"message of {size} bytes exceeds the {MAX_MESSAGE} byte limit")
    end = 4 + size
    if len(chunk) >= end:
        return orjson.loads(memoryview(chunk)[4:end])
    buf = bytearray(chunk)
    while len(buf) < end:
        more = sock.recv(min(end - len(buf), 1 << 20))
        if not more:
            raise ChannelClosed("peer closed the channel mid-message")
        buf += more
    return orjson.loads(memoryview(buf)[4:end])
