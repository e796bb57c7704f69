"""What every command shares: where it acts (this machine or a server), the console,
and the one-line error for whatever goes wrong."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from click.shell_completion import CompletionItem
from rich.console import Console

from ..config import load_settings
from ..errors import ConstellationError
from ..platform import Constellation
from ._client import Client, LocalClient

__all__ = [
    "Target",
    "client_for_command",
    "complete_function_names",
    "console",
    "open_client",
    "platform_for_command",
    "refuse_remote",
    "when",
]

console = Console()


@dataclass(frozen=True)
class Target:
    """Where commands act: a server's REST API (``server`` set) or the local store."""

    server: str | None = None
    token: str | None = None


def _target(ctx: click.Context) -> Target:
    found = ctx.find_object(Target)
    if found is not None:
        return found
    # during shell completion no callback has run: read the parsed root options
    params = ctx.find_root().params
    return Target(params.get("server"), params.get("token"))


def open_client(target: Target) -> Client:
    if target.server:
        from ._remote import RemoteClient  # httpx is imported only when it is used

        return RemoteClient(target.server, target.token)
    return LocalClient(Constellation())


@contextmanager
def client_for_command() -> Iterator[Client]:
    """The client for this command; any platform error ends it with its one-line message."""
    try:
        client = open_client(_target(click.get_current_context()))
        try:
            yield client
        finally:
            client.close()
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None


def refuse_remote(what: str) -> None:
    """For commands that act on this machine only."""
    if _target(click.get_current_context()).server:
        raise click.UsageError(
            f"{what} works on this machine only (the REST API has no route for it): "
            "drop --server / unset CONSTELLATION_URL"
        )


@contextmanager
def platform_for_command(background: bool = False, **overrides: Any) -> Iterator[Constellation]:
    try:
        with Constellation(background=background, **overrides) as platform:
            yield platform
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None


def complete_function_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion of a function name, from the store or the server in use."""
    try:
        target = _target(ctx)
        if not target.server and not load_settings().db_path.exists():
            return []  # completing a name must not create a platform home
        client = open_client(target)
        try:
            names = [f["name"] for f in client.list_functions()]
        finally:
            client.close()
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"
