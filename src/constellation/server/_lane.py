"""The trigger lane: HTTP trigger requests answered past uvicorn's ASGI cycle.

An HTTP trigger request needs none of what the ASGI cycle builds for it: a
``RequestResponseCycle`` with its event and receive/send coroutines, the proxy-headers
middleware, an ASGI message per part of the response, uvicorn's header checks. On two
cores that cycle cost about a fifth of the gateway's throughput. :func:`lane_protocol`
makes a subclass of uvicorn's httptools protocol that, once a request's headers are in,
hands a trigger request to a :class:`_LaneCycle`: it reads the body, asks
:meth:`HttpTriggerGateway.respond` (the same code the ASGI path runs) and writes the
response in one ``write``. Everything else (``/api/v1``, ``/healthz``, ``/metrics``,
``/openapi.json``, upgrades, ``Expect: 100-continue``) goes to the ASGI app as before.

The cycle has the attributes uvicorn's protocol touches on ``self.cycle`` (``body``,
``more_body``, ``message_event``, ``response_complete``, ``disconnected``,
``keep_alive``), so uvicorn's own body, disconnect, pipelining, keep-alive and shutdown
handling drive it unchanged. That is uvicorn's internal interface, checked against the
uvicorn release pinned in pyproject.toml by the server tests, which all run through it.
"""

from __future__ import annotations

import asyncio
import http
import logging
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._asgi import BodyTooLarge, check_declared_length
from ._gateway import Response

if TYPE_CHECKING:
    from ._app import GatewayApp

__all__ = ["lane_protocol"]

log = logging.getLogger("constellation.server")

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in http.HTTPStatus}
_INTERNAL_ERROR = (
    500,
    b"Internal Server Error",
    [(b"content-type", b"text/plain; charset=utf-8")],
)


class _Signal:
    """The part of ``asyncio.Event`` uvicorn's protocol uses (``set``), made cheap: most
    trigger requests have their whole body by the time the cycle runs, and never wait."""

    __slots__ = ("_waiter", "is_set")

    def __init__(self) -> None:
        self.is_set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self.is_set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        if not self.is_set:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def clear(self) -> None:
        self.is_set = False


class _LaneCycle:
    """One trigger request on a connection, from its headers to its response."""

    __slots__ = (
        "app",
        "body",
        "disconnected",
        "flow",
        "keep_alive",
        "message_event",
        "more_body",
        "on_response",
        "response_complete",
        "scope",
        "transport",
    )

    def __init__(
        self,
        app: GatewayApp,
        scope: dict[str, Any],
        transport: asyncio.Transport,
        flow: FlowControl,
        keep_alive: bool,
        on_response: Callable[[], None],
    ) -> None:
        self.app = app
        self.scope = scope
        self.transport = transport
        self.flow = flow
        self.keep_alive = keep_alive
        self.on_response = on_response
        self.body = b""
        self.more_body = True
        self.message_event = _Signal()
        self.response_complete = False
        self.disconnected = False

    async def run(self) -> None:
        try:
            response = await self._respond()
        except Exception:
            log.exception("the HTTP trigger lane failed on %s", self.scope["path"])
            response = _INTERNAL_ERROR
        if not self.disconnected:
            await self._write(*response)

    async def _respond(self) -> Response:
        too_large = self.app.headers_too_large(self.scope["headers"])
        if too_large is not None:
            return too_large
        return await self.app.gateway.respond(self.scope, self._read_body)

    async def _read_body(self) -> bytes:
        limit = self.app.gateway.max_body_bytes
        check_declared_length(self.scope, limit)
        while self.more_body and not self.disconnected:
            if len(self.body) > limit:
                raise BodyTooLarge()
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if len(self.body) > limit:
            raise BodyTooLarge()
        return self.body

    async def _write(self, status: int, data: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        if self.flow.write_paused:
            await self.flow.drain()
            if self.disconnected:
                return
        parts = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode()]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        parts += (b"content-length: ", str(len(data)).encode(), b"\r\n")
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if self.scope["method"] != "HEAD":
            parts.append(data)
        self.transport.write(b"".join(parts))
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


def lane_protocol(app: GatewayApp) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, with HTTP trigger requests taken by the lane."""

    class TriggerLaneProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            parser = self.parser
            if self.expect_100_continue or parser.should_upgrade():
                super().on_headers_complete()
                return
            url = httptools.parse_url(self.url)
            path = url.path.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
            path = self.root_path + path
            if not app.is_trigger_path(path):
                super().on_headers_complete()
                return
            http_version = parser.get_http_version()
            scope = self.scope
            scope["method"] = parser.get_method().decode("ascii")
            scope["path"] = path
            scope["query_string"] = url.query or b""
            cycle = _LaneCycle(
                app,
                scope,  # type: ignore[arg-type]
                self.transport,
                self.flow,
                http_version != "1.0" and parser.should_keep_alive(),
                self.on_response_complete,
            )
            existing = self.cycle
            self.cycle = cycle  # type: ignore[assignment]
            if existing is None or existing.response_complete:
                self._start_asgi_task(cycle, None)
            else:  # pipelined behind a response still being written
                self.flow.pause_reading()
                self.pipeline.appendleft((cycle, None))  # type: ignore[arg-type]

        def _start_asgi_task(self, cycle: Any, asgi_app: Any) -> None:
            if not isinstance(cycle, _LaneCycle):
                super()._start_asgi_task(cycle, asgi_app)
                return
            task = self.loop.create_task(cycle.run())
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    return TriggerLaneProtocol
