"""The server's ASGI application: one dispatcher in front of five parts.

``/api/v1/...`` (bearer token unless auth is off; or a dashboard session, see
``_dashboard.py``) -> the management API (Starlette); ``/healthz``, ``/metrics``,
``/openapi.json`` -> answered here; ``/``, ``/login``, ``/logout``, ``/docs``, ``/redoc``
and ``/ui/...`` -> the dashboard; every other path -> the HTTP triggers' gateway.
Requests whose headers are over ``max_header_bytes`` get 431 before anything else looks
at them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson

from ..serverless import ServerlessService
from ._asgi import Receive, Scope, Send, error_body, header, send_bytes, send_json, send_response
from ._auth import check_bearer
from ._cloudevents import trigger_for_key
from ._dashboard import UI_HEADER, DashboardApp, is_dashboard_path
from ._dashboard_data import DashboardData
from ._gateway import DEFAULT_MAX_BODY_BYTES, HttpTriggerGateway, Response
from ._metrics import CONTENT_TYPE, render_metrics
from ._openapi import openapi_document
from ._operations import DEFAULT_MAX_API_BODY_BYTES, OPERATIONS, PATH_PARAMS, management_app
from ._routes import Match
from ._session import Sessions

if TYPE_CHECKING:
    from ..platform import Constellation

__all__ = ["DEFAULT_MAX_HEADER_BYTES", "GatewayApp", "create_app"]

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
_API = "/api/v1"
_EVENTS = "/api/v1/events"
_log = logging.getLogger("constellation.server")
_SYSTEM_PATHS = frozenset(("/healthz", "/metrics", "/openapi.json"))
_UNAUTHORISED = orjson.dumps(
    error_body("Unauthorized", "send 'Authorization: Bearer <token>' (see `constellation token`)")
)


class GatewayApp:
    """The ASGI callable that ``constellation serve`` runs under uvicorn."""

    def __init__(
        self,
        service: ServerlessService,
        *,
        token: str | None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_api_body_bytes: int = DEFAULT_MAX_API_BODY_BYTES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        platform: Constellation | None = None,
    ) -> None:
        self.service = service
        self.token = token  # None: no authentication (loopback only, checked by the caller)
        self.max_header_bytes = max_header_bytes
        self.api = management_app(service, max_body_bytes=max_api_body_bytes)
        self.api.state.token = token  # an event trigger's key is derived from it
        self.gateway = HttpTriggerGateway(service, max_body_bytes=max_body_bytes)
        self._openapi = orjson.dumps(openapi_document(OPERATIONS, PATH_PARAMS))
        # The dashboard (``/``, ``/login``, ``/docs``, ``/redoc``, ``/ui/...``): the whole
        # platform when given, else only the functions service's views have data.
        self.sessions = Sessions(token)
        self.dashboard = DashboardApp(DashboardData(service, platform), self.sessions)
        self._started = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        sent = ""  # "", "started" or "complete"

        async def tracked(message: Any) -> None:
            nonlocal sent
            await send(message)
            if message["type"] == "http.response.start":
                sent = "started"
            elif not message.get("more_body", False):
                sent = "complete"

        try:
            await self._http(scope, receive, tracked)
        except Exception:
            if sent == "started":
                raise  # half a response is out: only closing the connection ends it
            # A bug is answered with a whole 500 (Starlette's own, or ours) and goes no
            # further, so uvicorn keeps the connection open for the next request.
            _log.exception("unhandled error for %s %s", scope["method"], scope["path"])
            if not sent:
                body = error_body("InternalError", "an internal error occurred")
                await send_json(send, 500, body)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = self.headers_too_large(scope["headers"])
        if too_large is not None:
            await send_response(send, *too_large)
            return
        path: str = scope["path"]
        if self.is_trigger_path(path):
            await self.gateway(scope, receive, send)
            return
        if is_dashboard_path(path):
            await self.dashboard(scope, receive, send)
            return
        if _is_api_path(path):
            bearer = (header(scope, b"authorization") or b"").decode("latin-1")
            if (
                self.token is not None
                and not check_bearer(bearer, self.token)
                and not self._dashboard_session(scope)
            ):
                trigger_id = self._event_key(path, scope["method"], bearer)
                if trigger_id is not None:  # an event trigger's key: POST /events only
                    scope.setdefault("state", {})["event_trigger"] = trigger_id
                    await self.api(scope, receive, send)
                    return
                challenge = [(b"www-authenticate", b"Bearer")]
                await send_bytes(send, 401, _UNAUTHORISED, headers=challenge)
                return
            await self.api(scope, receive, send)
            return
        await self._system(scope, send, path)

    def is_trigger_path(self, path: str) -> bool:
        """Whether ``path`` is for the HTTP triggers (not the API, the system paths or the
        dashboard's; ``/`` is the dashboard's unless a trigger's route is ``/``)."""
        if path in _SYSTEM_PATHS or _is_api_path(path):
            return False
        if path == "/":
            return isinstance(self.gateway.routes().resolve("GET", "/"), Match)
        return not is_dashboard_path(path)

    def close(self) -> None:
        """The server is stopping: end the dashboard's event streams. Idempotent."""
        self.dashboard.close()

    def _dashboard_session(self, scope: Scope) -> bool:
        """A dashboard page calling the API: its session cookie and the UI header (which
        a page of another site cannot send without a CORS preflight)."""
        return header(scope, UI_HEADER) is not None and self.dashboard.session_ok_raw(
            header(scope, b"cookie")
        )

    def _event_key(self, path: str, method: str, bearer: str) -> str | None:
        """The trigger an event trigger's key in ``bearer`` is for (POST /api/v1/events)."""
        if path != _EVENTS or method != "POST" or self.token is None:
            return None
        scheme, _, key = bearer.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return trigger_for_key(self.token, key.strip())

    def headers_too_large(self, headers: list[tuple[bytes, bytes]]) -> Response | None:
        """The 431 response when the request headers are over ``max_header_bytes``."""
        if sum(len(k) + len(v) for k, v in headers) <= self.max_header_bytes:
            return None
        message = f"the request headers are over {self.max_header_bytes} bytes"
        data = orjson.dumps(error_body("HeadersTooLarge", message))
        return 431, data, [(b"content-type", b"application/json")]

    async def _system(self, scope: Scope, send: Send, path: str) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            allow = [(b"allow", b"GET, HEAD")]
            await send_json(send, 405, error_body("MethodNotAllowed", "allowed: GET, HEAD"), allow)
            return
        if path == "/healthz":
            body = {"status": "ok", "uptime_s": round(time.monotonic() - self._started, 3)}
            await send_json(send, 200, body)
        elif path == "/openapi.json":
            await send_bytes(send, 200, self._openapi)
        else:
            text = await anyio.to_thread.run_sync(
                render_metrics, self.service, dict(self.gateway.requests)
            )
            await send_bytes(send, 200, text.encode(), CONTENT_TYPE.encode())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def _is_api_path(path: str) -> bool:
    return path.startswith(_API) and (len(path) == len(_API) or path[len(_API)] == "/")


def create_app(service: ServerlessService, *, token: str | None, **options: Any) -> GatewayApp:
    """The ASGI app for ``service``; ``token=None`` turns authentication off. Pass
    ``platform=`` (the :class:`~constellation.platform.Constellation` that owns
    ``service``) for the dashboard's deployment, GPU, anomaly and forecast views."""
    return GatewayApp(service, token=token, **options)
