"""The platform as a server: ``constellation serve``.

Contract:

* One ASGI app (:func:`create_app`) under uvicorn with uvloop and httptools serves, on
  127.0.0.1:8080 by default:

  - the management REST API under ``/api/v1`` (functions, deploy, invoke with
    ``?async=true``, invocations, dead letters and redrive, metrics, billing, logs,
    instances, scaling decisions, triggers, stats, anomalies; routes in ``_api.py``),
    documented at ``/openapi.json`` (written by hand in ``_openapi.py``);
  - ``/healthz`` and Prometheus text at ``/metrics``;
  - every HTTP trigger's route (see :mod:`constellation.server._gateway` for the event
    and response shapes and the error codes).

* ``/api/v1`` needs ``Authorization: Bearer <token>``. The token is made on the first
  start in ``$CONSTELLATION_HOME/server.token`` (mode 0600) and printed once;
  :func:`read_token` (``constellation token``) shows it. Authentication can be turned
  off only on a loopback address (:class:`InsecureBindError` otherwise). HTTP triggers,
  ``/healthz``, ``/metrics`` and ``/openapi.json`` are open.
* :func:`serve` starts the platform (:meth:`Constellation.start`), runs in the
  foreground until SIGINT/SIGTERM and then closes the platform; :class:`ServerThread`
  runs the same app on a thread (``close()`` is idempotent).

The app serves one platform's functions service: the HTTP triggers' gateway
(``_gateway.py``, with the route table ``_routes.py`` and the fast lane ``_lane.py``)
calls ``ServerlessService.invoke_awaitable``. Imports: the base layer and the public
names of :mod:`constellation.serverless`, :mod:`constellation.triggers` and
:mod:`constellation.anomaly` (``constellation.platform`` for types only; ``_api.py``
still imports ``serverless._validation``, the one exception ``tests/test_layering.py``
allows).
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._app import DEFAULT_MAX_HEADER_BYTES, GatewayApp, create_app
from ._auth import check_bind, ensure_token, is_loopback, read_token, token_path
from ._errors import InsecureBindError, ServerError
from ._gateway import DEFAULT_MAX_BODY_BYTES
from ._runner import ServerThread, uvicorn_server

if TYPE_CHECKING:
    from ..platform import Constellation

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HEADER_BYTES",
    "GatewayApp",
    "InsecureBindError",
    "ServerError",
    "ServerThread",
    "check_bind",
    "create_app",
    "ensure_token",
    "is_loopback",
    "read_token",
    "serve",
    "token_path",
]


def serve(
    platform: Constellation,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    auth: bool = True,
    echo: Callable[[str], None] = print,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Start the platform's loops and serve until interrupted; the platform is closed after.

    ``sock``: a socket already bound (and listening) to host:port, as ``constellation
    serve`` makes it, so a taken port is found before anything starts and "serving" is
    printed only once the address is ours."""
    check_bind(host, auth)
    token = None
    if auth:
        token, created = ensure_token(platform.settings.home)
        if created:
            echo(f"API token (shown once; `constellation token` shows it again): {token}")
    else:
        echo("authentication is OFF (--no-auth, loopback only)")
    try:
        platform.start()  # joins the Ray cluster first on the ray backend
    except BaseException:
        platform.close()
        raise
    app = create_app(platform.serverless, token=token, platform=platform)
    if sock is not None:
        port = sock.getsockname()[1]
    echo(f"Constellation serving on http://{host}:{port} (home: {platform.settings.home})")
    echo(f"instances run on: {platform.settings.backend}")
    # uvicorn re-raises the signal that stopped it once it has shut down; with these
    # handlers in place that is harmless, so the platform is closed (ledger flushed,
    # instances stopped) and the process exits 0.
    previous = _quiet_signals()
    try:
        uvicorn_server(app, host, port, log_level).run(sockets=[sock] if sock is not None else None)
    finally:
        platform.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _quiet_signals() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
