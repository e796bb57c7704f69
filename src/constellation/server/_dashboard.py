"""The web dashboard and the API docs pages: ``/``, ``/login``, ``/logout``, ``/docs``,
``/redoc`` and everything under ``/ui/``.

* ``/`` is one HTML page (``static/index.html``); its script draws each view (overview,
  a function, anomalies, forecasts, GPUs, WASM, deployments) from JSON read at
  ``/ui/data/<view>`` and from the management API itself (``/api/v1``, which accepts the
  dashboard's session cookie when the request also carries ``X-Constellation-UI``: a
  header that another site's page cannot send without a CORS preflight this server
  never grants). Live updates come as server-sent events from ``/ui/events``: one
  computation per view and second, shared by every browser watching it.
* The login page takes the API token in a POST form and answers with a session cookie
  (see :mod:`._session`); the token is in no URL, cookie or log. With authentication
  off, every page is open and ``/login`` sends the browser on to ``/``.
* Swagger UI (``/docs``) and ReDoc (``/redoc``) read ``/openapi.json``. Every asset is
  in ``static/`` (npm's uPlot, swagger-ui-dist and redoc, with their licences); nothing
  is fetched from elsewhere at run time, which the Content-Security-Policy enforces.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import NotFoundError, ValidationError
from ._asgi import JSON_OPTIONS, error_body
from ._dashboard_data import DashboardData
from ._session import Sessions, cookie_value

__all__ = ["DASHBOARD_PATHS", "STATIC_DIR", "UI_HEADER", "DashboardApp", "is_dashboard_path"]

STATIC_DIR = Path(__file__).parent / "static"
DASHBOARD_PATHS = frozenset(("/", "/login", "/logout", "/docs", "/redoc"))
UI_PREFIX = "/ui/"
UI_HEADER = b"x-constellation-ui"
LIVE_INTERVAL_S = 1.0
STREAM_LIFETIME_S = 15.0  # then the browser reconnects: a server stopping never waits long
_MAX_LOGIN_BODY = 4096
_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = {
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_VIEWS = ("overview", "function", "anomalies", "forecasts", "gpus", "wasm", "deployments")


def is_dashboard_path(path: str) -> bool:
    return path in DASHBOARD_PATHS or path.startswith(UI_PREFIX)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=JSON_OPTIONS), status, media_type="application/json")


def _page(name: str, status: int = 200, replace: dict[str, str] | None = None) -> Response:
    text = (STATIC_DIR / name).read_text()
    for key, value in (replace or {}).items():
        text = text.replace(key, value)
    return Response(text, status, media_type="text/html; charset=utf-8", headers=_HEADERS)


class _LiveCache:
    """The newest live answer per (view, name), recomputed at most once a second however
    many browsers watch it."""

    def __init__(self, compute: Callable[[str, str], Any]) -> None:
        self._compute = compute
        self._answers: dict[tuple[str, str], tuple[float, bytes]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.computed = 0  # how many times a view was computed (the benchmark reads it)

    async def get(self, view: str, name: str) -> bytes:
        key = (view, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._answers.get(key)
            if found is not None and time.monotonic() - found[0] < LIVE_INTERVAL_S * 0.9:
                return found[1]
            try:
                data = await anyio.to_thread.run_sync(self._compute, view, name)
                body = orjson.dumps(data, option=JSON_OPTIONS)
            except (NotFoundError, ValidationError) as exc:
                body = orjson.dumps(error_body(type(exc).__name__, str(exc)))
            self.computed += 1
            self._answers[key] = (time.monotonic(), body)
            return body


class DashboardApp:
    """The dashboard's ASGI app (Starlette), mounted by :class:`~._app.GatewayApp`."""

    def __init__(self, data: DashboardData, sessions: Sessions) -> None:
        self.data = data
        self.sessions = sessions
        self.live = _LiveCache(self._live_view)
        self.streams = 0  # open event streams (the benchmark reads it)
        self.closing = threading.Event()  # set when the server stops: streams end
        self.app = Starlette(
            routes=[
                Route("/", self.index),
                Route("/ui/", self.index),  # the same page when a trigger has taken /
                Route("/login", self.login_page, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/docs", self.swagger),
                Route("/redoc", self.redoc),
                Route("/ui/data/{view}", self.view),
                Route("/ui/events", self.events),
                Route("/ui/action/restart", self.restart, methods=["POST"]),
                Route("/ui/action/scale", self.scale, methods=["POST"]),
                Mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="static"),
            ],
            exception_handlers={ValidationError: self._on_error, NotFoundError: self._on_error},
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        """End the open event streams (within a second): a stopping server waits for
        every response to finish, and a stream would otherwise run its whole lifetime."""
        self.closing.set()

    # -- sessions ------------------------------------------------------------------
    def session_ok(self, request: Request) -> bool:
        return self.sessions.valid(request.cookies.get("constellation_session"))

    def session_ok_raw(self, cookie_header: bytes | None) -> bool:
        return self.sessions.valid(cookie_value(cookie_header))

    def _need_session(self, request: Request, action: bool = False) -> Response | None:
        if not self.session_ok(request):
            return _json(error_body("Unauthorized", "log in at /login"), 401)
        if action and UI_HEADER.decode() not in request.headers:
            return _json(error_body("Forbidden", "send the X-Constellation-UI header"), 403)
        return None

    # -- pages ---------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        if not self.session_ok(request):
            return RedirectResponse("/login", 303)
        return _page("index.html")

    async def login_page(self, request: Request) -> Response:
        if not self.sessions.required or self.session_ok(request):
            return RedirectResponse("/", 303)
        return _page("login.html", replace={"{{message}}": ""})

    async def login(self, request: Request) -> Response:
        if not self.sessions.required:
            return RedirectResponse("/", 303)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_LOGIN_BODY:
                return _json(error_body("BodyTooLarge", "the login form is too large"), 413)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        session_id = self.sessions.login((form.get("token") or [""])[0])
        if session_id is None:
            message = '<p class="error" role="alert">That is not the server\'s token.</p>'
            return _page("login.html", 401, {"{{message}}": message})
        response = RedirectResponse("/", 303)
        secure = request.url.scheme == "https"
        response.headers["set-cookie"] = self.sessions.set_cookie(session_id, secure)
        return response

    async def logout(self, request: Request) -> Response:
        self.sessions.logout(request.cookies.get("constellation_session"))
        response = RedirectResponse("/login" if self.sessions.required else "/", 303)
        response.headers["set-cookie"] = self.sessions.clear_cookie()
        return response

    async def swagger(self, request: Request) -> Response:
        return _page("docs.html")

    async def redoc(self, request: Request) -> Response:
        return _page("redoc.html")

    # -- data ----------------------------------------------------------------------
    def _read_view(self, view: str, name: str, period: str) -> Any:
        if view == "overview":
            return self.data.overview()
        if view == "function":
            return self.data.function(name, period)
        if view not in _VIEWS:
            raise NotFoundError("view", view)
        reader: Callable[[], Any] = getattr(self.data, view)
        return reader()

    def _live_view(self, view: str, name: str) -> Any:
        if view == "function":
            return self.data.function_live(name)
        if view == "overview":
            return self.data.overview_live()
        return self._read_view(view, name, "day")

    async def view(self, request: Request) -> Response:
        refused = self._need_session(request)
        if refused is not None:
            return refused
        view, query = request.path_params["view"], request.query_params
        data = await anyio.to_thread.run_sync(
            self._read_view, view, query.get("name", ""), query.get("period", "day")
        )
        return _json(data)

    async def events(self, request: Request) -> Response:
        refused = self._need_session(request)
        if refused is not None:
            return refused
        view, name = (
            request.query_params.get("view", "overview"),
            request.query_params.get("name", ""),
        )
        if view not in _VIEWS:
            return _json(
                error_body("NotFound", f"no view {view!r}; one of {', '.join(_VIEWS)}"), 404
            )
        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return StreamingResponse(
            self._stream(request, view, name), media_type="text/event-stream", headers=headers
        )

    async def _stream(self, request: Request, view: str, name: str) -> AsyncIterator[bytes]:
        self.streams += 1
        try:
            yield b"retry: 500\n\n"
            ends = time.monotonic() + STREAM_LIFETIME_S
            while time.monotonic() < ends and not self.closing.is_set():
                body = await self.live.get(view, name)
                yield b"data: " + body + b"\n\n"
                await asyncio.sleep(LIVE_INTERVAL_S)
                if self.closing.is_set() or await request.is_disconnected():
                    return
        finally:
            self.streams -= 1

    # -- actions -------------------------------------------------------------------
    async def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ValidationError("body", "expected a JSON object") from None
        if not isinstance(data, dict):
            raise ValidationError("body", "expected a JSON object")
        return data

    async def restart(self, request: Request) -> Response:
        refused = self._need_session(request, action=True)
        if refused is not None:
            return refused
        instance_id = (await self._json_body(request)).get("instance_id")
        if not isinstance(instance_id, str) or not instance_id:
            raise ValidationError("instance_id", "expected an instance id (a non-empty string)")
        await anyio.to_thread.run_sync(self.data.restart_instance, instance_id)
        return _json({"restarted": instance_id}, 202)

    async def scale(self, request: Request) -> Response:
        refused = self._need_session(request, action=True)
        if refused is not None:
            return refused
        body = await self._json_body(request)
        name, instances = body.get("deployment"), body.get("instances")
        if not isinstance(name, str) or not name:
            raise ValidationError("deployment", "expected a deployment name")
        if not isinstance(instances, int) or isinstance(instances, bool) or instances < 0:
            raise ValidationError("instances", "expected an integer >= 0")
        return _json(await anyio.to_thread.run_sync(self.data.scale, name, instances))

    async def _on_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ValidationError):
            return _json(error_body("ValidationError", str(exc), field=exc.field), 400)
        return _json(error_body("NotFound", str(exc)), 404)
