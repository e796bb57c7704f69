"""The ``constellation`` command line: the top-level group, ``run``, ``serve`` and ``token``;
``functions`` and ``instances`` are in their own modules, each capability's group in its
``<pkg>/_cli.py`` (mounted on first use).

``constellation run`` runs the platform in the foreground. The other commands work on
the same state (SQLite under ``$CONSTELLATION_HOME``): they run no background loops of
their own, and reach a running platform through its control tables where they need it
(``instances list|restart``).
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import click

from ..config import BACKENDS
from ..errors import ConstellationError
from ..platform import Constellation
from ._common import console, platform_for_command
from ._functions import functions
from ._instances import instances

__all__ = ["main"]


class _LazyGroup(click.Group):
    """Mounts each capability's command group on first use, so ``constellation functions
    ...`` does not import numpy, wasmtime and the rest."""

    LAZY = {
        "anomaly": "constellation.anomaly._cli",
        "doctor": "constellation.cli._doctor",
        "secrets": "constellation.cli._secrets",
        "gpu": "constellation.gpu._cli",
        "predictive": "constellation.predictive._cli",
        "triggers": "constellation.triggers._cli",
        "wasm": "constellation.wasm._cli",
    }

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
            self.add_command(module.cli, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="constellation")
def main() -> None:
    """Constellation: serverless functions, WASM, GPUs, predictive scaling, anomaly detection."""


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
        console.print(f"Constellation running (home: {platform.settings.home})")
        console.print(
            f"  functions: {stats.functions}, deployments: {len(platform.deployments.list_deployments())}"
        )
        console.print(f"  instances run on: {platform.settings.backend}")
        console.print("  async invocations are dispatched here; Ctrl-C stops the platform")
        stop.wait()
        console.print("stopping: flushing the ledger and ending every instance")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
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
        platform = Constellation(background=True, **overrides)
        run_server(platform, host, port, auth=not no_auth, echo=click.echo)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None


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


main.add_command(functions)
main.add_command(instances)
