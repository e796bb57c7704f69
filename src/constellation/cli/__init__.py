"""The ``constellation`` command line: the top-level group, ``run``, ``serve`` and ``token``;
``functions`` (with its reports, ``_reports.py``) and ``instances`` are in their own modules, each capability's group in its
``<pkg>/_cli.py`` (mounted on first use).

Without ``--server`` the commands work on this machine's state (SQLite under
``$CONSTELLATION_HOME``): they run no background loops of their own, and reach a running
platform through its control tables where they need it (``instances list|restart``).
With ``--server URL --token T`` (or ``CONSTELLATION_URL`` / ``CONSTELLATION_TOKEN``) the
same commands go through that server's REST API (see :mod:`._client`).

:func:`progress_bar` is the progress helper for long commands (stderr, terminals only).
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import click

from ..config import BACKENDS
from ..errors import ConstellationError
from ..platform import Constellation
from ._anomalies import EXTRA_ANOMALY_COMMANDS
from ._common import Target, platform_for_command
from ._functions import functions
from ._instances import instances
from ._progress import progress_bar
from ._reports import REPORT_COMMANDS

__all__ = ["main", "progress_bar"]

# Commands that act on this machine only: refused with --server (run, serve and token
# refuse only an explicit --server, so a shell that exports CONSTELLATION_URL can still
# start a server).
_LOCAL_ONLY = {"gpu": "GPU discovery and allocation", "triggers": "the local queues and events"}
_STARTS_HERE = {"run", "serve", "token"}


class _LazyGroup(click.Group):
    """Mounts each capability's command group on first use, so ``constellation functions
    ...`` does not import numpy, wasmtime and the rest."""

    LAZY = {
        "anomaly": "constellation.anomaly._cli",
        "doctor": "constellation.cli._doctor",
        "secrets": "constellation.cli._secrets",
        "gpu": "constellation.gpu._cli",
        "predictive": "constellation.predictive._cli",
        "simulate": "constellation.predictive._simulate_cli",
        "triggers": "constellation.triggers._cli",
        "wasm": "constellation.wasm._cli",
    }
    # Commands of the CLI's own added to a capability's group (they use the client).
    EXTRA = {"anomaly": EXTRA_ANOMALY_COMMANDS}

    # Shortcuts to a capability's subcommand: ``constellation predict FILE.csv``.
    ALIASES = {"predict": ("predictive", "forecast")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY, *self.ALIASES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.ALIASES and cmd_name not in self.commands:
            group_name, sub = self.ALIASES[cmd_name]
            group = self.get_command(ctx, group_name)
            if isinstance(group, click.Group) and sub in group.commands:
                self.add_command(group.commands[sub], cmd_name)
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module = importlib.import_module(self.LAZY[cmd_name])
            for command in self.EXTRA.get(cmd_name, []):
                module.cli.add_command(command)
            self.add_command(module.cli, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="constellation")
@click.option(
    "--server",
    envvar="CONSTELLATION_URL",
    metavar="URL",
    help="Drive the platform served at URL (its REST API) instead of the local store "
    "[env: CONSTELLATION_URL].",
)
@click.option(
    "--token",
    envvar="CONSTELLATION_TOKEN",
    metavar="TOKEN",
    help="The server's API token (`constellation token` on it) [env: CONSTELLATION_TOKEN].",
)
@click.pass_context
def main(ctx: click.Context, server: str | None, token: str | None) -> None:
    """Constellation: serverless functions, WASM, GPUs, predictive scaling, anomaly detection."""
    command = ctx.invoked_subcommand
    explicit = ctx.get_parameter_source("server") == click.core.ParameterSource.COMMANDLINE
    if command in _STARTS_HERE:
        if explicit:
            raise click.UsageError(f"`{command}` runs on this machine: drop --server")
        server = None
    elif server and command in _LOCAL_ONLY:
        raise click.UsageError(
            f"`{command}` ({_LOCAL_ONLY[command]}) works on this machine only: drop --server "
            "/ unset CONSTELLATION_URL"
        )
    ctx.obj = Target(server or None, token)


def _backend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--address",
        default=None,
        help="With --backend ray: the cluster to join ('auto', HOST:PORT or "
        "ray://HOST:10001); without it a local Ray is started.",
    )(command)
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=None,
        help="Where instances run: local processes or Ray actors (default: the "
        "'backend' setting, local).",
    )(command)


def _backend_overrides(backend: str | None, address: str | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if backend is not None:
        overrides["backend"] = backend
    if address is not None:
        if (backend or os.environ.get("CONSTELLATION_BACKEND", "local")) != "ray":
            raise click.BadParameter("is only used with --backend ray", param_hint="--address")
        overrides["ray_address"] = address
    return overrides


@main.command()
@_backend_options
def run(backend: str | None, address: str | None) -> None:
    """Run the platform in the foreground until Ctrl-C (embedded defaults)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with platform_for_command(background=True, **_backend_overrides(backend, address)) as platform:
        platform.start()
        stats = platform.serverless.get_serverless_stats()
        click.echo(f"Constellation running (home: {platform.settings.home})")
        click.echo(
            f"  functions: {stats.functions}, deployments: {len(platform.deployments.list_deployments())}"
        )
        click.echo(f"  instances run on: {platform.settings.backend}")
        click.echo("  async invocations are dispatched here; Ctrl-C stops the platform")
        stop.wait()
        click.echo("stopping: flushing the ledger and ending every instance")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one line saying the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's backlog; connections wait here until it serves
    except OSError as exc:
        sock.close()
        if exc.errno == 98 or "in use" in str(exc).lower():  # EADDRINUSE
            raise click.ClickException(
                f"{host}:{port} is taken (another server is on it): try --port {port + 1}, "
                "or --port 0 for any free port"
            ) from None
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0: any free."
)
@click.option(
    "--no-auth", is_flag=True, help="No bearer token on /api/v1 (loopback addresses only)."
)
@_backend_options
def serve(host: str, port: int, no_auth: bool, backend: str | None, address: str | None) -> None:
    """Run the platform as a server: REST API, HTTP triggers, timers, /metrics."""
    from ..server import check_bind
    from ..server import serve as run_server

    overrides = _backend_overrides(backend, address)
    try:
        check_bind(host, not no_auth)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    sock = bind(host, port)  # first: a taken port stops here, before anything starts
    try:
        platform = Constellation(background=True, **overrides)
        run_server(platform, host, port, auth=not no_auth, echo=click.echo, sock=sock)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        sock.close()


@main.command()
def token() -> None:
    """Print the server's API token (made now if the server never started)."""
    from ..config import load_settings
    from ..server import ensure_token

    try:
        home = load_settings().home
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    value, _ = ensure_token(home)
    click.echo(value)


for _command in REPORT_COMMANDS:
    functions.add_command(_command)
main.add_command(functions)
main.add_command(instances)
