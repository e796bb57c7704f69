"""Running the app under uvicorn (uvloop + httptools): in the foreground for
``constellation serve``, or on a background thread (:class:`ServerThread`) for tests,
benchmarks and embedding."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from ._app import GatewayApp
from ._errors import ServerError
from ._lane import lane_protocol

__all__ = ["ServerThread", "uvicorn_config", "uvicorn_server"]


def uvicorn_config(app: Any, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    """uvloop and httptools; for a :class:`GatewayApp`, with HTTP triggers on the lane."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=lane_protocol(app) if isinstance(app, GatewayApp) else "httptools",
        ws="none",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=30,
    )


class _Server(uvicorn.Server):
    """uvicorn's server that tells the app when it starts to stop (the dashboard's event
    streams end then, so the shutdown does not wait for them)."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        _close_app(self.config.app)
        super().handle_exit(sig, frame)


def _close_app(app: Any) -> None:
    if isinstance(app, GatewayApp):
        app.close()


def uvicorn_server(app: Any, host: str, port: int, log_level: str = "warning") -> uvicorn.Server:
    """The uvicorn server for ``app`` (see :func:`uvicorn_config`)."""
    return _Server(uvicorn_config(app, host, port, log_level))


class ServerThread:
    """uvicorn serving ``app`` on a thread; ``port=0`` picks a free port. ``close()`` is
    idempotent; also a context manager."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ServerError(f"cannot listen on {host}:{port}: {exc}") from None
        self.host, self.port = host, self._sock.getsockname()[1]
        self._server = uvicorn_server(app, host, self.port)
        self._thread = threading.Thread(target=self._run, name="http-server", daemon=True)
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerError(f"the server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _close_app(self.app)
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
