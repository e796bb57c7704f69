"""What every command shares: the console, a platform for one command, tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..errors import ConstellationError
from ..platform import Constellation

__all__ = ["console", "platform_for_command", "table", "when"]

console = Console()


@contextmanager
def platform_for_command(background: bool = False, **overrides: Any) -> Iterator[Constellation]:
    try:
        with Constellation(background=background, **overrides) as platform:
            yield platform
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("-" if v is None else str(v) for v in row))
    console.print(out)
